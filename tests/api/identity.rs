//! The requester's identity, decided by the DPO and then not kept longer
//! than needed; the DPO told of the identity documents that arrive; the
//! documents shown inline in the console; the tracking page after an
//! upload. Through the real service, with the e-mails read back from a
//! real SMTP server.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use std::sync::Arc;

use crate::common::pages::{console_get, console_post, header, page_of, sign_in};
use crate::common::{
    assert_problem, create_staff, deliver, dpo, get, login, post, SmtpServer, TestApp, PASSWORD,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use futures_util::future::join_all;
use guichet::db::schema::{request_documents as docs, rights_requests as requests};
use mail_parser::MessageParser;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use tokio::sync::Barrier;

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nPIECE-IDENTITE-MARQUEE\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-an-image";
const DPO: &str = "dpo@ville-sevres.fr";

/// Sèvres' service, its mail server, and its DPO signed in; `destroy` sets
/// the tenant's `delete_id_documents_on_verification`.
async fn started(destroy: bool) -> (SmtpServer, TestApp, String) {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |s| {
        s.requests.submissions_per_ip_per_hour = 10_000;
        s.database.pool_size = 12;
        s.tenants
            .get_mut("sevres")
            .unwrap()
            .delete_id_documents_on_verification = destroy;
    })
    .await;
    let token = dpo(&app, "sevres", DPO).await;
    (smtp, app, token)
}

/// A request of Sèvres with a PDF and a PNG; returns the 201's body.
async fn submitted(app: &TestApp, email: &str) -> Value {
    let form = Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", email.to_owned())
        .text("details", "Une copie de mes données, s'il vous plaît.")
        .part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("recto.pdf"),
        )
        .part(
            "id_document",
            Part::bytes(PNG.to_vec()).file_name("verso.png"),
        );
    common::submit_form(app, "sevres", form).await
}

fn id_of(request: &Value) -> String {
    request["id"].as_str().unwrap().to_owned()
}

fn decide(outcome: &str, method: &str, note: Option<&str>) -> Value {
    match note {
        Some(note) => json!({"outcome": outcome, "method": method, "note": note}),
        None => json!({"outcome": outcome, "method": method}),
    }
}

