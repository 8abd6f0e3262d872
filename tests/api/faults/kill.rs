//! `kill -9` of the real `guichet serve`: while a large multipart
//! submission is streaming in (with whole submissions racing it), and
//! while its scheduled sweep runs. After a restart: every acknowledged
//! request is whole and readable, nothing half written is left, and the
//! next submission and the next sweep complete.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use guichet::db::schema::{retention_runs, rights_requests};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use super::support::{self, assert_no_half_request, connect, guichet_ok, pdf, Serve, PDF_HEAD};
use crate::common::seed;
use crate::common::TestDatabase;

const MIB: usize = 1024 * 1024;
const DPO: &str = "dpo@ville-sevres.fr";

/// Mail to files, no sweep unless asked, many submissions per address.
const SERVE: [(&str, &str); 2] = [
    ("GUICHET__RETENTION__SCHEDULER", "false"),
    ("GUICHET__REQUESTS__SUBMISSIONS_PER_IP_PER_HOUR", "1000"),
];

fn form(email: &str, documents: [Vec<u8>; 2]) -> Form {
    let mut form = Form::new()
        .text("kind", "access")
        .text("first_name", "Camille")
        .text("last_name", "Benali")
        .text("email", email.to_owned())
        .text("details", "SECRET-DETAILS");
    for (i, bytes) in documents.into_iter().enumerate() {
        form = form.part(
            "id_document",
            Part::bytes(bytes).file_name(format!("piece-{i}.pdf")),
        );
    }
    form
}

