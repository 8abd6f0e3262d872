//! Several instances on one PostgreSQL, behind no balancer: three real
//! `guichet serve` processes, clients spread across their ports. Consents,
//! requests and staff sessions work on any instance; the scheduled sweep
//! and the DPO digest run once per slot; no e-mail is sent twice.
//!
//! On SQLite the same scenario runs with one instance: SQLite mode is one
//! instance by design (one file, one writer; the sweep lock is a file
//! beside it), so sharing is shown on PostgreSQL only.

#[path = "common/cluster.rs"]
mod cluster;
mod common;
mod pages_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use cluster::{lines_of, Cluster};
use common::{SmtpServer, PASSWORD};
use diesel::prelude::*;
use guichet::db::schema::{consent_events, mail_outbox, retention_runs, scheduled_runs};
use guichet::db::{ConnectionManager, DbConnection};
use guichet::requests::store::RequestRow;
use mail_parser::MessageParser;
use pages_common::{hidden, pair, set_cookie};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nCNI-INSTANCES\n%%EOF\n";
const DPO: &str = "dpo@ville-sevres.fr";
/// Expired consents waiting for the first scheduled sweep.
const EXPIRED: usize = 1500;
/// Overdue requests, for the digests of dunkerque and nimes.
const OVERDUE_TENANTS: [&str; 2] = ["dunkerque", "nimes"];
/// Scheduled sweeps to see before stopping, and how long to wait for them
/// and for the mail (the processes keep real time).
const SWEEPS: usize = 3;
const WAIT: Duration = Duration::from_secs(90);

/// Sweeps every two seconds and the digest due from midnight UTC, so that
/// both fire while the test runs; one message per claim of the outbox, so
/// that the instances' workers take turns.
const SCHEDULES: &str = r#"
[retention]
schedule = "*/2 * * * * *"
timezone = "UTC"
tick_secs = 1
batch_size = 200

[requests]
submissions_per_ip_per_hour = 1000

[mail]
poll_interval_ms = 100
batch_size = 1
digest_time = "00:00"
digest_timezone = "UTC"
"#;

fn connect(c: &Cluster) -> DbConnection {
    let settings = common::test_settings(c.dir.path(), &c.db);
    ConnectionManager::new(&settings.database)
        .unwrap()
        .open()
        .unwrap()
}

fn tenant_id(conn: &mut DbConnection, slug: &str) -> String {
    use guichet::db::schema::tenants;
    tenants::table
        .filter(tenants::slug.eq(slug))
        .select(tenants::id)
        .first(conn)
        .unwrap()
}

