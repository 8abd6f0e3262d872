//! Backups through the real binary: `guichet backup` run as a process
//! while the service records consents and requests, `guichet restore` into
//! a fresh data folder or database, and a service started on it finding
//! every consent, request, document and account acknowledged before the
//! backup began; bad input refused in one line with nothing changed; a
//! start refused on documents sealed under a key it lacks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::common::{
    self, consent_count, create_staff, get, guichet_cli_on, login, spawn_app_with, start_time,
    test_settings, TestApp, TestDatabase, PASSWORD,
};
use guichet::app::{Application, StartError};
use guichet::clock::Clock;
use guichet::rights::documents::sha256_hex;

const DPO: &str = "dpo.sauvegarde@sevres.fr";
const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/guichet";

/// The service, with a DPO account.
async fn serving() -> TestApp {
    let app = spawn_app_with(|s| s.requests.submissions_per_ip_per_hour = 100_000, |_| {}).await;
    create_staff(&app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    app
}

/// A fresh folder and database to restore into.
fn fresh_target() -> (tempfile::TempDir, TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    (dir, db)
}

/// `guichet restore BACKUP` run in `target` on `url`.
async fn restore(target: &Path, url: &str, backup: &Path) -> std::process::Output {
    cli(target, url, &["restore", backup.to_str().unwrap()]).await
}

/// A fresh folder and database, `backup` restored into them.
async fn restored_from(backup: &Path) -> (tempfile::TempDir, TestDatabase) {
    let (target, db) = fresh_target();
    let out = restore(target.path(), &db.url, backup).await;
    assert_ok(&out);
    (target, db)
}

/// Starts the service on a restored folder and database.
fn start_on(dir: tempfile::TempDir, db: TestDatabase) -> Result<TestApp, StartError> {
    let settings = test_settings(dir.path(), &db);
    let clock = Clock::fixed(start_time());
    let app = Application::build(settings, clock.clone())?;
    Ok(common::launch(app, clock, db, dir))
}

/// The binary, run in `dir` on `url`, off the async executor.
async fn cli(dir: &Path, url: &str, args: &[&str]) -> std::process::Output {
    let (dir, url) = (dir.to_owned(), url.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        guichet_cli_on(&dir, &url, &args, None)
    })
    .await
    .unwrap()
}

fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A refusal: non-zero exit, one line on standard error that says `what`.
fn assert_refused(out: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("guichet: "), "{stderr}");
    assert!(stderr.contains(what), "{what:?} not in {stderr}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Submits a Sèvres access request with a PDF of its own; returns its id
/// and the PDF.
async fn submit_request(app: &TestApp, n: usize) -> (String, Vec<u8>) {
    let mut pdf = format!("%PDF-1.4 carte {n} ").into_bytes();
    pdf.extend(uuid::Uuid::new_v4().as_bytes());
    let form = Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", format!("zoe.{n}@example.org"))
        .text("details", "Une copie de mes données, s'il vous plaît.")
        .part(
            "id_document",
            Part::bytes(pdf.clone()).file_name("carte.pdf"),
        );
    let body = common::submit_form(app, "sevres", form).await;
    (body["id"].as_str().unwrap().to_owned(), pdf)
}

/// Records a consent of a new subject; returns the 201's body.
async fn record_consent(app: &TestApp) -> Value {
    let subject = uuid::Uuid::new_v4().to_string();
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(&json!({"subject_id": subject, "policy_version": "2026-01",
                      "choices": {"audience": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// What the service acknowledged, in the order it did.
#[derive(Default)]
struct Acknowledged {
    consents: Vec<Value>,
    requests: Vec<(String, Vec<u8>)>,
}

/// Consents (three clients) and requests (one) recorded until `stop`.
fn load(
    app: &Arc<TestApp>,
    acked: &Arc<Mutex<Acknowledged>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (app, acked, stop) = (app.clone(), acked.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let body = record_consent(&app).await;
                acked.lock().unwrap().consents.push(body);
            }
        }));
    }
    let (app, acked, stop) = (app.clone(), acked.clone(), stop.clone());
    tasks.push(tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let request = submit_request(&app, n).await;
            acked.lock().unwrap().requests.push(request);
        }
    }));
    tasks
}

