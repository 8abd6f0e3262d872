//! Test harness: the real application on an ephemeral port, against a fresh
//! SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is
//! set (CI runs the suite both ways).

pub mod cluster;
pub mod cluster_clients;
pub mod database;
pub mod logs;
pub mod oidc;
pub mod pages;
pub mod seed;
pub mod smtp;
pub mod webdriver;

pub use database::TestDatabase;
pub use logs::{
    assert_no_panic_in, assert_no_personal_data_in, assert_no_personal_data_logged, log_dir,
    log_file, logs,
};
pub use smtp::SmtpServer;

use actix_web::web;
use chrono::{DateTime, Utc};
use tempfile::TempDir;

use guichet::app::{Application, Configure, Parts};
use guichet::clock::Clock;
use guichet::config::Settings;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub state: web::Data<Parts>,
    pub db: TestDatabase,
    pub dir: TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_personal_data_logged();
            assert_no_panic_in(&logs());
        }
    }
}

/// Settings for a test: embedded defaults, a private data folder, port 0.
pub fn test_settings(dir: &std::path::Path, db: &TestDatabase) -> Settings {
    let mut s = Settings::embedded_defaults().expect("embedded defaults are valid");
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = 1;
    s.server.shutdown_timeout_secs = 1;
    s.storage.data_dir = dir.to_path_buf();
    s.database.url = db.url.clone().into();
    s.database.pool_size = 4;
    s.database.acquire_timeout_secs = 2;
    s.database.connect_timeout_secs = 2;
    // Tests deliver mail by calling the worker, after moving the clock.
    s.mail.worker = false;
    // Tests run sweeps by calling the scheduler, after moving the clock.
    s.retention.scheduler = false;
    s
}

pub fn start_time() -> DateTime<Utc> {
    "2026-03-02T09:30:00Z".parse().unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, |_| {}).await
}

/// Spawns the app after `adjust` has changed its settings, with `extra`
/// routes mounted beside the real ones.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings), extra: Configure) -> TestApp {
    logs::capture_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDatabase::create(dir.path());
    let mut settings = test_settings(dir.path(), &db);
    adjust(&mut settings);
    let clock = Clock::fixed(start_time());
    let app = Application::build_with(settings, clock.clone(), extra).expect("app starts");
    launch(app, clock, db, dir)
}

/// Runs a built application; the test keeps its database and folder.
pub fn launch(app: Application, clock: Clock, db: TestDatabase, dir: TempDir) -> TestApp {
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        state,
        db,
        dir,
    }
}

/// Checks a problem+json answer and returns its body.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: serde_json::Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    for key in ["type", "title", "detail"] {
        assert!(body[key].is_string(), "problem lacks {key}: {body}");
    }
    body
}

/// Creates a staff account straight in the database.
pub async fn create_staff(
    app: &TestApp,
    tenant: Option<&str>,
    email: &str,
    role: &str,
    password: &str,
) -> String {
    let tenants: Vec<&str> = tenant.into_iter().collect();
    create_staff_of(app, &tenants, email, role, password).await
}

/// Creates a staff account serving `tenants` (the first its primary one)
/// straight in the database.
pub async fn create_staff_of(
    app: &TestApp,
    tenants: &[&str],
    email: &str,
    role: &str,
    password: &str,
) -> String {
    use guichet::staff::accounts::{self, NewStaff, Role};
    let input = NewStaff {
        tenant: None,
        tenants: Some(tenants.iter().map(|t| (*t).to_owned()).collect()),
        email: email.to_owned(),
        role: Role::parse(role).expect("dpo or admin"),
        password: password.to_owned(),
    };
    let tenant_ids = input.check(&app.state.tenants, 12).expect("valid account");
    let hash = guichet::staff::password::hash_now(password).unwrap();
    let now = app.clock.now().naive_utc();
    app.state
        .db
        .run(move |conn| Ok(accounts::insert(conn, &input, tenant_ids, hash, now)?))
        .await
        .expect("account created")
        .id
}