/// Consents 500 days old, past their 13 months, straight into the table.
fn seed_expired_consents(conn: &mut DbConnection, tenant: &str) {
    let at = (Utc::now() - chrono::Duration::days(500)).naive_utc();
    let rows: Vec<_> = (0..EXPIRED)
        .map(|i| {
            (
                consent_events::id.eq(uuid::Uuid::now_v7().to_string()),
                consent_events::tenant_id.eq(tenant.to_owned()),
                consent_events::subject_id.eq(uuid::Uuid::new_v4().to_string()),
                consent_events::event.eq("given"),
                consent_events::policy_version.eq("2026-01"),
                consent_events::choices.eq(r#"{"essential":true}"#),
                consent_events::gpc.eq(false),
                consent_events::at.eq(at + chrono::Duration::milliseconds(i as i64)),
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        guichet::on_backend!(conn, |c| diesel::insert_into(consent_events::table)
            .values(chunk)
            .execute(c)
            .unwrap());
    }
}

/// An open request three days overdue: the digest of its tenant lists it.
fn seed_overdue_request(conn: &mut DbConnection, tenant: &str, n: usize) {
    let now = Utc::now().naive_utc();
    let row = RequestRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        reference: format!("DR-OVERDUE{n}"),
        kind: "access".into(),
        status: "received".into(),
        is_open: true,
        first_name: Some("Camille".into()),
        last_name: Some("Benali".into()),
        email: Some(format!("camille{n}@example.org")),
        email_hash: Some(format!("hash{n}")),
        postal_address: None,
        details: None,
        scope: None,
        grounds: None,
        search_text: Some("camille benali".into()),
        received_at: now - chrono::Duration::days(34),
        due_at: now - chrono::Duration::days(3),
        paused_at: None,
        extended: false,
        extension_reason: None,
        closed_at: None,
        outcome_reason: None,
        duplicate_of: None,
        erased_at: None,
        updated_at: now,
    };
    guichet::requests::store::insert(conn, &row).unwrap();
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "{}", res.url().path());
    res.json().await.unwrap()
}

/// Waits for what the processes do on their own; fails after `WAIT`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Consents recorded on one instance are read, listed and withdrawn on the
/// others; every receipt verifies with the keys another instance publishes.
async fn consents_on_any_instance(c: &Cluster) {
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (client, url) = (c.client.clone(), c.url(i, "/v1/tenants/sevres/consents"));
        let choices = json!({"audience": i % 2 == 0, "twitter": i % 3 == 0});
        posts.spawn(async move {
            let body = json!({"subject_id": uuid::Uuid::new_v4(), "policy_version": "2026-01", "choices": choices});
            (i, client.post(url).json(&body).send().await.unwrap())
        });
    }
    let mut given = Vec::new();
    while let Some(done) = posts.join_next().await {
        let (i, res) = done.unwrap();
        given.push((i, json_of(res, 201).await));
    }
    for (i, body) in &given {
        let subject = body["subject_id"].as_str().unwrap();
        let path = format!("/v1/tenants/sevres/consents/{subject}");
        let read = json_of(c.client.get(c.url(i + 1, &path)).send().await.unwrap(), 200).await;
        assert_eq!(read["consent_id"], body["consent_id"]);
        assert_eq!(read["choices"], body["choices"]);
        let jwks = c
            .client
            .get(c.url(i + 2, "/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = jwks.json().await.unwrap();
        let receipt = body["receipt"].as_str().unwrap();
        let kid = jsonwebtoken::decode_header(receipt).unwrap().kid.unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).expect("published")).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(receipt, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["jti"], body["consent_id"]);
    }
    let (i, body) = &given[0];
    let path = format!(
        "/v1/tenants/sevres/consents/{}",
        body["subject_id"].as_str().unwrap()
    );
    let res = c.client.delete(c.url(i + 1, &path)).send().await.unwrap();
    assert_eq!(res.status(), 204);
    for other in [i + 2, *i] {
        let res = c.client.get(c.url(other, &path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "withdrawn everywhere");
    }
    let history = json_of(
        c.client
            .get(c.url(i + 2, &format!("{path}/history")))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let events: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(events, [json!("given"), json!("withdrawn")]);
}

fn form(email: &str) -> Form {
    Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Dubois")
        .text("email", email.to_owned())
        .text("details", "Copie de mes données. SECRET-DETAILS")
        .part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("carte.pdf"),
        )
}

/// Every message the SMTP server received, parsed: (Message-ID, To, text).
fn received(smtp: &SmtpServer) -> Vec<(String, String, String)> {
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

fn tracking_tokens(text: &str) -> Vec<String> {
    text.match_indices("/v1/requests/track/")
        .map(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}

/// Submissions on every instance; a DPO signed in on one works a request
/// on the others with the same token; the citizen sends the identity
/// document asked for on yet another one.
async fn requests_on_any_instance(c: &Cluster, smtp: &SmtpServer) -> Vec<Value> {
    let mut submissions = tokio::task::JoinSet::new();
    for i in 0..9 {
        let (client, url) = (c.client.clone(), c.url(i, "/v1/tenants/sevres/requests"));
        submissions.spawn(async move {
            let res = client
                .post(url)
                .multipart(form(&format!("demandeur{i}@example.org")))
                .send()
                .await
                .unwrap();
            (i, res)
        });
    }
    let mut submitted = BTreeMap::new();
    while let Some(done) = submissions.join_next().await {
        let (i, res) = done.unwrap();
        submitted.insert(i, json_of(res, 201).await);
    }
    let references: BTreeSet<String> = submitted
        .values()
        .map(|s| s["reference"].to_string())
        .collect();
    assert_eq!(references.len(), 9, "references unique across instances");

    let login = c
        .client
        .post(c.url(1, "/v1/auth/login"))
        .json(&json!({"email": DPO, "password": PASSWORD}));
    let token = json_of(login.send().await.unwrap(), 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..3 {
        let res = c
            .client
            .get(c.url(i, "/v1/dpo/requests"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_of(res, 200).await["total"],
            9,
            "the queue on instance {i}"
        );
    }
    let first = &submitted[&0];
    let id = first["id"].as_str().unwrap();
    let move_to = |i: usize, body: Value| {
        let url = c.url(i, &format!("/v1/dpo/requests/{id}/transitions"));
        c.client.post(url).bearer_auth(&token).json(&body).send()
    };
    json_of(move_to(2, json!({"to": "in_progress"})).await.unwrap(), 200).await;
    let asked = json!({"to": "awaiting_identity", "note": "Pièce illisible."});
    json_of(move_to(0, asked).await.unwrap(), 200).await;
    // The new tracking link comes by e-mail, from whichever instance sent it.
    let first_token = first["tracking_token"].as_str().unwrap().to_owned();
    let mut new_token = None;
    eventually("the request for an identity document", || {
        new_token = received(smtp)
            .into_iter()
            .filter(|m| m.1 == "demandeur0@example.org" && m.2.contains("Pièce illisible."))
            .flat_map(|m| tracking_tokens(&m.2))
            .find(|t| *t != first_token);
        new_token.is_some()
    })
    .await;
    let new_token = new_token.unwrap();
    let upload = Form::new().part(
        "id_document",
        Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
    );
    let url = c.url(1, &format!("/v1/requests/track/{new_token}/documents"));
    let res = c.client.post(url).multipart(upload).send().await.unwrap();
    assert_eq!(json_of(res, 201).await["status"], "received");
    let track = c
        .client
        .get(c.url(2, &format!("/v1/requests/track/{new_token}")));
    let tracked = json_of(
        track
            .header("accept", "application/json")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(tracked["status"], "received");

    let detail = c
        .client
        .get(c.url(0, &format!("/v1/dpo/requests/{id}")))
        .bearer_auth(&token);
    let detail = json_of(detail.send().await.unwrap(), 200).await;
    let docs = detail["documents"].as_array().unwrap();
    assert_eq!(
        docs.len(),
        2,
        "the first document and the one sent on request"
    );
    for (i, doc) in docs.iter().enumerate() {
        let path = format!(
            "/v1/dpo/requests/{id}/documents/{}",
            doc["id"].as_str().unwrap()
        );
        let res = c
            .client
            .get(c.url(i + 1, &path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.bytes().await.unwrap(),
            PDF,
            "decrypted by another instance"
        );
    }
    let url = c.url(2, &format!("/v1/dpo/requests/{id}/messages"));
    let res = c
        .client
        .post(url)
        .bearer_auth(&token)
        .json(&json!({"body": "Bonne journée."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    json_of(move_to(0, json!({"to": "in_progress"})).await.unwrap(), 200).await;
    json_of(
        move_to(1, json!({"to": "completed", "note": "Copie envoyée."}))
            .await
            .unwrap(),
        200,
    )
    .await;
    submitted.into_values().collect()
}

/// The console: signed in through one instance's form posted to another,
/// the session read by a third, a form of it accepted by the first.
async fn console_on_any_instance(c: &Cluster, submitted: &[Value]) {
    let form = c
        .client
        .get(c.url(0, "/console/login"))
        .send()
        .await
        .unwrap();
    let nonce = pair(&set_cookie(&form, "guichet_login").expect("the form's cookie"));
    let csrf = hidden(&form.text().await.unwrap(), "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("next", "/console"),
        ("email", DPO),
        ("password", PASSWORD),
    ];
    let res = c
        .client
        .post(c.url(1, "/console/login"))
        .header("cookie", &nonce)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "signed in on another instance than the form's"
    );
    let session = pair(&set_cookie(&res, "guichet_console").expect("a session"));
    let queue = c
        .client
        .get(c.url(2, "/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), 200);
    let html = queue.text().await.unwrap();
    let reference = submitted[1]["reference"].as_str().unwrap();
    assert!(html.contains(reference), "the queue lists {reference}");

    let id = submitted[1]["id"].as_str().unwrap();
    let page = c
        .client
        .get(c.url(2, &format!("/console/requests/{id}")))
        .header("cookie", &session);
    let csrf = hidden(&page.send().await.unwrap().text().await.unwrap(), "csrf");
    let url = c.url(0, &format!("/console/requests/{id}/transition"));
    let fields = [("to", "in_progress"), ("csrf", csrf.as_str())];
    let res = c
        .client
        .post(url)
        .header("cookie", &session)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "the form of one instance's page accepted by another"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_consents_requests_sessions_and_run_each_slot_once() {
    let smtp = SmtpServer::start();
    let mut c = Cluster::prepare(&smtp, SCHEDULES);
    let n = if c.db.is_postgres() {
        3
    } else {
        println!("SQLite: one instance (SQLite mode is one instance by design; several instances share a PostgreSQL database)");
        1
    };
    let started = Utc::now().naive_utc();
    {
        let mut conn = connect(&c);
        let sevres = tenant_id(&mut conn, "sevres");
        seed_expired_consents(&mut conn, &sevres);
        for (n, slug) in OVERDUE_TENANTS.iter().enumerate() {
            let tenant = tenant_id(&mut conn, slug);
            seed_overdue_request(&mut conn, &tenant, n);
        }
    }
    let args = [
        "users",
        "add",
        "--tenant",
        "sevres",
        "--email",
        DPO,
        "--role",
        "dpo",
        "--password-stdin",
    ];
    let out = c.cli(&args, Some(PASSWORD));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.start(n).await;

    consents_on_any_instance(&c).await;
    let submitted = requests_on_any_instance(&c, &smtp).await;
    console_on_any_instance(&c, &submitted).await;

    let mut conn = connect(&c);
    let schedule_runs = |conn: &mut DbConnection| -> Vec<guichet::retention::runs::RunRow> {
        retention_runs::table
            .filter(retention_runs::trigger.eq("schedule"))
            .order(retention_runs::started_at.asc())
            .select(retention_runs::all_columns)
            .load::<guichet::retention::runs::RunRow>(conn)
            .unwrap()
    };
    eventually("scheduled sweeps", || {
        schedule_runs(&mut conn)
            .iter()
            .filter(|r| r.status == "completed")
            .count()
            >= SWEEPS
    })
    .await;
    let outbox = |conn: &mut DbConnection| -> Vec<(String, String, String)> {
        mail_outbox::table
            .select((
                mail_outbox::message_id,
                mail_outbox::status,
                mail_outbox::template,
            ))
            .load(conn)
            .unwrap()
    };
    eventually("every message delivered", || {
        let rows = outbox(&mut conn);
        rows.iter().all(|r| r.1 == "sent") && received(&smtp).len() >= rows.len()
    })
    .await;
    // A second delivery would come now, if at all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.stop();

    // Mail: every queued message arrived once, by Message-ID; each was
    // sent by one instance only.
    let rows = outbox(&mut conn);
    let mut arrivals: BTreeMap<String, usize> = BTreeMap::new();
    for (id, _, _) in received(&smtp) {
        *arrivals.entry(format!("<{id}>")).or_default() += 1;
    }
    let queued: BTreeSet<_> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(arrivals.keys().cloned().collect::<BTreeSet<_>>(), queued);
    assert!(
        arrivals.values().all(|&k| k == 1),
        "a message arrived twice: {arrivals:?}"
    );
    assert!(
        rows.len() >= 23,
        "acknowledgements, DPO notices, letters, digests: {}",
        rows.len()
    );
    let senders: Vec<usize> = (0..n)
        .map(|i| c.logs(i).matches("\"mail sent\"").count())
        .collect();
    assert_eq!(
        senders.iter().sum::<usize>(),
        rows.len(),
        "sent per instance: {senders:?}"
    );
    println!("messages sent per instance: {senders:?}");
    if n > 1 {
        assert!(
            senders.iter().filter(|&&k| k > 0).count() > 1,
            "the instances' workers took turns: {senders:?}"
        );
    }

    // The digest: one claim of today's slot, one run, one letter per
    // tenant with overdue requests.
    let digest_slots: Vec<String> = scheduled_runs::table
        .filter(scheduled_runs::job.eq("dpo_digest"))
        .select(scheduled_runs::slot)
        .load(&mut conn)
        .unwrap();
    let runs: Vec<Value> = (0..n)
        .flat_map(|i| lines_of(&c.logs(i), "DPO digest"))
        .collect();
    assert_eq!(
        runs.len(),
        digest_slots.len(),
        "one digest run per slot: {runs:?}"
    );
    assert!(!digest_slots.is_empty());
    for run in &runs {
        assert_eq!(run["digests"], OVERDUE_TENANTS.len(), "{run}");
    }
    let digests = rows.iter().filter(|r| r.2 == "digest").count();
    assert_eq!(digests, OVERDUE_TENANTS.len() * digest_slots.len());

    // Sweeps: each slot claimed once and swept once, by one instance, one
    // after the other; together they removed every expired consent once.
    let runs = schedule_runs(&mut conn);
    let claimed: BTreeSet<String> = scheduled_runs::table
        .filter(scheduled_runs::job.eq("retention"))
        .select(scheduled_runs::slot)
        .load(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    let slots: BTreeSet<String> = runs
        .iter()
        .map(|r| r.slot.clone().expect("a slot"))
        .collect();
    assert_eq!(slots.len(), runs.len(), "a slot swept twice");
    assert!(slots.is_subset(&claimed));
    let unswept: Vec<_> = claimed.difference(&slots).collect();
    assert!(
        unswept.is_empty() || (unswept.len() == 1 && unswept[0] == claimed.last().unwrap()),
        "claimed but never swept: {unswept:?}"
    );
    for pair in runs.windows(2) {
        let end = pair[0]
            .finished_at
            .expect("only the last sweep may be cut by the stop");
        assert!(end <= pair[1].started_at, "two sweeps at once: {pair:?}");
    }
    let by_instance: Vec<BTreeSet<String>> = (0..n)
        .map(|i| {
            lines_of(&c.logs(i), "retention sweep")
                .iter()
                .filter_map(|l| l["run"].as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    for run in runs.iter().filter(|r| r.finished_at.is_some()) {
        let by = by_instance.iter().filter(|s| s.contains(&run.id)).count();
        assert_eq!(by, 1, "sweep {} logged by {by} instances", run.id);
    }
    println!(
        "scheduled sweeps: {} per instance: {:?}",
        runs.len(),
        by_instance.iter().map(|s| s.len()).collect::<Vec<_>>()
    );
    let removed: i64 = runs
        .iter()
        .flat_map(|r| r.removed().into_values())
        .filter_map(|c| c.get("consent_events").copied())
        .sum();
    assert_eq!(
        removed, EXPIRED as i64,
        "every expired consent removed once"
    );
    let limit: NaiveDateTime = started - chrono::Duration::days(400);
    let left: i64 = consent_events::table
        .filter(consent_events::at.lt(limit))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
}
