//! What the service makes of hostile input: names that would put a link or
//! reversed text into the town hall's letter to an address no one has
//! confirmed, dates far outside any calendar a town hall keeps, a sign-in
//! return address with control characters, and the harness's own rule that
//! a panic of the service fails the test. And keys that can be rotated: an
//! address listed, or locked, under the pseudonym key before a rotation
//! stays so.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;
use crate::common::pages;
use crate::faults::support;

use crate::common::pages::{
    console_get, header, page_of, post_citizen_form, post_sign_in, sign_in, ERASURE,
};
use crate::common::{
    assert_problem, dpo, get, logs, spawn_app, spawn_app_with, TestApp, TestDatabase,
};
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use guichet::db::schema::{mail_outbox, rights_requests};
use guichet::tenants::Greeting;
use serde_json::{json, Value};

/// Names a letter must not carry: links a mail reader would show, and
/// characters that turn the text around.
const HOSTILE_NAMES: &[&str] = &[
    "https://ville-sevres.remboursement.example",
    "www.ville-sevres-aides.fr",
    "Zoé, rendez-vous sur aides-sevres.fr",
    "AIDES-SEVRES.FR",
    "aides\u{3002}fr",
    "zoe@example.org",
    "Zoé\u{202e}fdp.exe",
    "Zoé\u{2067}Lefèvre",
    "\u{200f}Zoé",
];

fn request(first_name: &str, last_name: &str) -> Value {
    json!({
        "kind": "access", "first_name": first_name, "last_name": last_name,
        "email": "zoe@example.org", "details": "Copie de mes données, s'il vous plaît.",
    })
}

/// Counts of requests and of letters queued, for "nothing was recorded".
async fn recorded(app: &TestApp) -> (i64, i64) {
    app.state
        .db
        .run(|conn| {
            let requests = rights_requests::table.count().get_result(conn)?;
            let letters = mail_outbox::table.count().get_result(conn)?;
            Ok((requests, letters))
        })
        .await
        .unwrap()
}

