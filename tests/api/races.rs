//! Changes racing on one request, through the real service: requests sent
//! together (released at once by a barrier), many at a time and for several
//! rounds. Of two moves that cannot both happen exactly one wins and the
//! other gets 409; the timeline, the queue's counts and the outbox (read
//! back from a real SMTP server) hold the winner only. The retention sweep
//! erases a request wholly before or wholly after a change made meanwhile.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{assert_problem, deliver, dpo, login, SmtpServer, TestApp, PASSWORD};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use futures_util::future::join_all;
use guichet::db::schema::{
    mail_outbox as outbox, request_counts as counts, request_due_days as due_days,
    request_events as events, rights_requests as requests, tracking_tokens as tokens,
};
use guichet::rights::counts::{day_of, span_start};
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::{json, Value};
use tokio::sync::Barrier;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nPIECE-IDENTITE\n%%EOF\n";
const DPO: &str = "dpo@ville-sevres.fr";
/// Requests raced at once in a round, and rounds: enough that the moves of
/// a round overlap on the database, whatever the scheduling.
const AT_ONCE: usize = 8;
const ROUNDS: usize = 3;

/// The service, its mail server, and a DPO of Sèvres signed in.
async fn started() -> (SmtpServer, TestApp, String) {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |s| {
        s.requests.submissions_per_ip_per_hour = 10_000;
        // Connections enough for every raced request to be in a
        // transaction at the same moment.
        s.database.pool_size = 2 * AT_ONCE as u32;
        s.retention.batch_size = 2;
        s.retention.batch_pause_ms = 1;
    })
    .await;
    let token = dpo(&app, "sevres", DPO).await;
    (smtp, app, token)
}

/// Submits `n` requests, each from its own address; returns them.
async fn submit_many(app: &TestApp, round: usize, n: usize) -> Vec<Value> {
    let forms = (0..n).map(|i| {
        let form = Form::new()
            .text("kind", "access")
            .text("first_name", "Zoé")
            .text("last_name", "Lefèvre")
            .text("email", address(round, i))
            .text("details", "Mes données, s'il vous plaît.")
            .part(
                "id_document",
                Part::bytes(PDF.to_vec()).file_name("carte.pdf"),
            );
        common::submit_form(app, "sevres", form)
    });
    join_all(forms).await
}

fn address(round: usize, i: usize) -> String {
    format!("r{round}-{i}@example.org")
}

fn id(request: &Value) -> String {
    request["id"].as_str().unwrap().to_owned()
}

/// Sends every request at the same moment; the answers in the same order.
async fn at_once(requests: Vec<RequestBuilder>) -> Vec<reqwest::Response> {
    let barrier = Arc::new(Barrier::new(requests.len()));
    let sent = requests.into_iter().map(|r| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            r.send().await.expect("request sent")
        })
    });
    join_all(sent)
        .await
        .into_iter()
        .map(|r| r.expect("request task"))
        .collect()
}

/// Sends both requests of every pair at the same moment; the answers in
/// pairs.
async fn pairs_at_once(
    pairs: Vec<(RequestBuilder, RequestBuilder)>,
) -> Vec<(reqwest::Response, reqwest::Response)> {
    let mut answers = at_once(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect())
        .await
        .into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (answers.next(), answers.next()) {
        out.push((a, b));
    }
    out
}

fn transition(app: &TestApp, token: &str, id: &str, to: &str) -> RequestBuilder {
    let body = match to {
        "rejected" => json!({"to": to, "reason": "Aucune donnée vous concernant."}),
        _ => json!({"to": to, "note": "Réponse jointe."}),
    };
    app.client
        .post(app.url(&format!("/v1/dpo/requests/{id}/transitions")))
        .bearer_auth(token)
        .json(&body)
}

fn extension(app: &TestApp, token: &str, id: &str) -> RequestBuilder {
    app.client
        .post(app.url(&format!("/v1/dpo/requests/{id}/extension")))
        .bearer_auth(token)
        .json(&json!({"reason": "Plusieurs services sont concernés."}))
}

/// The requester's upload of an identity document, with the tracking
/// token the submission gave.
fn upload(app: &TestApp, submitted: &Value) -> RequestBuilder {
    let tracking_token = submitted["tracking_token"].as_str().unwrap();
    app.client
        .post(app.url(&format!("/v1/requests/track/{tracking_token}/documents")))
        .multipart(Form::new().part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
        ))
}