/// Checks the restored service holds a request and its document.
async fn assert_request_restored(app: &TestApp, token: &str, id: &str, pdf: &[u8]) {
    let res = get(app, token, &format!("/v1/dpo/requests/{id}")).await;
    assert_eq!(res.status(), 200, "request {id}");
    let detail: Value = res.json().await.unwrap();
    let docs = detail["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{detail}");
    let doc = docs[0]["id"].as_str().unwrap();
    let res = get(
        app,
        token,
        &format!("/v1/dpo/requests/{id}/documents/{doc}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    assert_eq!(sha256_hex(&bytes), sha256_hex(pdf), "document of {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_acknowledged_record() {
    let app = Arc::new(serving().await);
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&app, &acked, &stop);
    common::wait_until(
        "a load of consents and requests",
        std::time::Duration::from_secs(60),
        || {
            let acked = acked.clone();
            async move {
                let a = acked.lock().unwrap();
                a.consents.len() >= 200 && a.requests.len() >= 3
            }
        },
    )
    .await;

    // What was acknowledged before the backup started must be in it.
    let (consents_before, requests_before) = {
        let a = acked.lock().unwrap();
        (a.consents.clone(), a.requests.clone())
    };
    let backup = app.dir.path().join("backup");
    let out = cli(app.dir.path(), &app.db.url, &["backup", "backup"]).await;
    let consents_by_end = acked.lock().unwrap().consents.len();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert_ok(&out);
    assert!(
        consents_by_end > consents_before.len(),
        "consents were recorded while the backup ran"
    );

    // Files readable by their owner only, with a manifest that lists them.
    assert_eq!(mode(&backup), 0o700);
    let files = files_under(&backup);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let backend = if app.db.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    assert_eq!(manifest["backend"], backend);
    assert_eq!(manifest["format"], 1);
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len(), files.len() - 1, "every file but the manifest");
    for f in listed {
        let bytes = std::fs::read(backup.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(f["size"], bytes.len());
        assert_eq!(f["sha256"], sha256_hex(&bytes));
    }
    if !app.db.is_postgres() {
        assert!(
            listed
                .iter()
                .any(|f| f["path"].as_str().unwrap().starts_with("consents/")),
            "the consent files are in the backup: {manifest}"
        );
    }

    let (target, db) = restored_from(&backup).await;
    let secrets = target.path().join("secrets.toml");
    assert_eq!(mode(&secrets), 0o600);
    if !db.is_postgres() {
        for f in files_under(target.path())
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "db"))
        {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }

    let restored = start_on(target, db).expect("the restored service starts");
    // The account signs in with its password.
    let token = login(&restored, DPO, PASSWORD).await;
    for body in &consents_before {
        let subject = body["subject_id"].as_str().unwrap();
        let res = restored
            .get(&format!("/v1/tenants/sevres/consents/{subject}"))
            .await;
        assert_eq!(res.status(), 200, "consent of {subject}");
        let current: Value = res.json().await.unwrap();
        assert_eq!(
            &current, body,
            "the consent and its receipt as acknowledged"
        );
    }
    let all = acked.lock().unwrap().consents.len() as i64;
    let kept = consent_count(&restored).await;
    assert!(
        kept >= consents_before.len() as i64 && kept <= all,
        "{kept} consents restored, {} acknowledged before, {all} in all",
        consents_before.len()
    );
    for (id, pdf) in &requests_before {
        assert_request_restored(&restored, &token, id, pdf).await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_in_one_line_and_changes_nothing() {
    let app = serving().await;
    record_consent(&app).await;
    submit_request(&app, 1).await;
    let here = app.dir.path();

    // A backup into a folder that holds something.
    let full = here.join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("note.txt"), b"keep").unwrap();
    let out = cli(here, &app.db.url, &["backup", "full"]).await;
    assert_refused(&out, "is not empty");
    assert_eq!(files_under(&full), vec![full.join("note.txt")]);

    // A database out of reach: nothing written.
    let out = cli(here, UNREACHABLE, &["backup", "unreached"]).await;
    assert_refused(&out, "cannot connect to PostgreSQL at 127.0.0.1:1");
    assert!(!here.join("unreached").exists());

    let out = cli(here, &app.db.url, &["backup", "backup"]).await;
    assert_ok(&out);
    let backup = here.join("backup");

    // A restore into the database the backup came from, which holds data.
    let secrets = std::fs::read(here.join("secrets.toml")).unwrap();
    let count = consent_count(&app).await;
    let out = cli(here, &app.db.url, &["restore", "backup"]).await;
    assert_refused(&out, "already holds");
    assert_eq!(std::fs::read(here.join("secrets.toml")).unwrap(), secrets);
    assert_eq!(consent_count(&app).await, count);

    // Into a database out of reach, from a folder that is not a backup,
    // from an altered backup: nothing is written to the target, which
    // then takes the real backup.
    let (target, db) = fresh_target();
    let out = restore(target.path(), UNREACHABLE, &backup).await;
    assert_refused(&out, "cannot connect to PostgreSQL at 127.0.0.1:1");
    let out = restore(target.path(), &db.url, here).await;
    assert_refused(&out, "manifest.json");

    let altered = here.join("altered");
    copy_dir(&backup, &altered);
    let database = if db.is_postgres() {
        "database.dump"
    } else {
        "database.sqlite"
    };
    let mut bytes = std::fs::read(altered.join(database)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(altered.join(database), &bytes).unwrap();
    let out = restore(target.path(), &db.url, &altered).await;
    assert_refused(&out, "the backup was altered");

    let extra = here.join("extra");
    copy_dir(&backup, &extra);
    std::fs::write(extra.join("intrus.db"), b"x").unwrap();
    let out = restore(target.path(), &db.url, &extra).await;
    assert_refused(&out, "not in the manifest");

    assert!(!target.path().join("secrets.toml").exists());
    let out = restore(target.path(), &db.url, &backup).await;
    assert_ok(&out);
    // Restored once, the target is no longer empty.
    let out = restore(target.path(), &db.url, &backup).await;
    assert_refused(&out, "already holds");
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap();
    }
}

/// The key id a document key gets: the first six bytes of its SHA-256.
fn key_id_of_backup(backup: &Path) -> String {
    use base64::Engine;
    let text = std::fs::read_to_string(backup.join("secrets.toml")).unwrap();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("document = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the document key is in the backup");
    let key = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    sha256_hex(&key)[..12].to_owned()
}

#[tokio::test]
async fn a_start_without_the_key_of_its_documents_is_refused_naming_it() {
    let app = serving().await;
    submit_request(&app, 1).await;
    let out = cli(app.dir.path(), &app.db.url, &["backup", "backup"]).await;
    assert_ok(&out);
    let backup = app.dir.path().join("backup");
    let (target, db) = restored_from(&backup).await;

    // The secrets left behind: the start makes new keys, and refuses.
    std::fs::remove_file(target.path().join("secrets.toml")).unwrap();
    let key_id = key_id_of_backup(&backup);
    let err = start_on(target, db).err().expect("the start is refused");
    let message = err.to_string();
    assert!(
        message.contains(&format!("sealed under key `{key_id}`")),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}
