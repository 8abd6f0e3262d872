//! `guichet backup DIR` and `guichet restore DIR`: a consistent copy of
//! everything a database needs to be served again, taken while it serves,
//! and its return into an empty data folder or database.
//!
//! A backup folder holds, each file mode 0600:
//! - on SQLite, `database.sqlite` (the main file) and `consents/<tenant
//!   id>/<month file>` (each consent file), each copied by SQLite's online
//!   backup as one read transaction saw it, while no retention sweep runs
//!   (the sweep lock is held: no file goes, no count moves meanwhile);
//! - on PostgreSQL, `database.dump` (`pg_dump --format=custom`, one
//!   snapshot);
//! - `secrets.toml`, every key in effect (configured or generated);
//! - `manifest.json` (`manifest.rs`), written last: a folder without it is
//!   not a backup.

mod manifest;
mod pg;
mod restore;

use std::path::{Path, PathBuf};

pub use restore::restore;

use self::manifest::Manifest;
use super::{CmdResult, Refused};
use crate::config::{Backend, Settings};
use crate::consent::files::ConsentFiles;
use crate::db::ConnectionManager;
use crate::retention::lock::SweepLock;
use crate::secrets::Secrets;

/// The main SQLite file's name in a backup folder.
const SQLITE_MAIN: &str = "database.sqlite";
/// The folder of the consent files in a backup folder.
const CONSENTS: &str = "consents";
const SECRETS: &str = "secrets.toml";
/// How long a backup waits for a retention sweep in progress to end.
const SWEEP_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    }
}

/// Writes a new file readable by its owner only (0600), durably.
fn private_file(path: &Path, bytes: &[u8]) -> Result<(), Refused> {
    use std::io::Write;
    let fail = |e: std::io::Error| Refused(format!("{}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    set_private(path)
}

/// Mode 0600, whatever made the file.
fn set_private(path: &Path) -> Result<(), Refused> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Refused(format!("{}: {e}", path.display())))
}

/// Creates a folder (and those above it) that only the owner may enter.
fn private_dir(dir: &Path) -> Result<(), Refused> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Refused(format!("{}: {e}", dir.display())))
}

/// The backup folder, made ready: a new one, or an empty one. What a
/// failed backup wrote is removed by `Target::discard`.
struct Target {
    dir: PathBuf,
    created: bool,
}

impl Target {
    fn prepare(dir: &Path) -> Result<Self, Refused> {
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(Refused(format!(
                        "{} is not empty: a backup goes into a new or empty folder",
                        dir.display()
                    )));
                }
                Ok(Self {
                    dir: dir.to_owned(),
                    created: false,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                private_dir(dir)?;
                Ok(Self {
                    dir: dir.to_owned(),
                    created: true,
                })
            }
            Err(e) => Err(Refused(format!("{}: {e}", dir.display()))),
        }
    }

    /// Removes what the backup wrote: the folder if it made it, else its
    /// content.
    fn discard(&self) {
        if self.created {
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}

/// `guichet backup DIR`.
pub fn backup(settings: &Settings, dir: &Path) -> CmdResult {
    let backend = settings.database.backend().map_err(Refused)?;
    let db = &settings.database;
    // The source is checked before anything is written.
    match backend {
        Backend::Sqlite => {
            let main = db.sqlite_path().unwrap_or_default();
            if !Path::new(main).is_file() {
                return Err(Refused(format!("no database at {main}: nothing to back up")).into());
            }
        }
        Backend::Postgres => drop(ConnectionManager::new(db)?.open()?),
    }
    let secrets =
        Secrets::load_existing(&settings.secrets, &settings.storage.data_dir, &settings.env)?;
    let target = Target::prepare(dir)?;
    let taken_at = chrono::Utc::now();
    match write_backup(settings, backend, &secrets, &target.dir, taken_at) {
        Ok(manifest) => {
            let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
            println!(
                "backed up the {} database to {}: {} files, {} bytes, taken at {}",
                manifest.backend,
                dir.display(),
                manifest.files.len(),
                bytes,
                manifest.taken_at
            );
            Ok(())
        }
        Err(e) => {
            target.discard();
            Err(e.into())
        }
    }
}

fn write_backup(
    settings: &Settings,
    backend: Backend,
    secrets: &Secrets,
    dir: &Path,
    taken_at: chrono::DateTime<chrono::Utc>,
) -> Result<Manifest, Refused> {
    let mut paths = match backend {
        Backend::Sqlite => copy_sqlite(settings, dir)?,
        Backend::Postgres => {
            pg::dump(&settings.database, &dir.join(pg::DUMP))?;
            vec![pg::DUMP.to_owned()]
        }
    };
    private_file(
        &dir.join(SECRETS),
        crate::secrets::backup_text(secrets).as_bytes(),
    )?;
    paths.push(SECRETS.to_owned());
    let files = paths
        .iter()
        .map(|p| manifest::measure(dir, p))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = Manifest {
        format: manifest::FORMAT,
        guichet: env!("CARGO_PKG_VERSION").to_owned(),
        backend: backend_name(backend).to_owned(),
        taken_at: taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files,
    };
    manifest.write(dir)?;
    Ok(manifest)
}

/// Copies the main file, then each consent file, under the sweep lock;
/// returns their paths in the backup.
fn copy_sqlite(settings: &Settings, dir: &Path) -> Result<Vec<String>, Refused> {
    let db = &settings.database;
    let timeout = db.sqlite_busy_timeout_ms;
    let _sweep = SweepLock::acquire_within(db, SWEEP_WAIT)
        .map_err(|e| Refused(e.to_string()))?
        .ok_or_else(|| {
            Refused(format!(
                "a retention sweep has held the database for {} minutes: try again once it ends",
                SWEEP_WAIT.as_secs() / 60
            ))
        })?;
    let main = Path::new(db.sqlite_path().unwrap_or_default());
    crate::db::online_backup::copy_database(main, &dir.join(SQLITE_MAIN), timeout)
        .map_err(Refused)?;
    let mut paths = vec![SQLITE_MAIN.to_owned()];
    let Some(files) = ConsentFiles::for_database(db) else {
        return Ok(paths);
    };
    let fail = |e: diesel::result::Error| Refused(e.to_string());
    for tenant in files.tenants().map_err(fail)? {
        for file in files.files(&tenant).map_err(fail)?.iter() {
            let rel = format!("{CONSENTS}/{tenant}/{}", file.name);
            private_dir(&dir.join(CONSENTS).join(&tenant))?;
            // Only a sweep removes a file, and none runs: every file listed
            // is there to copy.
            crate::db::online_backup::copy_database(&file.path, &dir.join(&rel), timeout)
                .map_err(Refused)?;
            paths.push(rel);
        }
    }
    Ok(paths)
}
