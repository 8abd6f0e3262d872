//! The outages the fault tests cause for real: a PostgreSQL cluster of
//! their own (which they stop and start), a small tmpfs (which they fill),
//! files made immutable.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use diesel::{Connection, PgConnection};

use super::support::{free_port, POSTGRES_PORTS};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A PostgreSQL cluster in a temp folder, on a port of its own: the tests
/// stop and start it without touching the machine's shared server.
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Creates and starts the cluster; `None` when PostgreSQL's server
    /// programs are not installed.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to postgres.
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let data = dir.path().join("data");
        let cluster = Self {
            port: free_port(POSTGRES_PORTS),
            bin,
            data,
            dir,
        };
        run(cluster.tool("initdb").arg("-D").arg(&cluster.data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        cluster.resume();
        Some(cluster)
    }

    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]));
    }

    /// Stops the server the way an operator restarting it does: running
    /// transactions are rolled back, connections closed.
    pub fn stop(&self) {
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60", "stop"]));
    }

    pub fn create_database(&self, name: &str) {
        let mut conn = PgConnection::establish(&self.url("postgres")).unwrap();
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!("CREATE DATABASE \"{name}\""),
        )
        .unwrap();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A small tmpfs mounted on a temp folder: a disk that fills up for real.
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when this machine does not let the tests mount.
    pub fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { path, _dir: dir })
    }

    /// Fills the volume until the kernel refuses another byte; returns the
    /// file that holds the space.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0xA5u8; 64 * 1024];
        let mut small = false;
        loop {
            let chunk = if small { &block[..512] } else { &block[..] };
            match file.write(chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && !small => small = true,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the volume: {e}"),
            }
        }
        drop(file);
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the service of a failed test may still hold files there.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Files made immutable (`chattr +i`) until dropped: read-only for every
/// user, root too, even through descriptors already open for writing.
pub struct Immutable {
    files: Vec<PathBuf>,
}

impl Immutable {
    /// `None` when the file system or the user cannot set the attribute.
    pub fn set(files: &[PathBuf]) -> Option<Self> {
        let files: Vec<PathBuf> = files.iter().filter(|f| f.exists()).cloned().collect();
        let ok = Command::new("chattr")
            .arg("+i")
            .args(&files)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let guard = Self { files };
        // Checked, not assumed: the attribute must really refuse a write.
        let refused = guard
            .files
            .iter()
            .all(|f| std::fs::OpenOptions::new().append(true).open(f).is_err());
        (ok && refused).then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").args(&self.files).status();
    }
}
