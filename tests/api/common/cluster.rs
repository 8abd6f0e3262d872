//! Several `guichet serve` processes on one database, as operators run them:
//! the real binary, each process with a data folder of its own, the keys
//! shared through configuration, mail to one SMTP server, and its logs as
//! JSON lines in a file of its own among the test run's logs, checked for
//! personal data and panics at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use guichet::db::{ConnectionManager, DbConnection};
use mail_parser::MessageParser;
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{SmtpServer, TestDatabase};

/// How long a process may take to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for work the processes do on their own schedule.
pub const WAIT: Duration = Duration::from_secs(90);

pub struct Instance {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

pub struct Cluster {
    pub dir: TempDir,
    pub db: TestDatabase,
    pub instances: Vec<Instance>,
    pub client: reqwest::Client,
    config: PathBuf,
}

fn key() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

impl Cluster {
    /// A fresh database, migrated and with the tenants synchronised by the
    /// binary itself, and the configuration every process will read:
    /// `extra` is appended to it (TOML).
    pub fn prepare(smtp: &SmtpServer, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDatabase::create(dir.path());
        let config = dir.path().join("site.toml");
        let toml = format!(
            r#"
[server]
bind = "127.0.0.1:0"
workers = 1
shutdown_timeout_secs = 1

[database]
url = "{url}"
pool_size = 4

[log]
format = "json"
# actix-server names its listening address at start.
level = "info,actix_server=warn"

[mail.smtp]
host = "127.0.0.1"
port = {smtp}
tls = "none"
timeout_secs = 5

[secrets]
jwt = "{jwt}"
pseudonym = "{pseudonym}"
receipt = "{receipt}"
document = "{document}"
{extra}
"#,
            url = db.url,
            smtp = smtp.port,
            jwt = key(),
            pseudonym = key(),
            receipt = key(),
            document = key(),
        );
        std::fs::write(&config, toml).expect("write the configuration");
        let cluster = Self {
            dir,
            db,
            instances: Vec::new(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            config,
        };
        for args in [&["migrate"][..], &["tenants", "list"]] {
            let out = cluster.cli(args, None);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        }
        cluster
    }

    fn command(&self, data_dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GUICHET__STORAGE__DATA_DIR", data_dir)
            .env("GUICHET__MAIL__TRANSPORT", "smtp")
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    /// Runs an operator command to its end, `stdin` as its input.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let data = self.dir.path().join("cli");
        let mut child = self
            .command(&data)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the guichet binary runs");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            writeln!(input, "{text}").unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        crate::common::log_file("guichet")
            .write_all(&out.stderr)
            .unwrap();
        crate::common::assert_no_panic_in(&stderr(&out));
        out
    }

    /// Starts `n` `guichet serve` processes at once and waits until each
    /// listens and answers `/readyz`.
    pub async fn start(&mut self, n: usize) {
        let mut started = Vec::new();
        for i in 0..n {
            let data = self.dir.path().join(format!("instance-{i}"));
            let log = Self::log_path(i);
            let child = self
                .command(&data)
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("the guichet binary runs");
            started.push((child, log));
        }
        for (mut child, log) in started {
            let deadline = Instant::now() + START_TIMEOUT;
            let port = loop {
                if let Some(port) = listening_port(&read(&log)) {
                    break port;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("an instance stopped ({status}): {}", read(&log));
                }
                assert!(Instant::now() < deadline, "no instance listening");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            self.instances.push(Instance { port, log, child });
            let url = self.url(self.instances.len() - 1, "/readyz");
            loop {
                let ready = self.client.get(&url).send().await;
                if ready.is_ok_and(|r| r.status() == 200) {
                    break;
                }
                assert!(Instant::now() < deadline, "an instance never got ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// A connection of the test's own to the processes' database.
    pub fn connect(&self) -> DbConnection {
        let settings = crate::common::test_settings(self.dir.path(), &self.db);
        ConnectionManager::new(&settings.database)
            .unwrap()
            .open()
            .unwrap()
    }

    /// A log file among the test run's logs, which CI checks once more at
    /// the end.
    fn log_path(i: usize) -> PathBuf {
        crate::common::log_dir().join(format!(
            "instances-{}-serve-{i}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Starts one more `guichet serve` that must refuse to start; returns
    /// what it said.
    pub async fn refused_start(&self) -> String {
        let log = Self::log_path(self.instances.len());
        let mut child = self
            .command(&self.dir.path().join("refused"))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the guichet binary runs");
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("a second instance started: {}", read(&log));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!status.success(), "{}", read(&log));
        read(&log)
    }

    /// `path` on instance `i`, counted round the instances.
    pub fn url(&self, i: usize, path: &str) -> String {
        let port = self.instances[i % self.instances.len()].port;
        format!("http://127.0.0.1:{port}{path}")
    }

    /// What instance `i` logged so far, one JSON object a line.
    pub fn logs(&self, i: usize) -> String {
        read(&self.instances[i].log)
    }

    /// Stops every process as an operator does (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        for instance in &mut self.instances {
            if instance.child.try_wait().ok().flatten().is_some() {
                continue;
            }
            let _ = Command::new("kill")
                .arg(instance.child.id().to_string())
                .status();
        }
        for instance in &mut self.instances {
            let _ = instance.child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            let _ = instance.child.kill();
            let _ = instance.child.wait();
        }
        if !std::thread::panicking() {
            for i in 0..self.instances.len() {
                crate::common::assert_no_personal_data_in(&self.logs(i));
                crate::common::assert_no_panic_in(&self.logs(i));
            }
        }
    }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The port of the service's "listening" line.
fn listening_port(logs: &str) -> Option<u16> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "listening")
        .and_then(|l| l["addr"].as_str()?.rsplit(':').next()?.parse().ok())
}

/// The JSON lines of `logs` whose message is `message`.
pub fn lines_of(logs: &str, message: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == message)
        .collect()
}

/// The body of a response that must have `status`.
pub async fn json_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "{}", res.url().path());
    res.json().await.unwrap()
}

/// Waits for what the processes do on their own; fails after `WAIT`.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    crate::common::wait_until(what, WAIT, || {
        let done = done();
        async move { done }
    })
    .await;
}

/// Every message the SMTP server received, parsed: (Message-ID, To, text).
pub fn received(smtp: &SmtpServer) -> Vec<(String, String, String)> {
    smtp.messages()
        .iter()
        .map(|raw| {
            let msg = MessageParser::default().parse(raw).unwrap();
            let to = msg
                .to()
                .and_then(|a| a.first()?.address().map(str::to_owned))
                .unwrap_or_default();
            let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
            (msg.message_id().unwrap_or_default().to_owned(), to, text)
        })
        .collect()
}

/// The tokens of the tracking links in a letter.
pub fn tracking_tokens(text: &str) -> Vec<String> {
    text.match_indices("/v1/requests/track/")
        .map(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}