/// A submission whose 9 MiB document arrives 64 KiB at a time, every
/// 20 ms; `sent` counts the bytes handed to the connection.
fn slow_upload(email: &str, sent: Arc<AtomicUsize>) -> (String, reqwest::Body) {
    const BOUNDARY: &str = "fault-boundary-7d1c";
    const CHUNK: usize = 64 * 1024;
    let mut head = Vec::new();
    for (name, value) in [
        ("kind", "access"),
        ("first_name", "Camille"),
        ("last_name", "Benali"),
        ("email", email),
        ("details", "SECRET-DETAILS"),
    ] {
        write!(
            head,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(
        head,
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"id_document\"; \
         filename=\"scan.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .unwrap();
    head.extend_from_slice(PDF_HEAD);
    let tail = format!("\n%%EOF\n\r\n--{BOUNDARY}--\r\n").into_bytes();
    let chunks = 9 * MIB / CHUNK - 1;
    let stream = futures_util::stream::unfold(0usize, move |i| {
        let (head, tail, sent) = (head.clone(), tail.clone(), sent.clone());
        async move {
            let chunk = match i {
                0 => head,
                i if i <= chunks => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    vec![b'x'; CHUNK]
                }
                i if i == chunks + 1 => tail,
                _ => return None,
            };
            sent.fetch_add(chunk.len(), Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(chunk), i + 1))
        }
    });
    (
        format!("multipart/form-data; boundary={BOUNDARY}"),
        reqwest::Body::wrap_stream(stream),
    )
}

/// Signs the DPO in and reads back every document of `request`.
async fn documents_of(serve: &Serve, token: &str, request: &str) -> Vec<Vec<u8>> {
    let client = reqwest::Client::new();
    let detail: Value = client
        .get(serve.url(&format!("/v1/dpo/requests/{request}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for doc in detail["documents"].as_array().unwrap() {
        let id = doc["id"].as_str().unwrap();
        let res = client
            .get(serve.url(&format!("/v1/dpo/requests/{request}/documents/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        out.push(res.bytes().await.unwrap().to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: kills guichet serve processes; cargo test -- --include-ignored"]
async fn serve_killed_mid_upload_keeps_every_acknowledged_request_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut serve = Serve::start(dir.path(), &db.url, &SERVE).await;
    let client = reqwest::Client::new();
    let (c, url) = (client.clone(), serve.url("/v1/tenants/sevres/requests"));
    let submit = move |email: String, fill: u8| {
        let (client, url) = (c.clone(), url.clone());
        async move {
            let docs = [pdf(MIB, fill), pdf(MIB / 2, fill + 1)];
            let res = client.post(url).multipart(form(&email, docs)).send().await;
            match res {
                Ok(r) if r.status() == 201 => {
                    let body: Value = r.json().await.unwrap();
                    Some(body["id"].as_str().unwrap().to_owned())
                }
                Ok(r) => panic!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(_) => None,
            }
        }
    };
    let before = submit("before@example.org".into(), b'b').await.unwrap();

    // The slow upload, and whole submissions racing the kill.
    let sent = Arc::new(AtomicUsize::new(0));
    let (content_type, body) = slow_upload("slow@example.org", sent.clone());
    let slow = tokio::spawn(
        client
            .post(serve.url("/v1/tenants/sevres/requests"))
            .header("content-type", content_type)
            .body(body)
            .send(),
    );
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut racers = Vec::new();
    for r in 0..3u8 {
        let (submit, acknowledged) = (submit.clone(), acknowledged.clone());
        racers.push(tokio::spawn(async move {
            for n in 0.. {
                match submit(format!("racer{r}-{n}@example.org"), b'c' + r).await {
                    Some(id) => acknowledged.lock().unwrap().push(id),
                    None => break,
                }
            }
        }));
    }
    crate::common::wait_until(
        "3 MiB sent and 3 requests acknowledged",
        Duration::from_secs(60),
        || {
            let progressed =
                sent.load(Ordering::SeqCst) >= 3 * MIB && acknowledged.lock().unwrap().len() >= 3;
            async move { progressed }
        },
    )
    .await;
    serve.kill9();
    let cut = slow.await.unwrap();
    assert!(cut.is_err(), "the slow upload was cut: {cut:?}");
    assert!(sent.load(Ordering::SeqCst) < 9 * MIB, "killed mid-upload");
    for racer in racers {
        racer.await.unwrap();
    }
    let mut acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    acknowledged.push(before.clone());

    // Nothing half written: every request whole, no stray document.
    let mut conn = connect(&db.url);
    let stored: Vec<(String, Option<String>)> = rights_requests::table
        .select((rights_requests::id, rights_requests::email))
        .load(&mut conn)
        .unwrap();
    for id in &acknowledged {
        assert!(
            stored.iter().any(|(s, _)| s == id),
            "request {id} acknowledged and lost"
        );
    }
    assert!(
        !stored
            .iter()
            .any(|(_, e)| e.as_deref() == Some("slow@example.org")),
        "nothing of the cut upload"
    );
    assert_eq!(assert_no_half_request(&mut conn, 2), stored.len() as i64);

    // Restarted: the documents read back, the next submission and the
    // next sweep complete.
    support::add_staff(dir.path(), &db.url, "sevres", DPO);
    let serve = Serve::start(dir.path(), &db.url, &SERVE).await;
    let token = support::sign_in(&serve, DPO).await;
    assert_eq!(
        documents_of(&serve, &token, &before).await,
        [pdf(MIB, b'b'), pdf(MIB / 2, b'c')]
    );
    let res = reqwest::Client::new()
        .post(serve.url("/v1/tenants/sevres/requests"))
        .multipart(form("after@example.org", [pdf(MIB, b'a'), pdf(1024, b'z')]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let report: Value =
        serde_json::from_str(&guichet_ok(dir.path(), &db.url, &["purge", "--json"], &[])).unwrap();
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(
        assert_no_half_request(&mut conn, 2),
        stored.len() as i64 + 1
    );
    drop(serve);
}

fn runs(conn: &mut guichet::db::DbConnection) -> Vec<(String, String, String)> {
    retention_runs::table
        .order(retention_runs::started_at.asc())
        .select((
            retention_runs::trigger,
            retention_runs::status,
            retention_runs::removed,
        ))
        .load(conn)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: kills guichet serve processes; cargo test -- --include-ignored"]
async fn serve_killed_mid_sweep_resumes_it_at_restart_and_keeps_new_consents() {
    const REQUESTS: usize = 300;
    const CONSENTS: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    guichet_ok(dir.path(), &db.url, &["migrate"], &[]);
    guichet_ok(dir.path(), &db.url, &["tenants", "list"], &[]);
    let mut conn = connect(&db.url);
    let dunkerque = seed::tenant_id(&mut conn, "dunkerque");
    let sevres = seed::tenant_id(&mut conn, "sevres");
    seed::closed_requests(
        &mut conn,
        &dir.path().join("data"),
        &dunkerque,
        REQUESTS,
        800,
    );
    seed::consents(&mut conn, &db.url, &sevres, CONSENTS, 500);

    // The scheduled slot has not run yet: the sweep starts with the
    // service, in small batches so that it lasts seconds.
    let sweeping = [
        ("GUICHET__RETENTION__TICK_SECS", "1"),
        ("GUICHET__RETENTION__BATCH_SIZE", "10"),
        ("GUICHET__RETENTION__BATCH_PAUSE_MS", "20"),
    ];
    let mut serve = Serve::start(dir.path(), &db.url, &sweeping).await;
    let client = reqwest::Client::new();
    let mut given = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Consents keep being recorded while the sweep runs.
        let res = client
            .post(serve.url("/v1/tenants/sevres/consents"))
            .json(&json!({"policy_version": "2026-01", "choices": {"audience": true}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        given.push(body["consent_id"].as_str().unwrap().to_owned());
        let state = runs(&mut conn);
        if state
            .first()
            .is_some_and(|(_, _, removed)| removed.contains("requests_erased"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the sweep made no progress");
    }
    serve.kill9();
    let state = runs(&mut conn);
    assert_eq!(state.len(), 1);
    assert_eq!(
        (state[0].0.as_str(), state[0].1.as_str()),
        ("schedule", "running")
    );
    seed::assert_swept_consistently(&mut conn);

    // Restarted, the service closes the run as interrupted and finishes it.
    let serve = Serve::start(dir.path(), &db.url, &sweeping).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let statuses: Vec<_> = runs(&mut conn)
            .into_iter()
            .map(|(t, s, _)| (t, s))
            .collect();
        if statuses.len() == 2 && statuses[1].1 == "completed" {
            assert_eq!(
                statuses[0],
                ("schedule".to_owned(), "interrupted".to_owned())
            );
            assert_eq!(statuses[1].0, "resume");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sweep was not resumed: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(serve);
    seed::assert_swept_consistently(&mut conn);
    let left: i64 = rights_requests::table
        .filter(rights_requests::erased_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(left, 0, "every old request erased");
    let consents = seed::consent_ids(&mut conn, &db.url);
    assert_eq!(
        consents.len(),
        given.len(),
        "old consents gone, new ones kept"
    );
    for id in &given {
        assert!(consents.contains(id), "consent {id} acknowledged and lost");
    }
}