fn message(app: &TestApp, token: &str, id: &str) -> RequestBuilder {
    app.client
        .post(app.url(&format!("/v1/dpo/requests/{id}/messages")))
        .bearer_auth(token)
        .json(&json!({"body": "Votre dossier avance."}))
}

/// One answer of each pair wins (`won`), the other is refused with 409 and
/// `code`; returns the index of the winner in each pair.
async fn one_wins(
    pairs: Vec<(reqwest::Response, reqwest::Response)>,
    won: u16,
    code: &str,
) -> Vec<usize> {
    let mut winners = Vec::new();
    for (a, b) in pairs {
        let (sa, sb) = (a.status().as_u16(), b.status().as_u16());
        let (winner, loser, index) = match (sa, sb) {
            (s, 409) if s == won => (a, b, 0),
            (409, s) if s == won => (b, a, 1),
            _ => panic!(
                "one of two conflicting changes must win and the other get 409: {sa} {}, {sb} {}",
                a.text().await.unwrap(),
                b.text().await.unwrap()
            ),
        };
        drop(winner);
        assert_problem(loser, 409, code).await;
        winners.push(index);
    }
    winners
}

/// The request's timeline: `(action, status, detail)` in order.
async fn timeline(app: &TestApp, id: &str) -> Vec<(String, Option<String>, Option<Value>)> {
    let id = id.to_owned();
    app.state
        .db
        .run(move |conn| {
            let rows: Vec<(String, Option<String>, Option<String>)> = events::table
                .filter(events::request_id.eq(&id))
                .order((events::at.asc(), events::id.asc()))
                .select((events::action, events::status, events::detail))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(a, s, d)| (a, s, d.map(|d| serde_json::from_str(&d).unwrap())))
                .collect())
        })
        .await
        .unwrap()
}

/// How many events of `action` the request's timeline holds.
async fn events(app: &TestApp, id: &str, action: &str) -> usize {
    let action = action.to_owned();
    timeline(app, id)
        .await
        .into_iter()
        .filter(|e| e.0 == action)
        .count()
}