/// The text of the acknowledgement queued for the requester.
async fn acknowledgement(app: &TestApp) -> String {
    app.state
        .db
        .run(|conn| {
            Ok(mail_outbox::table
                .filter(mail_outbox::template.eq("requester_ack"))
                .select(mail_outbox::body_text)
                .first::<String>(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn names_with_a_link_or_turned_text_are_refused_by_name() {
    let app = spawn_app_with(
        |s| {
            s.tenants.get_mut("valparisis").unwrap().require_id_document = false;
            s.requests.submissions_per_ip_per_hour = 1000;
            s.requests.submissions_per_email_per_day = 100;
        },
        |_| {},
    )
    .await;
    let url = app.url("/v1/tenants/valparisis/requests");
    for name in HOSTILE_NAMES {
        for (field, body) in [
            ("first_name", request(name, "Lefèvre")),
            ("last_name", request("Zoé", name)),
        ] {
            let res = app.client.post(&url).json(&body).send().await.unwrap();
            let problem = assert_problem(res, 422, "validation_failed").await;
            assert_eq!(problem["errors"][0]["field"], field, "{name:?}: {problem}");
            // The same rule for the multipart form.
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in body.as_object().unwrap() {
                form = form.text(k.clone(), v.as_str().unwrap().to_owned());
            }
            let res = app.client.post(&url).multipart(form).send().await.unwrap();
            let problem = assert_problem(res, 422, "validation_failed").await;
            assert_eq!(problem["errors"][0]["field"], field, "{name:?}: {problem}");
        }
    }
    assert_eq!(
        recorded(&app).await,
        (0, 0),
        "nothing recorded, nothing sent"
    );
    // Initials, apostrophes, accents and other scripts are names.
    for (first, last) in [
        ("J.-P.", "Lefèvre"),
        ("J.P.", "O'Brien"),
        ("Ève", "d’Arc-St. Clair"),
        ("Nguyễn", "Thị"),
        ("محمد", "بن علي"),
    ] {
        let res = app
            .client
            .post(&url)
            .json(&request(first, last))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "{first} {last}: {}",
            res.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn the_citizens_form_shows_the_refusal_beside_the_name() {
    let app = spawn_app().await;
    let mut fields = ERASURE.to_vec();
    fields.retain(|(k, _)| *k != "first_name");
    fields.push(("first_name", "aides-sevres.fr"));
    let res = post_citizen_form(&app, "sevres", &fields, 1).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    let error = html
        .split("id=\"f-first_name-error\"")
        .nth(1)
        .expect("an error beside the first name");
    assert!(error.contains("adresse web"), "{error}");
    assert_eq!(recorded(&app).await, (0, 0));
}

#[tokio::test]
async fn letters_open_with_madame_monsieur_unless_the_tenant_greets_by_first_name() {
    let app = spawn_app().await;
    pages::submit(&app, "sevres").await;
    let ack = acknowledgement(&app).await;
    assert!(ack.starts_with("Madame, Monsieur,\n"), "{ack}");
    assert!(!ack.contains("Zoé"), "{ack}");
    drop(app);

    let app = spawn_app_with(
        |s| s.tenants.get_mut("sevres").unwrap().greeting = Greeting::FirstName,
        |_| {},
    )
    .await;
    pages::submit(&app, "sevres").await;
    let ack = acknowledgement(&app).await;
    assert!(ack.starts_with("Bonjour Zoé,\n"), "{ack}");
}

/// Days no statistics can hold (as a query string writes them), each with
/// the parameter that carries it: the ends of chrono's calendar (arithmetic
/// on them overflows), years chrono cannot represent, days before the
/// service's first day and after its last, and days that do not exist.
const FAR_DAYS: &[(&str, &str)] = &[
    ("from", "-262143-01-01"),
    ("to", "-262143-01-01"),
    ("to", "%2B262142-12-31"),
    ("to", "%2B262143-12-31"),
    ("from", "9999999-01-01"),
    ("from", "1999-12-31"),
    ("to", "2200-01-01"),
    ("to", "0000-01-01"),
    ("from", "2026-02-30"),
    ("to", "2026-1-1"),
];

#[tokio::test]
async fn far_dates_on_the_statistics_the_export_and_the_audit_log_answer_422() {
    let app = spawn_app().await;
    let token = dpo(&app, "sevres", "dpo-dates@ville-sevres.fr").await;
    for route in ["/v1/dpo/consents/stats", "/v1/dpo/consents/export"] {
        for (param, day) in FAR_DAYS {
            let res = get(&app, &token, &format!("{route}?{param}={day}")).await;
            let body = assert_problem(res, 422, "validation_failed").await;
            assert_eq!(body["errors"][0]["field"], *param, "{route} {day}: {body}");
        }
        // The first and last days the service keeps are days like others.
        for range in [
            "from=2000-01-01&to=2000-01-31",
            "from=2199-12-01&to=2199-12-31",
        ] {
            let res = get(&app, &token, &format!("{route}?{range}")).await;
            assert_eq!(res.status(), 200, "{route}?{range}");
        }
    }
    // The audit log's instants: the same years.
    for (param, at) in [
        ("from", "%2B262142-12-31T00:00:00Z"),
        ("to", "-262143-01-01T00:00:00Z"),
        ("from", "1999-12-31T23:59:59Z"),
        ("to", "2200-01-01T00:00:00Z"),
    ] {
        let res = get(&app, &token, &format!("/v1/dpo/audit?{param}={at}")).await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], param, "{at}: {body}");
    }
}

#[tokio::test]
async fn far_dates_on_the_console_statistics_answer_422() {
    let app = spawn_app().await;
    common::create_staff(
        &app,
        Some("sevres"),
        "dpo-console-dates@ville-sevres.fr",
        "dpo",
        common::PASSWORD,
    )
    .await;
    let console = sign_in(&app, "dpo-console-dates@ville-sevres.fr").await;
    for route in ["/console/stats", "/console/stats/export"] {
        for (param, day) in FAR_DAYS {
            let path = format!("{route}?{param}={day}");
            let res = console_get(&app, &console.cookie, &path).await;
            assert_eq!(res.status(), 422, "{path}");
            let ct = header(&res, "content-type");
            assert!(ct.starts_with("text/html"), "{path}: a page, {ct}");
        }
        let res = console_get(&app, &console.cookie, &format!("{route}?from=2026-02-01")).await;
        assert_eq!(res.status(), 200, "{route}");
    }
}

#[tokio::test]
async fn a_return_address_with_control_characters_signs_in_to_the_console() {
    let app = spawn_app().await;
    let email = "dpo-next@ville-sevres.fr";
    common::create_staff(&app, Some("sevres"), email, "dpo", common::PASSWORD).await;
    let hostile = [
        "/console\r\nSet-Cookie: guichet_console=stolen",
        "/console/\t/evil.example",
        "/console\u{0}",
        "/console/requests\u{202e}fdp.exe",
        "/console /requests",
    ];
    for next in hostile {
        let query: String = url::form_urlencoded::Serializer::new(String::from("?"))
            .append_pair("next", next)
            .finish();
        let (shown, res) = post_sign_in(&app, email, &query, next).await;
        assert_eq!(shown, "/console", "the form's {next:?}");
        assert_eq!(res.status(), 303, "{next:?}: {}", page_of(res).await);
        assert_eq!(header(&res, "location"), "/console", "{next:?}");
    }
}

async fn planted_panic() -> HttpResponse {
    let name = "Zoé";
    panic!("a panic planted by the test, quoting {name}");
}

#[tokio::test]
async fn a_panic_is_logged_where_it_happened_without_its_message() {
    let app = spawn_app_with(
        |_| {},
        |cfg| {
            cfg.service(web::resource("/test/planted-panic").get(planted_panic));
        },
    )
    .await;
    let res = app.get("/test/planted-panic").await;
    assert_problem(res, 500, "internal_error").await;
    let logged: Vec<serde_json::Value> = logs()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("panicked at tests/api/input_rules.rs:"))
        })
        .collect();
    assert!(!logged.is_empty(), "the panic is logged");
    for line in &logged {
        assert_eq!(line["level"], "ERROR", "{line}");
        assert!(line["thread"].is_string(), "{line}");
        assert!(!line.to_string().contains("planted"), "no message: {line}");
    }
    drop(app);
}

#[test]
fn the_harness_fails_a_test_whose_service_panicked() {
    let service = [
        r#"{"level":"ERROR","message":"panicked at src/consent/stats.rs:40:21","location":"src/consent/stats.rs:40:21"}"#,
        r#"{"level":"ERROR","message":"panicked at /root/.cargo/registry/src/index/chrono-0.4.45/src/naive/date/mod.rs:1:1","location":"/root/.cargo/registry/src/index/chrono-0.4.45/src/naive/date/mod.rs:1:1"}"#,
        "thread 'actix-server worker 0' panicked at src/web/insight.rs:62:5:",
    ];
    for line in service {
        let caught = std::panic::catch_unwind(|| common::assert_no_panic_in(line));
        assert!(caught.is_err(), "{line}");
    }
    // A test's own failure, or a handler it mounts to panic, is not the
    // service's.
    common::assert_no_panic_in(
        r#"{"level":"ERROR","message":"panicked at tests/api/input_rules.rs:1:5","location":"tests/input_rules.rs:1:5"}"#,
    );
}

/// Whether `email` is on Val Parisis's suppression list, as `serve` says.
async fn listed(serve: &support::Serve, token: &str, email: &str) -> bool {
    let res = reqwest::Client::new()
        .get(serve.url("/v1/dpo/suppression/check"))
        .query(&[("email", email)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["listed"]
        .as_bool()
        .unwrap()
}

/// Submits a request to Val Parisis (no identity document asked); its id.
async fn submitted(serve: &support::Serve, kind: &str, scope: Option<&str>, email: &str) -> String {
    let mut body = request("Camille", "Benali");
    body["kind"] = json!(kind);
    body["scope"] = json!(scope);
    body["email"] = json!(email);
    let res = reqwest::Client::new()
        .post(serve.url("/v1/tenants/valparisis/requests"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The status of a sign-in with `email` and `password` on `serve`.
async fn sign_in_status(serve: &support::Serve, email: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(serve.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The value of `name = "…"` in the secrets file.
fn key_in(file: &str, name: &str) -> String {
    let prefix = format!("{name} = ");
    let line = file.lines().find(|l| l.starts_with(&prefix)).expect(name);
    line[prefix.len()..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_pseudonym_key_still_finds_what_the_old_one_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let (dpo, address) = ("dpo-rotation@valparisis.fr", "Lettre.Info@example.org");
    let serve = support::Serve::start(dir.path(), &db.url, &[]).await;
    support::add_staff(dir.path(), &db.url, "valparisis", dpo);
    let opposition = submitted(&serve, "opposition", Some("prospection"), address).await;
    let access = submitted(&serve, "access", None, address).await;
    let token = support::sign_in(&serve, dpo).await;
    let res = reqwest::Client::new()
        .post(serve.url(&format!("/v1/dpo/requests/{opposition}/transitions")))
        .bearer_auth(&token)
        .json(&json!({"to": "completed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(listed(&serve, &token, address).await);
    // An address locked by wrong passwords (sign-in locks are keyed by the
    // pseudonym of the address, too).
    let locked = "inconnu@valparisis.fr";
    for _ in 0..5 {
        assert_eq!(sign_in_status(&serve, locked, "pas le bon").await, 401);
    }
    assert_eq!(sign_in_status(&serve, locked, "pas le bon").await, 429);
    drop(serve);

    let path = dir.path().join("data").join("secrets.toml");
    let before = std::fs::read_to_string(&path).unwrap();
    let said = support::guichet_ok(
        dir.path(),
        &db.url,
        &["secrets", "rotate", "--pseudonym"],
        &[],
    );
    assert!(said.contains("rotated the pseudonym key"), "{said}");
    let after = std::fs::read_to_string(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "still private");
    assert_ne!(key_in(&after, "pseudonym"), key_in(&before, "pseudonym"));
    assert_eq!(
        key_in(&after, "pseudonym_retired"),
        format!("[{}]", key_in(&before, "pseudonym"))
    );
    for kept in ["jwt", "receipt", "document"] {
        assert_eq!(key_in(&after, kept), key_in(&before, kept), "{kept}");
    }

    // Started again with the new key: what the old one hashed still matches.
    let serve = support::Serve::start(dir.path(), &db.url, &[]).await;
    let token = support::sign_in(&serve, dpo).await;
    assert!(
        listed(&serve, &token, address).await,
        "listed before the rotation"
    );
    assert!(listed(&serve, &token, "LETTRE.INFO@example.org").await);
    assert!(!listed(&serve, &token, "quelqu.un@example.org").await);
    assert_eq!(
        sign_in_status(&serve, locked, "pas le bon").await,
        429,
        "still locked"
    );
    let again = submitted(&serve, "access", None, address).await;
    let mut conn = support::connect(&db.url);
    let rows: Vec<(String, Option<String>, Option<String>)> = rights_requests::table
        .filter(rights_requests::id.eq_any([&access, &again]))
        .select((
            rights_requests::id,
            rights_requests::duplicate_of,
            rights_requests::email_hash,
        ))
        .load(&mut conn)
        .unwrap();
    let row = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().clone();
    assert_eq!(
        row(&again).1.as_deref(),
        Some(access.as_str()),
        "a duplicate"
    );
    assert_ne!(row(&again).2, row(&access).2, "kept under the new key");
}

#[tokio::test]
async fn the_submission_limits_hold_a_bounded_number_of_addresses() {
    let app = spawn_app_with(
        |s| {
            s.tenants.get_mut("valparisis").unwrap().require_id_document = false;
            s.requests.submission_limit_keys = 2;
        },
        |_| {},
    )
    .await;
    let url = app.url("/v1/tenants/valparisis/requests");
    let send = |email: &'static str| {
        let mut body = request("Camille", "Benali");
        body["email"] = json!(email);
        app.client.post(&url).json(&body).send()
    };
    assert_eq!(send("un@example.org").await.unwrap().status(), 201);
    assert_eq!(send("deux@example.org").await.unwrap().status(), 201);
    // Both addresses are still counted: until one is done with, there is
    // no room, and the limit answers for none (see `KeyedLimit` for the
    // forgetting itself).
    let res = send("trois@example.org").await.unwrap();
    assert_eq!(header(&res, "retry-after"), "60");
    assert_problem(res, 503, "submissions_busy").await;
    let res = send("un@example.org").await.unwrap();
    assert_problem(res, 503, "submissions_busy").await;
    assert_eq!(recorded(&app).await.0, 2, "nothing more is recorded");
}
