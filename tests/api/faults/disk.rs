//! The disk under the SQLite file fills up (a small tmpfs), or the file
//! turns read-only (`chattr +i`, which binds root too): writes get a clear
//! 503 with nothing of the cause, `/readyz` says so, and once the disk is
//! back everything acknowledged before is there, in a database that passes
//! `PRAGMA integrity_check`.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use guichet::consent::files::EventFile;
use guichet::consent::ConsentStore;
use guichet::db::schema::rights_requests;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use super::outages::{Immutable, Tmpfs};
use super::support::{connect, pdf, unavailable};
use crate::common::{self, seed, TestApp};

/// The app on a SQLite file under `dir`, whatever `TEST_DATABASE_URL`
/// says: these faults are the SQLite file's.
async fn app_on(dir: &std::path::Path) -> TestApp {
    let data = dir.join("data");
    common::spawn_app_with(
        move |s| {
            s.database.url = format!("sqlite://{}", data.join("guichet.db").display()).into();
            s.storage.data_dir = data;
            s.database.sqlite_busy_timeout_ms = 200;
            s.requests.submissions_per_ip_per_hour = 1000;
            s.database.sqlite_min_free_bytes = 1024 * 1024;
        },
        |_| {},
    )
    .await
}

async fn consent(app: &TestApp) -> reqwest::Response {
    app.client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(&json!({"policy_version": "2026-01", "choices": {"audience": true}}))
        .send()
        .await
        .unwrap()
}