/// How many documents the request holds.
async fn documents(app: &TestApp, id: &str) -> usize {
    use guichet::db::schema::request_documents as docs;
    let id = id.to_owned();
    let n: i64 = app
        .state
        .db
        .run(move |conn| {
            Ok(docs::table
                .filter(docs::request_id.eq(&id))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    n as usize
}

/// The request's row as stored: status, whether open, due date, erasure.
async fn stored(app: &TestApp, id: &str) -> (String, bool, NaiveDateTime, Option<NaiveDateTime>) {
    let id = id.to_owned();
    app.state
        .db
        .run(move |conn| {
            Ok(requests::table
                .find(&id)
                .select((
                    requests::status,
                    requests::is_open,
                    requests::due_at,
                    requests::erased_at,
                ))
                .first(conn)?)
        })
        .await
        .unwrap()
}

/// The outbox's messages to `to` from `template`.
async fn queued(app: &TestApp, to: &str, template: &str) -> i64 {
    let (to, template) = (to.to_owned(), template.to_owned());
    app.state
        .db
        .run(move |conn| {
            Ok(outbox::table
                .filter(outbox::recipient.eq(&to))
                .filter(outbox::template.eq(&template))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

/// The queue's kept counts are those a count of the requests gives: none
/// negative, none missing, none over.
async fn assert_counts_true(app: &TestApp) {
    type CountKey = (String, String, String);
    type DueKey = (String, i64, i64, String, String);
    let (kept, kept_due, rows) = app
        .state
        .db
        .run(|conn| {
            let kept: Vec<(String, String, String, i64)> = counts::table
                .select((counts::tenant_id, counts::status, counts::kind, counts::n))
                .load(conn)?;
            let kept_due: Vec<(String, i64, i64, String, String, i64)> = due_days::table
                .select((
                    due_days::tenant_id,
                    due_days::span,
                    due_days::due_day,
                    due_days::status,
                    due_days::kind,
                    due_days::n,
                ))
                .load(conn)?;
            let rows: Vec<(
                String,
                String,
                String,
                bool,
                Option<NaiveDateTime>,
                NaiveDateTime,
            )> = requests::table
                .select((
                    requests::tenant_id,
                    requests::status,
                    requests::kind,
                    requests::is_open,
                    requests::paused_at,
                    requests::due_at,
                ))
                .load(conn)?;
            Ok((kept, kept_due, rows))
        })
        .await
        .unwrap();
    let mut want: BTreeMap<CountKey, i64> = BTreeMap::new();
    let mut want_due: BTreeMap<DueKey, i64> = BTreeMap::new();
    for (tenant, status, kind, open, paused, due) in rows {
        *want
            .entry((tenant.clone(), status.clone(), kind.clone()))
            .or_default() += 1;
        if open && paused.is_none() {
            for span in [1, 32] {
                let key = (
                    tenant.clone(),
                    span,
                    span_start(day_of(due), span),
                    status.clone(),
                    kind.clone(),
                );
                *want_due.entry(key).or_default() += 1;
            }
        }
    }
    for (.., n) in &kept {
        assert!(*n >= 0, "a negative count: {kept:?}");
    }
    let kept: BTreeMap<CountKey, i64> = kept
        .into_iter()
        .filter(|r| r.3 != 0)
        .map(|(t, s, k, n)| ((t, s, k), n))
        .collect();
    assert_eq!(kept, want, "request_counts against the requests");
    let kept_due: BTreeMap<DueKey, i64> = kept_due
        .into_iter()
        .map(|(t, span, day, s, k, n)| ((t, span, day, s, k), n))
        .collect();
    assert_eq!(kept_due, want_due, "request_due_days against the requests");
}

/// Every message the SMTP server received, by recipient.
async fn delivered(app: &TestApp, smtp: &SmtpServer) -> HashMap<String, usize> {
    deliver(app).await;
    let mut by_recipient = HashMap::new();
    for raw in smtp.messages() {
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let to = parsed
            .to()
            .unwrap()
            .first()
            .unwrap()
            .address()
            .unwrap()
            .to_owned();
        *by_recipient.entry(to).or_insert(0) += 1;
    }
    by_recipient
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completed_and_rejected_at_once_one_wins_and_the_requester_hears_once() {
    let (smtp, app, token) = started().await;
    let mut outcomes = Vec::new();
    for round in 0..ROUNDS {
        let submitted = submit_many(&app, round, AT_ONCE).await;
        let raced = submitted.iter().map(|r| {
            (
                transition(&app, &token, &id(r), "completed"),
                transition(&app, &token, &id(r), "rejected"),
            )
        });
        let answers = pairs_at_once(raced.collect()).await;
        let winners = one_wins(answers, 200, "transition_not_allowed").await;
        for (i, (r, w)) in submitted.iter().zip(winners).enumerate() {
            let to = ["completed", "rejected"][w];
            outcomes.push((id(r), address(round, i), to));
        }
    }
    let sent = delivered(&app, &smtp).await;
    for (id, address, to) in &outcomes {
        let (status, open, ..) = stored(&app, id).await;
        assert_eq!((status.as_str(), open), (*to, false));
        let moves: Vec<_> = timeline(&app, id)
            .await
            .into_iter()
            .filter(|e| e.0 == "transition")
            .collect();
        assert_eq!(moves.len(), 1, "one move on the timeline: {moves:?}");
        assert_eq!(moves[0].1.as_deref(), Some(*to));
        assert_eq!(queued(&app, address, to).await, 1);
        let other = if *to == "completed" {
            "rejected"
        } else {
            "completed"
        };
        assert_eq!(queued(&app, address, other).await, 0);
        assert_eq!(
            sent.get(address),
            Some(&2),
            "the acknowledgement and one answer"
        );
    }
    assert_counts_true(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_extensions_at_once_one_wins_and_the_deadline_moves_once() {
    let (_smtp, app, token) = started().await;
    for round in 0..ROUNDS {
        let submitted = submit_many(&app, round, AT_ONCE).await;
        let raced = submitted.iter().map(|r| {
            (
                extension(&app, &token, &id(r)),
                extension(&app, &token, &id(r)),
            )
        });
        let answers = pairs_at_once(raced.collect()).await;
        one_wins(answers, 200, "extension_not_allowed").await;
        for (i, r) in submitted.iter().enumerate() {
            let (_, _, due, _) = stored(&app, &id(r)).await;
            // Received 2 March: one month, then two more.
            assert_eq!(
                due.and_utc(),
                "2026-06-02T09:30:00Z".parse::<DateTime<Utc>>().unwrap()
            );
            assert_eq!(events(&app, &id(r), "extension").await, 1);
            assert_eq!(queued(&app, &address(round, i), "extension").await, 1);
        }
    }
    assert_counts_true(&app).await;
}

/// Asks each request's requester for an identity document.
async fn awaiting_identity(app: &TestApp, token: &str, submitted: &[Value]) {
    let asked = submitted
        .iter()
        .map(|r| transition(app, token, &id(r), "awaiting_identity").send());
    for res in join_all(asked).await {
        assert_eq!(res.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_identity_uploads_at_once_one_is_taken() {
    let (_smtp, app, token) = started().await;
    for round in 0..ROUNDS {
        let submitted = submit_many(&app, round, AT_ONCE).await;
        awaiting_identity(&app, &token, &submitted).await;
        let raced = submitted.iter().map(|r| (upload(&app, r), upload(&app, r)));
        let answers = pairs_at_once(raced.collect()).await;
        one_wins(answers, 201, "not_awaiting_identity").await;
        for r in &submitted {
            let (status, open, ..) = stored(&app, &id(r)).await;
            assert_eq!((status.as_str(), open), ("received", true));
            assert_eq!(events(&app, &id(r), "document_uploaded").await, 1);
            assert_eq!(
                documents(&app, &id(r)).await,
                2,
                "the submission's document and one upload"
            );
        }
    }
    assert_counts_true(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moves_between_two_statuses_both_ways_at_once_all_go_through() {
    let (_smtp, app, token) = started().await;
    for round in 0..ROUNDS {
        // Requests of one kind go back to `received` while others leave
        // it for `awaiting_identity`: the same two counts, changed in
        // opposite directions.
        let submitted = submit_many(&app, round, 2 * AT_ONCE).await;
        let (back, away) = submitted.split_at(AT_ONCE);
        awaiting_identity(&app, &token, back).await;
        let raced = back.iter().zip(away).flat_map(|(b, a)| {
            [
                upload(&app, b),
                transition(&app, &token, &id(a), "awaiting_identity"),
            ]
        });
        for res in at_once(raced.collect()).await {
            let status = res.status().as_u16();
            assert!(
                status == 200 || status == 201,
                "{status} {}",
                res.text().await.unwrap()
            );
        }
    }
    assert_counts_true(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_identity_upload_racing_a_rejection_lands_before_it_or_not_at_all() {
    let (_smtp, app, token) = started().await;
    for round in 0..ROUNDS {
        let submitted = submit_many(&app, round, AT_ONCE).await;
        awaiting_identity(&app, &token, &submitted).await;
        let raced = submitted.iter().map(|r| {
            (
                upload(&app, r),
                transition(&app, &token, &id(r), "rejected"),
            )
        });
        let answers = pairs_at_once(raced.collect()).await;
        for (i, (r, (up, reject))) in submitted.iter().zip(answers).enumerate() {
            // Rejecting is allowed before and after the upload; the upload
            // only before the rejection.
            assert_eq!(reject.status(), 200, "{}", reject.text().await.unwrap());
            let uploaded = match up.status().as_u16() {
                201 => true,
                409 => {
                    assert_problem(up, 409, "not_awaiting_identity").await;
                    false
                }
                s => panic!("upload answered {s}: {}", up.text().await.unwrap()),
            };
            let (status, open, ..) = stored(&app, &id(r)).await;
            assert_eq!((status.as_str(), open), ("rejected", false));
            let steps: Vec<_> = timeline(&app, &id(r))
                .await
                .into_iter()
                .filter(|e| e.0 == "document_uploaded" || e.0 == "transition")
                .map(|(action, status, detail)| {
                    let from = detail
                        .and_then(|d| d["from"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    (action, status.unwrap_or_default(), from)
                })
                .collect();
            let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
            let mut expected = vec![s("transition", "awaiting_identity", "received")];
            if uploaded {
                expected.push(s("document_uploaded", "received", ""));
                expected.push(s("transition", "rejected", "received"));
            } else {
                expected.push(s("transition", "rejected", "awaiting_identity"));
            }
            assert_eq!(steps, expected, "the timeline walks the life cycle");
            assert_eq!(
                documents(&app, &id(r)).await,
                1 + usize::from(uploaded),
                "a refused upload keeps nothing"
            );
            assert_eq!(queued(&app, &address(round, i), "rejected").await, 1);
        }
    }
    assert_counts_true(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_erases_a_request_wholly_before_or_after_a_change_made_meanwhile() {
    let (_smtp, app, token) = started().await;
    // Closed on 2 March 2026: their requester's data go two years later.
    let old = submit_many(&app, 0, 2 * AT_ONCE).await;
    let closing = old
        .iter()
        .map(|r| transition(&app, &token, &id(r), "completed").send());
    for res in join_all(closing).await {
        assert_eq!(res.unwrap().status(), 200);
    }
    let as_of: DateTime<Utc> = "2028-03-03T00:00:00Z".parse().unwrap();
    app.clock.set(as_of);
    let fresh = submit_many(&app, 1, AT_ONCE).await;
    let token = login(&app, DPO, PASSWORD).await;

    // While the sweep erases the old requests, the DPO keeps writing to
    // their requesters, and closes the fresh ones.
    let swept = Arc::new(AtomicBool::new(false));
    let writers = old.iter().map(|r| {
        let (request, swept) = (message(&app, &token, &id(r)), swept.clone());
        async move {
            let mut accepted = 0;
            loop {
                let res = request.try_clone().unwrap().send().await.unwrap();
                match res.status().as_u16() {
                    202 => accepted += 1,
                    409 => {
                        assert_problem(res, 409, "requester_erased").await;
                        return accepted;
                    }
                    s => panic!("a message answered {s}: {}", res.text().await.unwrap()),
                }
                if swept.load(Ordering::SeqCst) && accepted > 100 {
                    return accepted;
                }
            }
        }
    });
    let closings = at_once(
        fresh
            .iter()
            .map(|r| transition(&app, &token, &id(r), "completed"))
            .collect(),
    );
    let sweep = async {
        let report = common::sweep_with(&app, as_of, false, None).await;
        swept.store(true, Ordering::SeqCst);
        report
    };
    let (report, accepted, closed) = tokio::join!(sweep, join_all(writers), closings);
    assert_eq!(report.status, "completed");
    for res in closed {
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    for (i, (r, accepted)) in old.iter().zip(accepted).enumerate() {
        let (_, _, _, erased) = stored(&app, &id(r)).await;
        assert!(erased.is_some(), "a request closed two years ago is erased");
        let steps = timeline(&app, &id(r)).await;
        // Erasure blanks every detail of the timeline: one written after
        // it would keep its own.
        assert!(
            steps.iter().all(|e| e.2.is_none()),
            "an event after the erasure: {steps:?}"
        );
        let messages = steps.iter().filter(|e| e.0 == "message").count();
        assert_eq!(messages, accepted, "each accepted message on the timeline");
        assert_eq!(
            queued(&app, &address(0, i), "dpo_message").await,
            accepted as i64,
            "each accepted message in the outbox, no other"
        );
        let id = id(r);
        let links: i64 = app
            .state
            .db
            .run(move |conn| {
                Ok(tokens::table
                    .filter(tokens::request_id.eq(&id))
                    .count()
                    .get_result(conn)?)
            })
            .await
            .unwrap();
        assert_eq!(links, 0, "no tracking link outlives the erasure");
    }
    for r in &fresh {
        let (status, open, _, erased) = stored(&app, &id(r)).await;
        assert_eq!((status.as_str(), open, erased), ("completed", false, None));
    }
    app.state
        .db
        .run(|conn| {
            common::seed::assert_swept_consistently(conn);
            Ok(())
        })
        .await
        .unwrap();
    assert_counts_true(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_kept_waiting_too_long_for_another_writer_answers_503_busy() {
    use diesel::connection::SimpleConnection;
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |s| s.database.sqlite_busy_timeout_ms = 200).await;
    if app.db.is_postgres() {
        // PostgreSQL changes wait on the rows they need, not on the file.
        return;
    }
    let token = dpo(&app, "sevres", DPO).await;
    let request = &submit_many(&app, 0, 1).await[0];
    // Another process writing, longer than the service waits.
    let path = app.db.url.trim_start_matches("sqlite://").to_owned();
    let mut writer = diesel::SqliteConnection::establish(&path).unwrap();
    writer.batch_execute("BEGIN IMMEDIATE").unwrap();
    let res = transition(&app, &token, &id(request), "completed")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_problem(res, 503, "busy").await;
    writer.batch_execute("COMMIT").unwrap();
    let (status, ..) = stored(&app, &id(request)).await;
    assert_eq!(status, "received", "nothing recorded");
    let res = transition(&app, &token, &id(request), "completed")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the same connection serves again");
}
