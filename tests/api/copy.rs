//! `guichet copy --to URL`: a commune filled through the real service,
//! copied by the real binary to the other backend and back, and served
//! from each copy with its consents, receipts, documents and accounts
//! intact; and the refusals, that change nothing.

use crate::common;

use std::path::Path;

use crate::common::{guichet_cli as guichet, TestDatabase, PASSWORD};
use crate::startup::one_line_error;
use guichet::app::Application;
use guichet::clock::Clock;
use serde_json::{json, Value};

const SUBJECT: &str = "0b7e7d4e-8a2e-4d6e-9a55-3f1c2a4b5c6d";
const OTHER: &str = "5f0c3a2e-1b7d-4c9e-8f6a-2d4b6c8e0a1f";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nCOPY-TEST-IDENTITY\n%%EOF\n";
const DPO: &str = "dpo@nimes.fr";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The service on `db`, stopped (and its SQLite lock let go) by `stop`.
struct Service {
    address: String,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    state: actix_web::web::Data<guichet::app::Parts>,
}

impl Service {
    fn start(dir: &Path, db: &TestDatabase, clock: &Clock) -> Self {
        let settings = common::test_settings(dir, db);
        let app = Application::build_with(settings, clock.clone(), |_| {}).expect("app starts");
        Self {
            address: format!("http://127.0.0.1:{}", app.port()),
            client: reqwest::Client::new(),
            handle: app.handle(),
            state: app.state(),
            task: tokio::spawn(app.run_until_stopped()),
        }
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        drop(self.state);
        self.task.await.unwrap().unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }

    async fn consent(&self, subject: &str, choices: Value) -> Value {
        let res = self
            .client
            .post(self.url("/v1/tenants/dunkerque/consents"))
            .json(&json!({"subject_id": subject, "policy_version": "2026-01", "choices": choices}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    async fn login(&self) -> String {
        let res = self
            .client
            .post(self.url("/v1/auth/login"))
            .json(&json!({"email": DPO, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "the account signs in");
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// What a served copy must show as the original did.
#[derive(Debug, PartialEq)]
struct Seen {
    history: Value,
    current: Value,
    export: String,
    request: Value,
    document_sha256: String,
}

/// Reads what the commune shows through the API, checking every receipt
/// of the consent export with the service's published keys.
async fn seen(service: &Service, request_id: &str) -> Seen {
    let history = service
        .get_json(
            &format!("/v1/tenants/dunkerque/consents/{SUBJECT}/history"),
            None,
        )
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 3, "{history}");
    let current = service
        .get_json(&format!("/v1/tenants/dunkerque/consents/{OTHER}"), None)
        .await;
    let token = service.login().await;
    let res = service
        .client
        .get(service.url("/v1/dpo/consents/export?tenant=dunkerque&from=2026-03-01&to=2026-04-30"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let export = res.text().await.unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(service.get_json("/.well-known/jwks.json", None).await).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let mut receipts = 0;
    for row in csv::Reader::from_reader(export.as_bytes()).records() {
        let row = row.unwrap();
        let (id, receipt) = (&row[0], &row[11]);
        if receipt.is_empty() {
            assert_eq!(&row[3], "withdrawn");
            continue;
        }
        let kid = jsonwebtoken::decode_header(receipt).unwrap().kid.unwrap();
        let key =
            jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).expect("key published")).unwrap();
        let claims = jsonwebtoken::decode::<Value>(receipt, &key, &validation)
            .expect("the receipt verifies")
            .claims;
        assert_eq!(claims["jti"], id);
        receipts += 1;
    }
    assert_eq!(receipts, 3, "{export}");
    let mut request = service
        .get_json(&format!("/v1/dpo/requests/{request_id}"), Some(&token))
        .await;
    let doc = request["documents"][0]["id"].as_str().unwrap().to_owned();
    let res = service
        .client
        .get(service.url(&format!("/v1/dpo/requests/{request_id}/documents/{doc}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let document_sha256 = guichet::rights::documents::sha256_hex(&res.bytes().await.unwrap());
    // Opening the document is journaled on the timeline: not part of what
    // the copy must keep.
    request.as_object_mut().unwrap().remove("events");
    Seen {
        history,
        current,
        export,
        request,
        document_sha256,
    }
}

/// The PostgreSQL server the copy test uses, whichever backend the run is
/// on.
fn postgres_server() -> String {
    ["TEST_DATABASE_URL", "PG_ADMIN_URL"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| {
            common::not_run("a PostgreSQL server (TEST_DATABASE_URL or PG_ADMIN_URL)")
        })
}

/// A fresh database of the other backend than `db`'s.
fn other_than(db: &TestDatabase, dir: &Path) -> TestDatabase {
    if db.is_postgres() {
        TestDatabase::sqlite(dir)
    } else {
        TestDatabase::postgres(&postgres_server())
    }
}

/// A fresh database of `db`'s backend.
fn same_as(db: &TestDatabase, dir: &Path) -> TestDatabase {
    if db.is_postgres() {
        TestDatabase::postgres(&postgres_server())
    } else {
        TestDatabase::sqlite(dir)
    }
}

/// A new data folder holding the same secrets as `from`.
fn folder_with_secrets_of(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(from.join("secrets.toml"), dir.path().join("secrets.toml")).unwrap();
    dir
}

/// Runs the copy and checks its report: every table's two counts, the
/// consent events' among them, and the receipts.
fn copied(dir: &Path, db: &TestDatabase, to: &TestDatabase) {
    let out = guichet(dir, db, &["copy", "--to", &to.url], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    let row = |name: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("consent_events"), ["4", "4"], "{stdout}");
    assert_eq!(row("request_documents"), ["1", "1"], "{stdout}");
    assert_eq!(row("staff_users"), ["1", "1"], "{stdout}");
    assert!(
        stdout.contains("verified with the public key: 3 of 3"),
        "{stdout}"
    );
    assert!(stdout.contains("every count matches"), "{stdout}");
    if to.url.starts_with("postgres") {
        // The copied months are partitions of their own, none left in the
        // default partition.
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = crate::faults::support::connect(&to.url);
        let count = |conn: &mut guichet::db::DbConnection, sql: &str| -> i64 {
            guichet::on_backend!(conn, |c| diesel::sql_query(sql).get_result::<N>(c))
                .unwrap()
                .n
        };
        assert_eq!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM consent_events_default"
            ),
            0
        );
        assert!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM pg_class WHERE relispartition \
                 AND relname LIKE 'consent_events_p%'"
            ) >= 2,
            "the two months of the consents"
        );
    }
}

#[tokio::test]
#[ignore = "heavy: needs a PostgreSQL server whichever the run's backend"]
async fn a_commune_moves_to_the_other_backend_and_back_with_its_records_intact() {
    common::logs::capture_logs();
    let clock = Clock::fixed(common::start_time());
    let (a_dir, a) = with_account(DPO, "nimes --tenant dunkerque");

    // Consents in two months, a withdrawal, a request with a document.
    let service = Service::start(a_dir.path(), &a, &clock);
    service.consent(SUBJECT, json!({"audience": true})).await;
    clock.advance(chrono::Duration::days(40));
    service
        .consent(SUBJECT, json!({"audience": false, "linkedin": true}))
        .await;
    service.consent(OTHER, json!({"twitter": true})).await;
    clock.advance(chrono::Duration::days(1));
    let res = service
        .client
        .delete(service.url(&format!("/v1/tenants/dunkerque/consents/{SUBJECT}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let form = reqwest::multipart::Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", "zoe@example.org")
        .text("details", "Une copie de mes données, s'il vous plaît.")
        .part(
            "id_document",
            reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("carte.pdf"),
        );
    let res = service
        .client
        .post(service.url("/v1/tenants/nimes/requests"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let request_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let original = seen(&service, &request_id).await;
    assert_eq!(
        original.document_sha256,
        guichet::rights::documents::sha256_hex(PDF)
    );
    service.stop().await;

    // To the other backend, served from a new data folder with the same
    // secrets; and back, into a fresh database of the first backend.
    let b_dir = folder_with_secrets_of(a_dir.path());
    let b = other_than(&a, b_dir.path());
    let c_dir = folder_with_secrets_of(a_dir.path());
    let c = same_as(&a, c_dir.path());
    for ((from_dir, from), (to_dir, to)) in
        [((&a_dir, &a), (&b_dir, &b)), ((&b_dir, &b), (&c_dir, &c))]
    {
        copied(from_dir.path(), from, to);
        let service = Service::start(to_dir.path(), to, &clock);
        assert_eq!(
            seen(&service, &request_id).await,
            original,
            "served from {}",
            to.url
        );
        service.stop().await;
    }
}

/// A database of the run's backend with one account serving `tenants`
/// (the `--tenant` options, joined by ` --tenant `), and its data folder.
fn with_account(email: &str, tenants: &str) -> (tempfile::TempDir, TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut args = vec!["users", "add", "--email", email, "--role", "dpo"];
    args.extend(["--password-stdin", "--tenant"]);
    args.extend(tenants.split(' '));
    let out = guichet(dir.path(), &db, &args, Some(PASSWORD));
    assert!(out.status.success(), "{}", text(&out.stderr));
    (dir, db)
}

#[test]
fn a_target_that_holds_data_is_refused_in_one_line_and_left_as_it_was() {
    let (dir, db) = with_account("dpo@ville-sevres.fr", "sevres");
    let (target_dir, target) = with_account("other@ville-sevres.fr", "sevres");
    let before = guichet(target_dir.path(), &target, &["users", "list"], None);
    assert!(before.status.success());

    let out = guichet(dir.path(), &db, &["copy", "--to", &target.url], None);
    let line = one_line_error(&out);
    assert!(line.contains("already holds Guichet data"), "{line}");
    assert!(line.contains("nothing was copied"), "{line}");
    assert!(!line.contains("dpo@"), "no personal data: {line}");

    let after = guichet(target_dir.path(), &target, &["users", "list"], None);
    assert_eq!(text(&after.stdout), text(&before.stdout));
    assert!(!text(&after.stdout).contains("dpo@ville-sevres.fr"));
}

#[test]
fn an_unreachable_or_unknown_target_is_one_line_naming_it() {
    let (dir, db) = with_account("dpo@ville-sevres.fr", "sevres");
    for (to, expected) in [
        (
            "postgres://guichet:s3cret@127.0.0.1:1/nowhere",
            "127.0.0.1:1",
        ),
        (
            "mysql://db/guichet",
            "--to must start with sqlite:// or postgres://",
        ),
        (db.url.as_str(), "the configured database itself"),
    ] {
        let out = guichet(dir.path(), &db, &["copy", "--to", to], None);
        let line = one_line_error(&out);
        assert!(line.contains(expected), "{line}");
        assert!(!line.contains("s3cret"), "no password: {line}");
    }
}
