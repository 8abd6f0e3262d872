//! What the fault tests share: ports of their own, the real `guichet`
//! binary as a process (which they may kill), and the check that a
//! database holds no half-written request.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use guichet::db::schema::{mail_outbox, request_documents, request_events, rights_requests};
use guichet::db::{ConnectionManager, DbConnection};

/// The ports the fault tests' own servers may take.
pub const SERVE_PORTS: std::ops::Range<u16> = 18400..18450;
pub const POSTGRES_PORTS: std::ops::Range<u16> = 5440..5450;

pub const PDF_HEAD: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n";
pub const PDF_TAIL: &[u8] = b"\n%%EOF\n";

/// A PDF of about `size` bytes, filled with `fill`.
pub fn pdf(size: usize, fill: u8) -> Vec<u8> {
    let mut bytes = PDF_HEAD.to_vec();
    bytes.resize(
        size.saturating_sub(PDF_TAIL.len()).max(PDF_HEAD.len()),
        fill,
    );
    bytes.extend_from_slice(PDF_TAIL);
    bytes
}

/// What the machine may not allow (mounting, a PostgreSQL installation):
/// the test fails as not run.
pub fn unavailable(what: &str) -> ! {
    crate::common::not_run(what)
}

/// A TCP port of `range` that nothing listens on now and that no other
/// test of this process was given: two services started at once must not
/// both find the same port free (one would then answer for the other).
pub fn free_port(range: std::ops::Range<u16>) -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    let port = range
        .clone()
        .filter(|p| !given.contains(p))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .unwrap_or_else(|| panic!("no free port in {range:?}"));
    given.push(port);
    port
}

/// A `guichet` command on the test's database, in `dir`, logging JSON.
pub fn guichet(dir: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUICHET__DATABASE__URL", url)
        .env("GUICHET__STORAGE__DATA_DIR", dir.join("data"))
        .env("GUICHET__LOG__FORMAT", "json")
        // actix's start-up line names the listening address; the rest of
        // what the service logs is checked.
        .env("RUST_LOG", "info,actix_server=warn")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a `guichet` command to its end; it must succeed.
pub fn guichet_ok(dir: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = guichet(dir, url, args, env).output().unwrap();
    std::io::Write::write_all(&mut crate::common::log_file("guichet"), &out.stderr).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "guichet {args:?}: {err}");
    check_logs(&err);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The harness's checks for personal data and panics, over a process's
/// JSON logs.
pub fn check_logs(logs: &str) {
    crate::common::assert_no_personal_data_in(logs);
    crate::common::assert_no_panic_in(logs);
}

/// `guichet serve` as a process of its own, on a port of the tests' range.
pub struct Serve {
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
}

impl Serve {
    /// Starts the service and waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port(SERVE_PORTS);
        // Among the test run's logs, which CI checks once more at the end.
        let log = crate::common::log_dir().join(format!(
            "faults-{}-serve-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let bind = format!("127.0.0.1:{port}");
        let mut cmd = guichet(dir, url, &["serve"], env);
        cmd.env("GUICHET__SERVER__BIND", &bind)
            .env("GUICHET__SERVER__WORKERS", "2")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut serve = Self {
            child: Some(cmd.spawn().unwrap()),
            port,
            log,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client
                .get(serve.url("/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            let alive = serve.child.as_mut().unwrap().try_wait().unwrap().is_none();
            if ready && alive {
                return serve;
            }
            if let Some(status) = serve.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("guichet serve ended with {status}: {}", serve.logs());
            }
            assert!(
                Instant::now() < deadline,
                "guichet serve not ready: {}",
                serve.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no time to finish anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-9", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let _ = child.wait();
            check_logs(&self.logs());
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if !std::thread::panicking() {
                check_logs(&self.logs());
            }
        }
    }
}

/// A DPO of `tenant` with the harness's password, added by
/// `guichet users add` as an operator does.
pub fn add_staff(dir: &Path, url: &str, tenant: &str, email: &str) {
    use std::io::Write;
    let args = [
        "users",
        "add",
        "--tenant",
        tenant,
        "--email",
        email,
        "--role",
        "dpo",
        "--password-stdin",
    ];
    let mut child = guichet(dir, url, &args, &[])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let password = format!("{}\n", crate::common::PASSWORD);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    crate::common::assert_no_panic_in(&err);
}

/// Signs `email` in with the harness's password; returns the bearer token.
pub async fn sign_in(serve: &Serve, email: &str) -> String {
    let res = reqwest::Client::new()
        .post(serve.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": crate::common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// One connection to the test's database, outside any service.
pub fn connect(url: &str) -> DbConnection {
    let mut settings = guichet::config::Settings::embedded_defaults().unwrap();
    settings.database.url = url.into();
    ConnectionManager::new(&settings.database)
        .unwrap()
        .open()
        .unwrap()
}

/// Every request is whole: its `documents` documents, each with its
/// content (or the time it was purged), its first event and its two
/// e-mails; no document, event or e-mail belongs to no request. Returns
/// the number of requests.
pub fn assert_no_half_request(conn: &mut DbConnection, documents: i64) -> i64 {
    let ids: Vec<String> = rights_requests::table
        .select(rights_requests::id)
        .load(conn)
        .unwrap();
    for id in &ids {
        let docs: Vec<(i64, Option<Vec<u8>>, Option<chrono::NaiveDateTime>)> =
            request_documents::table
                .filter(request_documents::request_id.eq(id))
                .select((
                    request_documents::size,
                    request_documents::ciphertext,
                    request_documents::purged_at,
                ))
                .load(conn)
                .unwrap();
        assert_eq!(
            docs.len() as i64,
            documents,
            "a request without its documents"
        );
        for (size, ciphertext, purged) in docs {
            match ciphertext {
                // AES-GCM adds its 16-byte tag.
                Some(c) => assert_eq!(c.len() as i64, size + 16, "a document cut short"),
                None => assert!(purged.is_some(), "a document row pointing at nothing"),
            }
        }
        let received: i64 = request_events::table
            .filter(request_events::request_id.eq(id))
            .filter(request_events::action.eq("received"))
            .count()
            .get_result(conn)
            .unwrap();
        assert_eq!(received, 1, "a request without its first event");
    }
    let orphans: i64 = request_documents::table
        .left_join(rights_requests::table)
        .filter(rights_requests::id.is_null())
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(orphans, 0, "documents of no request");
    let mails: i64 = mail_outbox::table
        .filter(mail_outbox::template.eq_any(["dpo_new_request", "requester_ack"]))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(
        mails,
        2 * ids.len() as i64,
        "each request queues its two e-mails"
    );
    ids.len() as i64
}