/// Waits until `done` holds, checking it every 20 ms, and fails naming
/// `what` after `within`: for what the service does on its own (a thread
/// reconnecting, a row appearing, a process starting), never for time to
/// pass (a test moves the service's clock instead).
pub async fn wait_until<F, Fut>(what: &str, within: std::time::Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A tool a heavy test needs is missing here: the test fails, saying it
/// did not run, so that a missing tool is never read as a pass. The heavy
/// tests are ignored unless asked for (`cargo test -- --include-ignored`),
/// and CI (`.ci/run`) asks for them and installs every tool.
pub fn not_run(what: &str) -> ! {
    panic!("NOT RUN: this test needs {what}, which this machine lacks")
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Signs in and returns the bearer token.
pub async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login of {email}");
    let body: serde_json::Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Submits a rights request as the citizen's form does; it must be accepted.
pub async fn submit_form(
    app: &TestApp,
    tenant: &str,
    form: reqwest::multipart::Form,
) -> serde_json::Value {
    let res = app
        .client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// Creates a DPO of `tenant` and signs it in; returns the bearer token.
pub async fn dpo(app: &TestApp, tenant: &str, email: &str) -> String {
    create_staff(app, Some(tenant), email, "dpo", PASSWORD).await;
    login(app, email, PASSWORD).await
}

/// `POST path` with a bearer token and a JSON body.
pub async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `GET path` with a bearer token.
pub async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Runs the `guichet` binary in `dir` on `db`, with nothing of the test's
/// environment but `PATH`, `stdin` (if any) as its standard input; its data
/// folder (the generated secrets) is `dir`, as [`test_settings`] makes it.
pub fn guichet_cli(
    dir: &std::path::Path,
    db: &TestDatabase,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    guichet_cli_on(dir, &db.url, args, stdin)
}

/// `guichet_cli` on the database `url` names.
pub fn guichet_cli_on(
    dir: &std::path::Path,
    url: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUICHET__DATABASE__URL", url)
        .env("GUICHET__STORAGE__DATA_DIR", dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Spawns the app with its mail going to `smtp`, after `adjust`.
pub async fn spawn_app_with_smtp(smtp: &SmtpServer, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(
        |s| {
            smtp.configure(s);
            adjust(s);
        },
        |_| {},
    )
    .await
}

/// Runs one delivery pass of the app's mail worker.
pub async fn deliver(app: &TestApp) -> guichet::mail::worker::Pass {
    let worker = app.state.mail_worker.clone();
    tokio::task::spawn_blocking(move || worker.deliver_due())
        .await
        .unwrap()
        .expect("delivery pass")
}

/// Runs a retention sweep as of `as_of` the way `guichet purge` does: under
/// the sweep lock (unless a dry run), recorded with trigger `cli`.
pub async fn sweep_with(
    app: &TestApp,
    as_of: DateTime<Utc>,
    dry_run: bool,
    tenant: Option<&str>,
) -> guichet::retention::sweep::Report {
    use guichet::retention::{lock::SweepLock, runs::Trigger, sweep};
    let state = app.state.clone();
    let tenant = tenant.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let _lock = (!dry_run).then(|| {
            SweepLock::try_acquire(&state.settings.database)
                .unwrap()
                .expect("no other sweep runs")
        });
        let mut conn = state.db.pool().get().unwrap();
        let opts = sweep::Options {
            as_of,
            dry_run,
            tenant: tenant.as_deref(),
            trigger: Trigger::Cli,
            slot: None,
        };
        let clock = state.clock.clone();
        let before = sweep_settings(&mut conn);
        let report = sweep::run(
            &mut conn,
            &state.consents,
            &state.tenants,
            &state.settings.retention,
            &opts,
            || clock.now().naive_utc(),
        )
        .unwrap();
        // The connection goes back to the pool as the others are.
        assert_eq!(sweep_settings(&mut conn), before);
        report
    })
    .await
    .unwrap()
}

/// The session settings that a sweep changes while it runs.
fn sweep_settings(conn: &mut guichet::db::DbConnection) -> Vec<String> {
    use diesel::sql_types::Text;
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let sql = match conn {
        guichet::db::DbConnection::Pg(_) => "SELECT current_setting('synchronous_commit') AS value",
        guichet::db::DbConnection::Sqlite(_) => {
            "SELECT CAST(secure_delete AS TEXT) AS value FROM pragma_secure_delete \
             UNION ALL SELECT CAST(cache_size AS TEXT) FROM pragma_cache_size"
        }
    };
    diesel::RunQueryDsl::load::<Setting>(diesel::sql_query(sql), conn)
        .unwrap()
        .into_iter()
        .map(|s| s.value)
        .collect()
}

/// How many consent events the app keeps, wherever it keeps them.
pub async fn consent_count(app: &TestApp) -> i64 {
    let consents = app.state.consents.clone();
    app.state
        .db
        .run(move |conn| Ok(consents.count_on(conn, None)?))
        .await
        .unwrap()
}