async fn request(app: &TestApp, n: usize, size: usize) -> reqwest::Response {
    let form = Form::new()
        .text("kind", "erasure")
        .text("first_name", "Camille")
        .text("last_name", "Dupont")
        .text("email", format!("disk{n}@example.org"))
        .text("details", "SECRET-DETAILS")
        .part(
            "id_document",
            Part::bytes(pdf(size, b'd')).file_name("id.pdf"),
        );
    app.client
        .post(app.url("/v1/tenants/sevres/requests"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// What the service acknowledged: consent ids and request ids.
#[derive(Default)]
struct Acknowledged {
    consents: Vec<String>,
    requests: Vec<String>,
}

impl Acknowledged {
    async fn add(&mut self, app: &TestApp, n: usize) {
        for _ in 0..n {
            let res = consent(app).await;
            assert_eq!(res.status(), 201);
            let body: Value = res.json().await.unwrap();
            self.consents
                .push(body["consent_id"].as_str().unwrap().into());
            let res = request(app, self.requests.len(), 64 * 1024).await;
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            let body: Value = res.json().await.unwrap();
            self.requests.push(body["id"].as_str().unwrap().into());
        }
    }

    /// Everything acknowledged is there, in a sound file.
    fn check(&self, url: &str) {
        #[derive(QueryableByName)]
        struct Check {
            #[diesel(sql_type = Text)]
            integrity_check: String,
        }
        let sound = |conn: &mut guichet::db::DbConnection| {
            let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
                .load(conn)
                .unwrap();
            let verdict: Vec<_> = checks.iter().map(|c| c.integrity_check.as_str()).collect();
            assert_eq!(verdict, ["ok"]);
        };
        let mut conn = connect(url);
        sound(&mut conn);
        let (store, files) = consent_files(url);
        for file in &files {
            sound(&mut store.month_files().unwrap().open(file).unwrap());
        }
        let consents: Vec<String> = store
            .all_on(&mut conn, None)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        for id in &self.consents {
            assert!(consents.contains(id), "consent {id} acknowledged and lost");
        }
        let requests: Vec<String> = rights_requests::table
            .select(rights_requests::id)
            .load(&mut conn)
            .unwrap();
        for id in &self.requests {
            assert!(requests.contains(id), "request {id} acknowledged and lost");
        }
        super::support::assert_no_half_request(&mut conn, 1);
        conn.batch_execute("SELECT 1").unwrap();
    }
}

/// The consent files of the database at `url`.
fn consent_files(url: &str) -> (ConsentStore, Vec<EventFile>) {
    let store = seed::store(url);
    let files = store.month_files().expect("a SQLite database");
    let mut out = Vec::new();
    for tenant in files.tenants().unwrap() {
        out.extend(files.files(&tenant).unwrap().iter().cloned());
    }
    (store, out)
}

/// A write refused for want of storage: a 503 that names no cause.
async fn assert_refused(res: reqwest::Response) {
    let body = common::assert_problem(res, 503, "storage_unavailable").await;
    let text = body.to_string().to_lowercase();
    for internal in [
        "sqlite",
        "disk",
        "full",
        "readonly",
        "read-only",
        "/",
        "pragma",
    ] {
        assert!(!text.contains(internal), "{internal} in {body}");
    }
}

async fn assert_not_ready(app: &TestApp) {
    let res = app.get("/readyz").await;
    assert!(res.headers().contains_key("retry-after"));
    common::assert_problem(res, 503, "not_ready").await;
}

fn mounting() -> Tmpfs {
    Tmpfs::mount("16m").unwrap_or_else(|| unavailable("mounting a tmpfs (root, or CAP_SYS_ADMIN)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs root (a tmpfs mount, chattr +i); cargo test -- --include-ignored"]
async fn a_full_disk_refuses_writes_clearly_and_corrupts_nothing() {
    let volume = mounting();
    let app = app_on(&volume.path).await;
    let url = app.state.settings.database.expose_url().to_owned();
    let mut acknowledged = Acknowledged::default();
    acknowledged.add(&app, 3).await;

    let filler = volume.fill();
    assert_not_ready(&app).await;
    // A large document needs pages the file does not have.
    assert_refused(request(&app, 900, 2 * 1024 * 1024).await).await;
    // Small writes fail too once the write-ahead log cannot grow.
    let mut refused = 0;
    for _ in 0..50 {
        let res = consent(&app).await;
        match res.status().as_u16() {
            201 => {
                let body: Value = res.json().await.unwrap();
                acknowledged
                    .consents
                    .push(body["consent_id"].as_str().unwrap().into());
            }
            _ => {
                assert_refused(res).await;
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "a full disk refuses consents");
    // Reads go on.
    assert_eq!(
        app.get("/v1/tenants/sevres/consent-policy").await.status(),
        200
    );

    std::fs::remove_file(filler).unwrap();
    assert_eq!(app.get("/readyz").await.status(), 200);
    acknowledged.add(&app, 2).await;
    acknowledged.check(&url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs root (a tmpfs mount, chattr +i); cargo test -- --include-ignored"]
async fn a_read_only_database_file_refuses_writes_clearly_and_corrupts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_on(dir.path()).await;
    let url = app.state.settings.database.expose_url().to_owned();
    let mut acknowledged = Acknowledged::default();
    acknowledged.add(&app, 3).await;

    // The database, its consent files (this month's, written by the
    // consents above) and their write-ahead logs; not the `-shm` indexes,
    // which SQLite writes through a shared mapping: refused under a running
    // process, that is a SIGBUS, not an error SQLite could report.
    let main = dir.path().join("data/guichet.db");
    let mut databases = vec![main];
    databases.extend(consent_files(&url).1.into_iter().map(|f| f.path));
    assert!(databases.len() > 1, "the consents have a file");
    let files: Vec<std::path::PathBuf> = databases
        .iter()
        .flat_map(|file| {
            ["", "-wal"].map(|suffix| {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                std::path::PathBuf::from(name)
            })
        })
        .collect();
    let Some(read_only) = Immutable::set(&files) else {
        unavailable("chattr +i on the temp folder's file system (root)");
    };
    assert_not_ready(&app).await;
    assert_refused(consent(&app).await).await;
    assert_refused(request(&app, 900, 64 * 1024).await).await;
    assert_eq!(
        app.get("/v1/tenants/sevres/consent-policy").await.status(),
        200
    );

    drop(read_only);
    assert_eq!(app.get("/readyz").await.status(), 200);
    acknowledged.add(&app, 2).await;
    acknowledged.check(&url);
}
