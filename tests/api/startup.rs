//! The `guichet` binary as an operator meets it: a fresh folder, layered
//! configuration, clear one-line errors, migrations, several instances.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{test_settings, TestDatabase};
use guichet::app::Application;
use guichet::clock::Clock;

const BIN: &str = env!("CARGO_BIN_EXE_guichet");

fn guichet(cwd: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The database variable for this run: none on SQLite (the embedded
/// default `sqlite://data/guichet.db` is used), the test database on
/// PostgreSQL.
fn db_env(db: &TestDatabase) -> Vec<(&'static str, String)> {
    if db.is_postgres() {
        vec![("GUICHET__DATABASE__URL", db.url.clone())]
    } else {
        vec![]
    }
}

pub(crate) fn run(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    guichet(cwd, env).args(args).output().expect("guichet runs")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(cwd: &Path, env: &[(&str, &str)]) -> (Serving, String) {
    serve_logging_to(cwd, env, Stdio::null()).await
}

/// Starts `guichet serve` on a free port, its log to `stderr`, and waits
/// until it answers.
async fn serve_logging_to(cwd: &Path, env: &[(&str, &str)], stderr: Stdio) -> (Serving, String) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut all: Vec<(&str, &str)> = env.to_vec();
    all.push(("GUICHET__SERVER__BIND", &bind));
    all.push(("GUICHET__SERVER__WORKERS", "1"));
    let child = guichet(cwd, &all)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let serving = Serving(child);
    let base = format!("http://{bind}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = reqwest::get(format!("{base}/healthz")).await {
            if res.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "guichet did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (serving, base)
}

#[tokio::test]
async fn a_fresh_folder_serves_on_embedded_defaults_and_keeps_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let env = db_env(&db);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let (server, base) = serve(dir.path(), &env).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(server);

    let secrets = dir.path().join("data/secrets.toml");
    let first = std::fs::read_to_string(&secrets).expect("secrets generated under data/");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secrets are private");
    }
    if !db.is_postgres() {
        let file = dir.path().join("data/guichet.db");
        assert!(file.is_file(), "SQLite file created at data/guichet.db");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the database is private");
        }
    }

    let (_server, _) = serve(dir.path(), &env).await;
    let again = std::fs::read_to_string(&secrets).unwrap();
    assert_eq!(first, again, "secrets are reused on restart");
}