async fn detail(app: &TestApp, token: &str, id: &str) -> Value {
    let res = get(app, token, &format!("/v1/dpo/requests/{id}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The timeline's entries of `action`, their details in order.
fn entries(detail: &Value, action: &str) -> Vec<Value> {
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["detail"].clone())
        .collect()
}

/// The request's identity documents as stored: whether each still has its
/// content, and when it was purged.
async fn stored_documents(app: &TestApp, id: &str) -> Vec<(bool, Option<NaiveDateTime>)> {
    let id = id.to_owned();
    let rows: Vec<(Option<Vec<u8>>, Option<NaiveDateTime>)> = app
        .state
        .db
        .run(move |conn| {
            Ok(docs::table
                .filter(docs::request_id.eq(&id))
                .filter(docs::role.eq("id_document"))
                .order(docs::id.asc())
                .select((docs::ciphertext, docs::purged_at))
                .load(conn)?)
        })
        .await
        .unwrap();
    rows.into_iter().map(|(c, p)| (c.is_some(), p)).collect()
}

type StoredIdentity = (
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
);

/// The identity columns of the request's row.
async fn stored_identity(app: &TestApp, id: &str) -> StoredIdentity {
    let id = id.to_owned();
    app.state
        .db
        .run(move |conn| {
            Ok(requests::table
                .find(&id)
                .select((
                    requests::identity_outcome,
                    requests::identity_method,
                    requests::identity_at,
                    requests::identity_by,
                    requests::identity_note,
                ))
                .first(conn)?)
        })
        .await
        .unwrap()
}

/// The request's documents' ids, from its detail.
fn document_ids(detail: &Value) -> Vec<String> {
    detail["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn open_document(app: &TestApp, token: &str, id: &str, doc: &str) -> reqwest::Response {
    get(
        app,
        token,
        &format!("/v1/dpo/requests/{id}/documents/{doc}"),
    )
    .await
}

/// Asks for an identity document, then sends one from the tracking link
/// of the submission; returns the upload's answer.
async fn ask_and_upload(app: &TestApp, token: &str, request: &Value) -> Value {
    let id = id_of(request);
    let res = post(
        app,
        token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "awaiting_identity", "note": "La copie est illisible."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    app.clock.advance(chrono::Duration::days(6));
    let tracking = request["tracking_token"].as_str().unwrap();
    let res = app
        .client
        .post(app.url(&format!("/v1/requests/track/{tracking}/documents")))
        .multipart(Form::new().part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("nouvelle-carte.pdf"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_decision_is_recorded_shown_journaled_and_replaced_by_a_later_one() {
    let (_smtp, app, token) = started(false).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let path = format!("/v1/dpo/requests/{id}/identity");
    assert!(detail(&app, &token, &id).await["identity"].is_null());

    let res = post(
        &app,
        &token,
        &path,
        decide("insufficient", "id_document", Some("Photo illisible.")),
    )
    .await;
    assert_eq!(res.status(), 200);
    let decided: Value = res.json().await.unwrap();
    assert_eq!(decided["outcome"], "insufficient");
    assert_eq!(decided["method"], "id_document");
    assert_eq!(decided["at"], "2026-03-02T09:30:00Z");
    assert_eq!(decided["by"], DPO);
    let shown = detail(&app, &token, &id).await;
    assert_eq!(
        shown["identity"],
        json!({"outcome": "insufficient", "method": "id_document", "at": "2026-03-02T09:30:00Z", "by": DPO, "note": "Photo illisible."})
    );

    // A later decision replaces it; the timeline keeps both.
    app.clock.advance(chrono::Duration::days(2));
    let token = login(&app, DPO, PASSWORD).await;
    let res = post(&app, &token, &path, decide("verified", "in_person", None)).await;
    assert_eq!(res.status(), 200);
    let shown = detail(&app, &token, &id).await;
    assert_eq!(
        shown["identity"],
        json!({"outcome": "verified", "method": "in_person", "at": "2026-03-04T09:30:00Z", "by": DPO, "note": null})
    );
    let decisions = entries(&shown, "identity_decided");
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["outcome"], "insufficient");
    assert_eq!(decisions[0]["note"], "Photo illisible.");
    assert_eq!(decisions[1]["outcome"], "verified");
    assert_eq!(decisions[1]["method"], "in_person");
    assert_eq!(shown["status"], "received", "a decision moves nothing");

    // Without the tenant's setting, nothing is destroyed: both open.
    assert!(entries(&shown, "identity.documents_destroyed").is_empty());
    assert_eq!(
        stored_documents(&app, &id).await,
        vec![(true, None), (true, None)]
    );
    for doc in document_ids(&shown) {
        assert_eq!(open_document(&app, &token, &id, &doc).await.status(), 200);
    }

    // The audit log names the request by its reference, never the note.
    let audit: Value = get(&app, &token, "/v1/dpo/audit?kind=request.identity_decided")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 2);
    let reference = request["reference"].as_str().unwrap();
    for item in audit["items"].as_array().unwrap() {
        assert_eq!(item["subject_id"], reference);
        assert_eq!(item["actor"]["email"], DPO);
        assert!(!item.to_string().contains("Photo illisible"), "{item}");
        assert!(!item.to_string().contains(&id), "{item}");
    }
}

#[tokio::test]
async fn bad_decisions_are_refused_and_change_nothing() {
    let (_smtp, app, token) = started(false).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let path = format!("/v1/dpo/requests/{id}/identity");
    for (body, field) in [
        (decide("maybe", "id_document", None), "outcome"),
        (decide("verified", "telepathy", None), "method"),
        (json!({"outcome": "verified"}), "method"),
        (json!({"method": "in_person"}), "outcome"),
        (decide("verified", "other", Some(&"a".repeat(1001))), "note"),
        (decide("verified", "other", Some("bip\u{7}")), "note"),
    ] {
        let res = post(&app, &token, &path, body.clone()).await;
        let problem = assert_problem(res, 422, "validation_failed").await;
        let error = &problem["errors"][0];
        // A field left out is named in the message (the body's own path
        // is its root).
        let named = error["field"] == field
            || error["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("`{field}`")));
        assert!(named, "{body}: {problem}");
    }
    let res = post(
        &app,
        &token,
        &path,
        decide("verified", "other", Some(&"é".repeat(1000))),
    )
    .await;
    assert_eq!(res.status(), 200, "1000 characters are allowed");
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("outcome=verified")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = app
        .client
        .post(app.url(&path))
        .json(&decide("verified", "other", None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let shown = detail(&app, &token, &id).await;
    assert_eq!(entries(&shown, "identity_decided").len(), 1);

    // Another tenant's DPO: as if the request did not exist.
    let other = dpo(&app, "dunkerque", "dpo@dunkerque.fr").await;
    let res = post(&app, &other, &path, decide("insufficient", "other", None)).await;
    assert_problem(res, 404, "not_found").await;
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{}/identity", uuid::Uuid::now_v7()),
        decide("verified", "other", None),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(
        stored_identity(&app, &id).await.0.as_deref(),
        Some("verified")
    );

    // A closed request takes no decision.
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "completed", "note": "Voici vos données."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post(&app, &token, &path, decide("insufficient", "other", None)).await;
    assert_problem(res, 409, "request_closed").await;
    let shown = detail(&app, &token, &id).await;
    assert_eq!(shown["identity"]["outcome"], "verified");
    assert_eq!(entries(&shown, "identity_decided").len(), 1);
}

#[tokio::test]
async fn with_the_tenant_setting_a_verified_identity_destroys_the_documents_at_once() {
    let (_smtp, app, token) = started(true).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let path = format!("/v1/dpo/requests/{id}/identity");
    let docs = document_ids(&detail(&app, &token, &id).await);
    assert_eq!(docs.len(), 2);

    // Insufficient: the documents stay (the DPO may need them again).
    let res = post(
        &app,
        &token,
        &path,
        decide("insufficient", "id_document", None),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        stored_documents(&app, &id).await,
        vec![(true, None), (true, None)]
    );
    // An answer's attachment is the DPO's, not an identity document.
    let res = app
        .client
        .post(app.url(&format!("/v1/dpo/requests/{id}/messages")))
        .bearer_auth(&token)
        .multipart(Form::new().text("body", "Voici un premier extrait.").part(
            "attachment",
            Part::bytes(b"a;b\n1;2\n".to_vec()).file_name("extrait.csv"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let answer = detail(&app, &token, &id).await["messages"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.clock.advance(chrono::Duration::hours(3));
    let token = login(&app, DPO, PASSWORD).await;
    let res = post(&app, &token, &path, decide("verified", "id_document", None)).await;
    assert_eq!(res.status(), 200);
    let decided: Value = res.json().await.unwrap();
    assert_eq!(decided["documents_destroyed"], 2);
    let at: NaiveDateTime = "2026-03-02T12:30:00".parse().unwrap();
    assert_eq!(
        stored_documents(&app, &id).await,
        vec![(false, Some(at)), (false, Some(at))],
        "contents gone in the decision's transaction"
    );
    let shown = detail(&app, &token, &id).await;
    // The metadata and the decision stay.
    for d in shown["documents"].as_array().unwrap() {
        assert_eq!(d["purged_at"], "2026-03-02T12:30:00Z");
        assert_eq!(d["sha256"].as_str().unwrap().len(), 64);
        assert!(d["filename"].is_string() && d["size"].as_i64().unwrap() > 0);
    }
    assert_eq!(shown["identity"]["outcome"], "verified");
    assert_eq!(
        entries(&shown, "identity.documents_destroyed"),
        vec![json!({"documents": 2})]
    );
    let res = get(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/attachments/{answer}"),
    )
    .await;
    assert_eq!(res.status(), 200, "the answer's attachment stays");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"a;b\n1;2\n");
    for doc in &docs {
        let res = open_document(&app, &token, &id, doc).await;
        let problem = assert_problem(res, 410, "document_purged").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("verified"),
            "{problem}"
        );
    }
    // The console says why.
    let console = sign_in(&app, DPO).await;
    let page =
        page_of(console_get(&app, &console.cookie, &format!("/console/requests/{id}")).await).await;
    assert!(
        page.contains("contenu détruit après vérification de l&#x27;identité")
            || page.contains("contenu détruit après vérification de l'identité"),
        "{page}"
    );
    let res = console_get(
        &app,
        &console.cookie,
        &format!(
            "/console/requests/{id}/documents/{}?disposition=inline",
            docs[0]
        ),
    )
    .await;
    assert_eq!(res.status(), 410);

    // A second verified decision has nothing left to destroy.
    let res = post(&app, &token, &path, decide("verified", "in_person", None)).await;
    assert_eq!(res.status(), 200);
    let decided: Value = res.json().await.unwrap();
    assert_eq!(decided["documents_destroyed"], 0);
    let shown = detail(&app, &token, &id).await;
    assert_eq!(entries(&shown, "identity.documents_destroyed").len(), 1);
    assert_eq!(entries(&shown, "identity_decided").len(), 3);
}

#[tokio::test]
async fn the_note_is_erased_with_the_requesters_data_and_the_outcome_stays() {
    let (_smtp, app, token) = started(false).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/identity"),
        decide(
            "verified",
            "in_person",
            Some("Vue au guichet, carte présentée."),
        ),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "completed"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    // Two years after the closure, the requester's data go.
    common::sweep_with(&app, "2028-03-03T00:00:00Z".parse().unwrap(), false, None).await;
    let (outcome, method, at, by, note) = stored_identity(&app, &id).await;
    assert_eq!(outcome.as_deref(), Some("verified"));
    assert_eq!(method.as_deref(), Some("in_person"));
    assert!(at.is_some());
    assert_eq!(by.as_deref(), Some(DPO));
    assert_eq!(note, None, "the note is free text: erased");
    let shown = detail(&app, &token, &id).await;
    assert!(shown["erased_at"].is_string());
    assert!(!shown.to_string().contains("guichet, carte"));
}

/// Whether the queue marks the one request of the tenant « Nouvelle pièce ».
async fn new_document(app: &TestApp, token: &str) -> bool {
    let page: Value = get(app, token, "/v1/dpo/requests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    page["items"][0]["new_document"].as_bool().unwrap()
}

#[tokio::test]
async fn the_dpo_is_emailed_when_the_document_asked_for_arrives_and_the_queue_marks_it() {
    let (smtp, app, token) = started(false).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let reference = request["reference"].as_str().unwrap().to_owned();
    assert!(!new_document(&app, &token).await);
    deliver(&app).await;
    let before = smtp.messages().len();

    let uploaded = ask_and_upload(&app, &token, &request).await;
    assert_eq!(uploaded["status"], "received");
    // Signed in again: the clock moved past the token's life.
    let token = login(&app, DPO, PASSWORD).await;
    deliver(&app).await;
    let sent: Vec<_> = smtp.messages()[before..]
        .iter()
        .map(|raw| MessageParser::default().parse(raw).unwrap())
        .map(|m| {
            (
                m.to()
                    .unwrap()
                    .first()
                    .unwrap()
                    .address()
                    .unwrap()
                    .to_owned(),
                m.subject().unwrap_or("").to_owned(),
                m.body_text(0).unwrap().into_owned(),
                m.body_html(0).unwrap().into_owned(),
            )
        })
        .collect();
    let to_dpo: Vec<_> = sent.iter().filter(|m| m.0 == DPO).collect();
    assert_eq!(to_dpo.len(), 1, "one notice: {sent:?}");
    let (_, subject, text, html) = to_dpo[0];
    assert!(subject.contains(&reference), "{subject}");
    assert!(subject.contains("Pièce d'identité reçue"), "{subject}");
    assert!(text.contains(&format!("/console/requests/{id}")), "{text}");
    assert!(text.contains("8 avril 2026"), "the new due date: {text}");
    for secret in [
        "Zoé",
        "Lefèvre",
        "zoe@example.org",
        "PIECE-IDENTITE",
        "illisible",
    ] {
        assert!(!text.contains(secret) && !html.contains(secret), "{secret}");
    }

    // Marked in the queue (API and console) until the DPO opens it.
    assert!(new_document(&app, &token).await);
    let console = sign_in(&app, DPO).await;
    let queue = page_of(console_get(&app, &console.cookie, "/console").await).await;
    assert!(queue.contains("Nouvelle pièce"), "{queue}");
    let shown = detail(&app, &token, &id).await;
    assert_eq!(shown["new_document_at"], "2026-03-08T09:30:00Z");
    assert!(!new_document(&app, &token).await, "opened: seen");
    assert!(detail(&app, &token, &id).await["new_document_at"].is_null());
    let queue = page_of(console_get(&app, &console.cookie, "/console").await).await;
    assert!(!queue.contains("Nouvelle pièce"));

    // Opening one of its documents marks it seen too, and so does a move.
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "awaiting_identity"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let token_link = {
        deliver(&app).await;
        let letter = smtp
            .messages()
            .iter()
            .rev()
            .map(|raw| MessageParser::default().parse(raw).unwrap())
            .find(|m| m.to().unwrap().first().unwrap().address() == Some("zoe@example.org"))
            .unwrap()
            .body_text(0)
            .unwrap()
            .into_owned();
        let start = letter.find("/v1/requests/track/").unwrap() + 19;
        letter[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>()
    };
    let res = app
        .client
        .post(app.url(&format!("/v1/requests/track/{token_link}/documents")))
        .multipart(Form::new().part("id_document", Part::bytes(PDF.to_vec()).file_name("c.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(new_document(&app, &token).await);
    let doc = {
        let id = id.clone();
        app.state
            .db
            .run(move |conn| {
                Ok(docs::table
                    .filter(docs::request_id.eq(&id))
                    .order(docs::uploaded_at.desc())
                    .select(docs::id)
                    .first::<String>(conn)?)
            })
            .await
            .unwrap()
    };
    let res = console_get(
        &app,
        &console.cookie,
        &format!("/console/requests/{id}/documents/{doc}?disposition=inline"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(!new_document(&app, &token).await, "a document opened");
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "in_progress"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(!new_document(&app, &token).await);
}

#[tokio::test]
async fn the_tracking_page_says_the_document_arrived_rather_than_received_again() {
    let (_smtp, app, token) = started(false).await;
    let request = submitted(&app, "zoe@example.org").await;
    ask_and_upload(&app, &token, &request).await;
    let token = login(&app, DPO, PASSWORD).await;
    let tracking = request["tracking_token"].as_str().unwrap();

    // The API keeps its status, and says what each event was.
    let track: Value = app
        .get(&format!("/v1/requests/track/{tracking}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(track["status"], "received");
    assert_eq!(track["due_at"], "2026-04-08T09:30:00Z", "six paused days");
    let events: Vec<(&str, &str)> = track["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].as_str().unwrap(), e["event"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("received", "submitted"),
            ("awaiting_identity", "status_changed"),
            ("received", "identity_document_received"),
        ]
    );

    let page = page_of(app.get(&format!("/t/sevres/suivi/{tracking}")).await).await;
    assert!(
        page.contains("De nouveau en cours d&#x27;instruction")
            || page.contains("De nouveau en cours d'instruction"),
        "{page}"
    );
    let notice = page
        .split("id=\"resumed\"")
        .nth(1)
        .expect("the notice of the document received")
        .split("</div>")
        .next()
        .unwrap()
        .replace("&#x27;", "'");
    assert!(
        notice.contains("Pièce d'identité reçue le 8 mars 2026")
            && notice.contains("de nouveau en cours d'instruction")
            && notice.contains("8 avril 2026"),
        "{notice}"
    );
    let timeline = page
        .split("class=\"timeline\"")
        .nth(1)
        .unwrap()
        .replace("&#x27;", "'");
    assert_eq!(
        timeline.matches(">Reçue<").count(),
        1,
        "« Reçue » once: {timeline}"
    );
    assert!(timeline.contains("Pièce d'identité reçue"), "{timeline}");

    let page = page_of(
        app.get(&format!("/t/sevres/suivi/{tracking}?lang=en"))
            .await,
    )
    .await;
    assert!(page.contains("Back in progress"), "{page}");
    assert!(
        page.contains("Identity document received on 8 March 2026"),
        "{page}"
    );

    // Once the DPO moves it on, the page follows the status again.
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{}/transitions", id_of(&request)),
        json!({"to": "in_progress"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let page = page_of(app.get(&format!("/t/sevres/suivi/{tracking}")).await).await;
    assert!(!page.contains("id=\"resumed\""));
    assert!(page.contains("En cours de traitement"));
}

#[tokio::test]
async fn documents_open_inline_in_the_console_and_still_download() {
    let (_smtp, app, token) = started(false).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let docs = document_ids(&detail(&app, &token, &id).await);
    let sandboxed = |csp: &str| {
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        directives.contains(&"sandbox")
            && directives.contains(&"default-src 'none'")
            && !csp.contains("script-src")
            && !csp.contains("allow-scripts")
    };

    // The API: inline when asked, an attachment otherwise (as before).
    let inline = get(
        &app,
        &token,
        &format!(
            "/v1/dpo/requests/{id}/documents/{}?disposition=inline",
            docs[0]
        ),
    )
    .await;
    assert_eq!(inline.status(), 200);
    assert_eq!(header(&inline, "content-type"), "application/pdf");
    assert_eq!(
        header(&inline, "content-disposition"),
        "inline; filename=\"recto.pdf\"; filename*=UTF-8''recto.pdf"
    );
    assert_eq!(header(&inline, "cache-control"), "no-store");
    assert_eq!(header(&inline, "x-content-type-options"), "nosniff");
    assert!(sandboxed(&header(&inline, "content-security-policy")));
    assert_eq!(inline.bytes().await.unwrap().as_ref(), PDF);
    let attached = open_document(&app, &token, &id, &docs[1]).await;
    assert_eq!(attached.status(), 200);
    assert_eq!(header(&attached, "content-type"), "image/png");
    assert_eq!(
        header(&attached, "content-disposition"),
        "attachment; filename=\"verso.png\"; filename*=UTF-8''verso.png"
    );
    assert!(sandboxed(&header(&attached, "content-security-policy")));
    let res = get(
        &app,
        &token,
        &format!(
            "/v1/dpo/requests/{id}/documents/{}?disposition=somewhere",
            docs[0]
        ),
    )
    .await;
    assert_eq!(res.status(), 400);

    // The console: « Ouvrir » in a new tab, « Télécharger » as a file.
    let console = sign_in(&app, DPO).await;
    let page =
        page_of(console_get(&app, &console.cookie, &format!("/console/requests/{id}")).await).await;
    let inline_url = format!(
        "/console/requests/{id}/documents/{}?disposition=inline",
        docs[1]
    );
    let download_url = format!("/console/requests/{id}/documents/{}", docs[1]);
    assert!(
        page.contains(&format!(
            "href=\"{}\" target=\"_blank\"",
            inline_url.replace('&', "&amp;")
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"{download_url}\" class=\"download\"")),
        "{page}"
    );
    assert!(page.contains(">Ouvrir<") && page.contains(">Télécharger<"));
    let res = console_get(&app, &console.cookie, &inline_url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "content-disposition"),
        "inline; filename=\"verso.png\"; filename*=UTF-8''verso.png"
    );
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert!(sandboxed(&header(&res, "content-security-policy")));
    let res = console_get(&app, &console.cookie, &download_url).await;
    assert_eq!(
        header(&res, "content-disposition"),
        "attachment; filename=\"verso.png\"; filename*=UTF-8''verso.png"
    );

    // Each opening is journaled, with how it was shown.
    let shown = detail(&app, &token, &id).await;
    let openings = entries(&shown, "document_opened");
    assert_eq!(openings.len(), 4);
    assert_eq!(openings[0]["disposition"], "inline");
    assert_eq!(openings[1]["disposition"], "attachment");
    let audit: Value = get(&app, &token, "/v1/dpo/audit?kind=document.opened")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 4);
}

#[tokio::test]
async fn the_console_records_a_decision_from_the_requests_page() {
    let (_smtp, app, token) = started(true).await;
    let request = submitted(&app, "zoe@example.org").await;
    let id = id_of(&request);
    let console = sign_in(&app, DPO).await;
    let path = format!("/console/requests/{id}");
    let page = page_of(console_get(&app, &console.cookie, &path).await).await;
    assert!(page.contains("id=\"action-identity\""));
    assert!(
        page.contains("id=\"identity-destroys\""),
        "the setting is told"
    );

    // No outcome chosen: the page again, the error beside the field.
    let res = console_post(
        &app,
        &console.cookie,
        &format!("{path}/identity"),
        &[
            ("csrf", &console.csrf),
            ("method", "in_person"),
            ("note", "Au guichet"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let page = page_of(res).await;
    assert!(page.contains("id=\"identity-outcome-error\""), "{page}");
    assert!(page.contains("Au guichet"), "the note is kept");
    assert!(stored_identity(&app, &id).await.0.is_none());

    // Without the session's CSRF token: refused.
    let res = console_post(
        &app,
        &console.cookie,
        &format!("{path}/identity"),
        &[
            ("csrf", "forged"),
            ("outcome", "verified"),
            ("method", "in_person"),
        ],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(stored_identity(&app, &id).await.0.is_none());

    let res = console_post(
        &app,
        &console.cookie,
        &format!("{path}/identity"),
        &[
            ("csrf", &console.csrf),
            ("outcome", "verified"),
            ("method", "in_person"),
            ("note", "Carte présentée au guichet."),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), format!("{path}?done=identity"));
    let page =
        page_of(console_get(&app, &console.cookie, &format!("{path}?done=identity")).await).await;
    assert!(
        page.contains("La décision sur l&#x27;identité est enregistrée.")
            || page.contains("La décision sur l'identité est enregistrée.")
    );
    assert!(
        page.contains("<strong id=\"identity-outcome\">Identité vérifiée</strong>"),
        "{page}"
    );
    assert!(page.contains("Carte présentée au guichet."));
    let (outcome, method, _, by, _) = stored_identity(&app, &id).await;
    assert_eq!(
        (outcome.as_deref(), method.as_deref(), by.as_deref()),
        (Some("verified"), Some("in_person"), Some(DPO))
    );
    assert!(stored_documents(&app, &id).await.iter().all(|d| !d.0));
    assert_eq!(
        detail(&app, &token, &id).await["identity"]["outcome"],
        "verified"
    );

    // Another tenant's DPO gets a 404 page.
    create_staff(
        &app,
        Some("dunkerque"),
        "dpo@dunkerque.fr",
        "dpo",
        common::PASSWORD,
    )
    .await;
    let other = sign_in(&app, "dpo@dunkerque.fr").await;
    let res = console_post(
        &app,
        &other.cookie,
        &format!("{path}/identity"),
        &[
            ("csrf", &other.csrf),
            ("outcome", "insufficient"),
            ("method", "other"),
        ],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        stored_identity(&app, &id).await.0.as_deref(),
        Some("verified")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_decisions_at_once_leave_one_consistent_identity_and_both_on_the_timeline() {
    const REQUESTS: usize = 4;
    const ROUNDS: usize = 3;
    let (_smtp, app, token) = started(true).await;
    for round in 0..ROUNDS {
        let emails: Vec<String> = (0..REQUESTS)
            .map(|i| format!("r{round}-{i}@example.org"))
            .collect();
        let made = join_all(emails.iter().map(|e| submitted(&app, e))).await;
        let choices = [
            decide("verified", "in_person", Some("Au guichet.")),
            decide("insufficient", "id_document", Some("Photo floue.")),
        ];
        let barrier = Arc::new(Barrier::new(2 * REQUESTS));
        let sent = made.iter().flat_map(|r| {
            let id = id_of(r);
            choices
                .clone()
                .into_iter()
                .map(move |body| (id.clone(), body))
        });
        let tasks = sent.map(|(id, body)| {
            let barrier = barrier.clone();
            let request = app
                .client
                .post(app.url(&format!("/v1/dpo/requests/{id}/identity")))
                .bearer_auth(&token)
                .json(&body);
            tokio::spawn(async move {
                barrier.wait().await;
                request.send().await.unwrap().status().as_u16()
            })
        });
        for status in join_all(tasks).await {
            assert_eq!(status.unwrap(), 200);
        }
        for r in &made {
            let id = id_of(r);
            let shown = detail(&app, &token, &id).await;
            let decisions = entries(&shown, "identity_decided");
            assert_eq!(decisions.len(), 2, "both on the timeline");
            // The identity kept is wholly the later decision's.
            let last = decisions.last().unwrap();
            let identity = &shown["identity"];
            assert_eq!(identity["outcome"], last["outcome"]);
            assert_eq!(identity["method"], last["method"]);
            assert_eq!(identity["note"], last["note"]);
            let (outcome, method, _, _, note) = stored_identity(&app, &id).await;
            assert_eq!(outcome.as_deref(), last["outcome"].as_str());
            assert_eq!(method.as_deref(), last["method"].as_str());
            assert_eq!(note.as_deref(), last["note"].as_str());
            // Whichever came first, the verified one destroyed the
            // documents once.
            assert_eq!(entries(&shown, "identity.documents_destroyed").len(), 1);
            assert!(stored_documents(&app, &id).await.iter().all(|d| !d.0));
        }
    }
}