#[tokio::test]
async fn tenants_list_prints_the_five_demo_authorities() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let env = db_env(&db);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(dir.path(), &env, &["tenants", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let slugs: Vec<&str> = rows.iter().map(|r| r["slug"].as_str().unwrap()).collect();
    assert_eq!(
        slugs,
        ["dunkerque", "guadeloupe", "nimes", "sevres", "valparisis"]
    );
    let sevres = &rows[3];
    assert_eq!(sevres["name"], "Ville de Sèvres");
    assert_eq!(sevres["dpo_email"], "dpo@ville-sevres.fr");
    assert!(sevres["postal_address"]
        .as_str()
        .unwrap()
        .contains("54 Grande Rue"));
    assert_eq!(
        sevres["allowed_origins"],
        serde_json::json!(["https://sevres-seineouest.opendatasoft.com"])
    );
    assert_eq!(rows[0]["dpo_email"], "protection.donnees@cud.fr");
    assert_eq!(rows[1]["dpo_email"], "dpo@cr-guadeloupe.fr");
    assert_eq!(rows[4]["require_id_document"], false);

    let table = run(dir.path(), &env, &["tenants", "list"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.contains("Communauté Urbaine de Dunkerque"));
}

#[tokio::test]
async fn configuration_layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/staging.toml"),
        "[tenants.sevres]\nname = \"from staging.toml\"\n[tenants.nimes]\nname = \"from staging.toml\"\n\
         [tenants.dunkerque]\nname = \"from staging.toml\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("extra.toml"),
        "[tenants.nimes]\nname = \"from --config\"\n[tenants.dunkerque]\nname = \"from --config\"\n",
    )
    .unwrap();
    let mut env = db_env(&db);
    env.push(("GUICHET_ENV", "staging".into()));
    env.push((
        "GUICHET__TENANTS__DUNKERQUE__NAME",
        "from the environment".into(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(
        dir.path(),
        &env,
        &["--config", "extra.toml", "tenants", "list", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: std::collections::BTreeMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| {
            (
                r["slug"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(names["guadeloupe"], "Région Guadeloupe", "embedded default");
    assert_eq!(names["sevres"], "from staging.toml");
    assert_eq!(names["nimes"], "from --config");
    assert_eq!(names["dunkerque"], "from the environment");
}

/// A site's own tenant, as an authority declares it.
const SITE_TENANT: &str = r#"
[tenants.montreuil-test]
name = "Ville de Montreuil-sur-Essai"
dpo_email = "dpo@montreuil-sur-essai.test"
postal_address = "Hôtel de ville, 1 place de la Mairie, 99999 Montreuil-sur-Essai"
allowed_origins = ["https://www.montreuil-sur-essai.test"]

[tenants.montreuil-test.consent]
policy_version = "2026-12"

[[tenants.montreuil-test.consent.purposes]]
id = "essential"
name = "Cookies nécessaires"
description = "Session et consentement."
essential = true
"#;

#[tokio::test]
async fn a_sites_own_tenants_replace_the_demo_and_listing_them_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.toml"), SITE_TENANT).unwrap();
    let out = run(
        dir.path(),
        &[],
        &["--config", "site.toml", "tenants", "list", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "replaced, not merged: {rows:?}");
    assert_eq!(rows[0]["slug"], "montreuil-test");
    assert_eq!(rows[0]["active"], true, "the shape the command always had");
    assert_eq!(
        rows[0]["allowed_origins"],
        serde_json::json!(["https://www.montreuil-sur-essai.test"])
    );
    // Without a site list, the demo; listing it wrote nothing either.
    let out = run(dir.path(), &[], &["tenants", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 5);
    let mut made: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    made.sort();
    assert_eq!(made, ["site.toml"], "no data folder, no database");

    // A demo tenant's list of origins, given by a site, replaces its own.
    std::fs::write(
        dir.path().join("origins.toml"),
        "[tenants.sevres]\nallowed_origins = [\"https://www.sevres.test\"]\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[],
        &["--config", "origins.toml", "tenants", "list", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sevres = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["slug"] == "sevres")
        .unwrap();
    assert_eq!(
        sevres["allowed_origins"],
        serde_json::json!(["https://www.sevres.test"])
    );
}

#[test]
fn production_refuses_the_demo_tenants_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let production = [
        ("GUICHET_ENV", "production"),
        ("GUICHET__MAIL__TRANSPORT", "smtp"),
        ("GUICHET__MAIL__SMTP__HOST", "127.0.0.1"),
    ];
    // No tenant of its own: the demo is not served.
    let out = run(dir.path(), &production, &["serve"]);
    let line = one_line_error(&out);
    assert!(
        line.contains("`tenants`") && line.contains("demo"),
        "{line}"
    );
    // A site tenant that would mail a demo authority's DPO.
    std::fs::write(
        dir.path().join("copied.toml"),
        SITE_TENANT.replace("dpo@montreuil-sur-essai.test", "DPO@ville-sevres.fr"),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &production,
        &["--config", "copied.toml", "serve"],
    );
    let line = one_line_error(&out);
    assert!(line.contains("`tenants.montreuil-test`"), "{line}");
    assert!(line.contains("demo"), "{line}");
    // A demo tenant named in a production site file is not served either.
    std::fs::write(
        dir.path().join("demo.toml"),
        "[tenants.sevres]\nname = \"Ville de Sèvres\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &production, &["--config", "demo.toml", "serve"]);
    assert!(!out.status.success());
    assert!(!dir.path().join("data").exists(), "nothing written");
}

pub(crate) fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("guichet:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    lines[0].to_owned()
}

#[test]
fn an_invalid_value_names_the_key_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[("GUICHET__SERVER__WORKERS", "many")],
        &["tenants", "list"],
    );
    let line = one_line_error(&out);
    assert!(line.contains("server.workers"), "{line}");

    std::fs::write(dir.path().join("bad.toml"), "[database]\npool_size = 0\n").unwrap();
    let out = run(dir.path(), &[], &["--config", "bad.toml", "migrate"]);
    let line = one_line_error(&out);
    assert!(
        line.contains("`database.pool_size` must be at least 1"),
        "{line}"
    );

    std::fs::write(
        dir.path().join("typo.toml"),
        "[server]\nbnid = \"0.0.0.0:80\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &[], &["--config", "typo.toml", "migrate"]);
    let line = one_line_error(&out);
    assert!(line.contains("bnid"), "{line}");

    std::fs::write(
        dir.path().join("origin.toml"),
        "[tenants.sevres]\nallowed_origins = [\"https://a.fr/path\"]\n",
    )
    .unwrap();
    let out = run(dir.path(), &[], &["--config", "origin.toml", "migrate"]);
    let line = one_line_error(&out);
    assert!(line.contains("`tenants.sevres.allowed_origins`"), "{line}");

    let out = run(dir.path(), &[], &["--config", "missing.toml", "migrate"]);
    assert!(one_line_error(&out).contains("missing.toml"));
}

#[test]
fn production_refuses_file_mail_and_generated_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[("GUICHET_ENV", "production")], &["serve"]);
    let line = one_line_error(&out);
    assert!(line.contains("`mail.transport`"), "{line}");

    let smtp = [
        ("GUICHET_ENV", "production"),
        ("GUICHET__MAIL__TRANSPORT", "smtp"),
        ("GUICHET__MAIL__SMTP__HOST", "127.0.0.1"),
        ("GUICHET__SERVER__BIND", "127.0.0.1:0"),
    ];
    std::fs::write(dir.path().join("site.toml"), SITE_TENANT).unwrap();
    let out = run(dir.path(), &smtp, &["--config", "site.toml", "serve"]);
    let line = one_line_error(&out);
    assert!(
        line.contains("`secrets.jwt`") && line.contains("production"),
        "{line}"
    );
    assert!(
        !dir.path().join("data/secrets.toml").exists(),
        "nothing generated"
    );
}

#[test]
fn an_unreachable_database_is_one_clear_line_naming_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "GUICHET__DATABASE__URL",
            "postgres://guichet:pw-never-shown@127.0.0.1:9/guichet",
        ),
        ("GUICHET__DATABASE__CONNECT_TIMEOUT_SECS", "2"),
    ];
    for args in [&["migrate"][..], &["serve"][..]] {
        let out = run(dir.path(), &env, args);
        let line = one_line_error(&out);
        assert!(
            line.contains("PostgreSQL at 127.0.0.1:9 (database guichet)"),
            "{line}"
        );
        assert!(!line.contains("pw-never-shown"), "{line}");
    }
}

#[test]
fn migrate_applies_once_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let env = db_env(&db);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = run(dir.path(), &env, &["migrate"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8(first.stdout).unwrap();
    assert!(text.starts_with("applied "), "{text}");
    let second = run(dir.path(), &env, &["migrate"]);
    assert_eq!(
        String::from_utf8(second.stdout).unwrap(),
        "database is up to date\n"
    );
}

#[test]
fn instances_starting_together_on_one_database_all_come_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let settings = test_settings(dir.path(), &db);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let started: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let s = settings.clone();
                scope.spawn(move || Application::build(s, Clock::system()).map(|a| a.port()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    if !db.is_postgres() {
        // SQLite serves one instance: the others say so and stop.
        let (up, refused): (Vec<_>, Vec<_>) = started.into_iter().partition(Result::is_ok);
        assert!(!up.is_empty(), "one instance at least comes up");
        for e in refused {
            let e = e.unwrap_err().to_string();
            assert!(e.contains("serve.lock") && e.contains("PostgreSQL"), "{e}");
        }
        return;
    }
    for result in &started {
        assert!(result.is_ok(), "{result:?}");
    }
    let ports: std::collections::BTreeSet<_> = started.into_iter().map(Result::unwrap).collect();
    assert_eq!(ports.len(), 3);
}

#[test]
fn a_second_service_on_one_sqlite_file_is_refused_until_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    if db.is_postgres() {
        return;
    }
    let settings = test_settings(dir.path(), &db);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let first = Application::build(settings.clone(), Clock::system()).expect("first starts");
    let second = Application::build(settings.clone(), Clock::system());
    let e = second.err().expect("second refused").to_string();
    assert!(e.contains("another `guichet serve`"), "{e}");
    drop(first);
    Application::build(settings, Clock::system()).expect("starts once the first is gone");
}

#[tokio::test]
async fn sigterm_drains_then_waits_for_the_background_threads_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let log = dir.path().join("serve.log");
    let mut env = db_env(&db);
    env.extend([
        ("GUICHET__SERVER__SHUTDOWN_TIMEOUT_SECS", "5".into()),
        // As the log check of the whole run reads service logs.
        ("GUICHET__LOG__FORMAT", "json".into()),
        ("RUST_LOG", "info,actix_server=warn".into()),
        // Both threads are in the middle of a long pause when the signal
        // comes: the stop must end it rather than wait an hour.
        ("GUICHET__MAIL__POLL_INTERVAL_MS", "3600000".into()),
        ("GUICHET__RETENTION__TICK_SECS", "3600".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut serving, _) = serve_logging_to(
        dir.path(),
        &env,
        std::fs::File::create(&log).unwrap().into(),
    )
    .await;

    let pid = libc::pid_t::try_from(serving.0.id()).unwrap();
    // SAFETY: a signal to the child this test started and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = serving.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let logged = std::fs::read_to_string(&log).unwrap();
    std::io::Write::write_all(&mut common::log_file("serve"), logged.as_bytes()).unwrap();
    assert!(status.success(), "{status:?}\n{logged}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the pauses were cut short"
    );
    let last = logged.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"message\":\"stopped\""),
        "the last line says every thread finished: {last}"
    );
}
