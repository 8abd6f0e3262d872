//! Referents (issue #20): the DPO assigns a request to the service that
//! holds the data, with a due date and a note; the referent is e-mailed,
//! sees only what is assigned to it, answers with an internal note never
//! shown to the requester, and is reminded once when the due date passes.
//! Through the real service, the e-mails read back from a real SMTP
//! server, the console through its real pages.

use crate::common;

use crate::common::pages::{console_page, console_post, hidden, sign_in};
use crate::common::{
    assert_problem, create_staff, deliver, dpo, get, login, post, SmtpServer, TestApp, PASSWORD,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use diesel::prelude::*;
use guichet::db::schema::{mail_outbox as outbox, request_assignments, request_notes};
use serde_json::{json, Value};

/// Val Parisis asks for no identity document: its requests may be JSON.
const DPO: &str = "dpo@valparisis.fr";
const ETAT_CIVIL: &str = "etat-civil@valparisis.fr";
const URBANISME: &str = "urbanisme@valparisis.fr";
const NIMES_REFERENT: &str = "referent@nimes.fr";
const NOTE: &str = "Merci de rechercher l'acte de naissance SECRET-CONSIGNE";
const ANSWER: &str = "Acte trouvé au registre 1987, copie jointe au dossier SECRET-REPONSE";

async fn started(smtp: &SmtpServer) -> TestApp {
    common::spawn_app_with_smtp(smtp, |s| {
        s.requests.submissions_per_ip_per_hour = 1000;
        s.requests.submissions_per_email_per_day = 1000;
    })
    .await
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A citizen's access request to Val Parisis; its id and tracking token.
async fn request(app: &TestApp, email: &str) -> (String, String) {
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&json!({
            "kind": "access",
            "first_name": "Zoé",
            "last_name": "Lefèvre",
            "email": email,
            "details": "Une copie de mon acte de naissance.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    let token = body["tracking_token"].as_str().unwrap().to_owned();
    let id = common::pages::request_id(app, &token).await;
    (id, token)
}

async fn body(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status(), status, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// A 422 naming `field`.
async fn refused(res: reqwest::Response, field: &str) {
    let body = assert_problem(res, 422, "validation_failed").await;
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == field),
        "{field} in {body}"
    );
}

/// Rows of assignments, notes and the outbox.
async fn stored(app: &TestApp) -> (i64, i64, i64) {
    app.state
        .db
        .run(|conn| {
            Ok((
                request_assignments::table.count().get_result(conn)?,
                request_notes::table.count().get_result(conn)?,
                outbox::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

/// Runs the reminders' chore once; how many it queued.
async fn remind(app: &TestApp) -> usize {
    let reminders = app.state.reminders.clone();
    tokio::task::spawn_blocking(move || reminders.run_due())
        .await
        .unwrap()
        .expect("reminders run")
}

/// The letters to `to` so far, after a delivery pass.
async fn letters_to(app: &TestApp, smtp: &SmtpServer, to: &str) -> Vec<(String, String)> {
    deliver(app).await;
    smtp.letters()
        .into_iter()
        .filter(|(t, ..)| t.contains(to))
        .map(|(_, subject, text, _)| (subject, text))
        .collect()
}

#[tokio::test]
async fn a_referent_sees_only_what_is_assigned_answers_with_a_note_and_is_reminded_once() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let mut dpo = dpo(&app, "valparisis", DPO).await;
    create_staff(&app, Some("valparisis"), ETAT_CIVIL, "referent", PASSWORD).await;
    let mut referent = login(&app, ETAT_CIVIL, PASSWORD).await;
    let (assigned, tracking) = request(&app, "zoe@example.org").await;
    let (other, _) = request(&app, "marc@example.org").await;

    // Nothing assigned: an empty queue, and the requests are none of its.
    let queue = body(get(&app, &referent, "/v1/dpo/requests").await, 200).await;
    assert_eq!(queue["total"], 0, "{queue}");
    let res = get(&app, &referent, &format!("/v1/dpo/requests/{assigned}")).await;
    assert_eq!(res.status(), 404);

    let due = app.clock.now() + Duration::days(3);
    let made = body(
        post(
            &app,
            &dpo,
            &format!("/v1/dpo/requests/{assigned}/assignments"),
            json!({"referent_email": ETAT_CIVIL.to_uppercase(), "due_at": rfc3339(due), "note": NOTE}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(made["referent"], ETAT_CIVIL);
    assert_eq!(made["assigned_by"], DPO);
    assert_eq!(made["note"], NOTE);
    assert!(made["answered_at"].is_null() && !made["late"].as_bool().unwrap());

    // The referent is told, with the note and the console's link.
    let told = letters_to(&app, &smtp, ETAT_CIVIL).await;
    assert_eq!(told.len(), 1, "{told:?}");
    let (subject, text) = &told[0];
    assert!(subject.contains("DR-"), "{subject}");
    assert!(text.contains(NOTE), "{text}");
    assert!(
        text.contains(&format!("/console/requests/{assigned}")),
        "{text}"
    );

    // Its queue: the one request, with its assignment.
    let queue = body(get(&app, &referent, "/v1/dpo/requests").await, 200).await;
    assert_eq!(queue["total"], 1, "{queue}");
    assert_eq!(queue["items"][0]["id"], assigned.as_str());
    assert_eq!(queue["items"][0]["assignments"][0]["referent"], ETAT_CIVIL);
    // It reads it, to contribute: no move, no identity document.
    let read = body(
        get(&app, &referent, &format!("/v1/dpo/requests/{assigned}")).await,
        200,
    )
    .await;
    assert_eq!(read["next"], json!([]));
    assert_eq!(read["assignments"][0]["note"], NOTE);
    // The other request stays another's; it decides nothing.
    let res = get(&app, &referent, &format!("/v1/dpo/requests/{other}")).await;
    assert_eq!(res.status(), 404);
    let res = post(
        &app,
        &referent,
        &format!("/v1/dpo/requests/{other}/notes"),
        json!({"body": "x"}),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = post(
        &app,
        &referent,
        &format!("/v1/dpo/requests/{assigned}/transitions"),
        json!({"to": "in_progress"}),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = post(
        &app,
        &referent,
        &format!("/v1/dpo/requests/{assigned}/assignments"),
        json!({"referent_email": ETAT_CIVIL, "due_at": rfc3339(due)}),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    for listing in [
        "/v1/dpo/audit",
        "/v1/dpo/consents/stats",
        "/v1/dpo/reports/requests",
        "/v1/dpo/retention/runs",
    ] {
        let res = get(&app, &referent, listing).await;
        assert_eq!(res.status(), 403, "{listing}");
    }

    // Before the due date, no reminder; after it, one, once.
    assert_eq!(remind(&app).await, 0);
    app.clock.advance(Duration::days(4));
    // Four days on, both sign in again.
    dpo = login(&app, DPO, PASSWORD).await;
    referent = login(&app, ETAT_CIVIL, PASSWORD).await;
    let late = body(get(&app, &dpo, "/v1/dpo/requests").await, 200).await;
    let row = late["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == assigned.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["assignments"][0]["late"], true, "{row}");
    let (a, b) = (app.state.reminders.clone(), app.state.reminders.clone());
    let (x, y) = tokio::join!(
        tokio::task::spawn_blocking(move || a.run_due().unwrap()),
        tokio::task::spawn_blocking(move || b.run_due().unwrap())
    );
    assert_eq!(x.unwrap() + y.unwrap(), 1, "one reminder, whoever runs it");
    assert_eq!(remind(&app).await, 0, "reminded once");
    let told = letters_to(&app, &smtp, ETAT_CIVIL).await;
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told[1].0.contains("Rappel"), "{}", told[1].0);

    // The referent answers with an internal note: its assignment answered.
    let note = body(
        post(
            &app,
            &referent,
            &format!("/v1/dpo/requests/{assigned}/notes"),
            json!({"body": ANSWER}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(note["author"], ETAT_CIVIL);
    let read = body(
        get(&app, &dpo, &format!("/v1/dpo/requests/{assigned}")).await,
        200,
    )
    .await;
    assert_eq!(read["notes"][0]["body"], ANSWER);
    assert!(read["assignments"][0]["answered_at"].is_string(), "{read}");
    assert_eq!(read["assignments"][0]["late"], false);
    let actions: Vec<&str> = read["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"assigned") && actions.contains(&"noted"),
        "{actions:?}"
    );

    // Never shown to the requester, by its tracking nor by any mail.
    let res = app.get(&format!("/v1/requests/track/{tracking}")).await;
    let seen = res.text().await.unwrap();
    assert!(!seen.contains("SECRET-"), "{seen}");
    let page = app
        .get(&format!("/t/valparisis/suivi/{tracking}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("SECRET-"));
    deliver(&app).await;
    for (to, _, text, html) in smtp.letters() {
        if !to.contains(ETAT_CIVIL) {
            assert!(
                !text.contains("SECRET-") && !html.contains("SECRET-"),
                "to {to}"
            );
        }
    }
}

#[tokio::test]
async fn assignments_outside_the_rules_are_refused_whole() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let dpo = dpo(&app, "valparisis", DPO).await;
    let nimes = common::dpo(&app, "nimes", "dpo@nimes.fr").await;
    create_staff(&app, Some("valparisis"), URBANISME, "referent", PASSWORD).await;
    create_staff(&app, Some("nimes"), NIMES_REFERENT, "referent", PASSWORD).await;
    let (id, _) = request(&app, "zoe@example.org").await;
    let path = format!("/v1/dpo/requests/{id}/assignments");
    let due = rfc3339(app.clock.now() + Duration::days(5));
    let before = stored(&app).await;

    for (input, field) in [
        (
            json!({"referent_email": "personne@valparisis.fr", "due_at": due}),
            "referent_email",
        ),
        // A DPO is no referent.
        (
            json!({"referent_email": DPO, "due_at": due}),
            "referent_email",
        ),
        // Another tenant's referent.
        (
            json!({"referent_email": NIMES_REFERENT, "due_at": due}),
            "referent_email",
        ),
        (
            json!({"referent_email": URBANISME, "due_at": rfc3339(app.clock.now() - Duration::hours(1))}),
            "due_at",
        ),
        (
            json!({"referent_email": URBANISME, "due_at": rfc3339(app.clock.now() + Duration::days(400))}),
            "due_at",
        ),
        (
            json!({"referent_email": URBANISME, "due_at": due, "note": "a\u{0007}b"}),
            "note",
        ),
    ] {
        refused(post(&app, &dpo, &path, input).await, field).await;
    }
    let res = post(&app, &dpo, &path, json!({"referent_email": URBANISME})).await;
    assert_eq!(res.status(), 422, "no due date");
    // Another tenant's DPO: no such request.
    let res = post(
        &app,
        &nimes,
        &path,
        json!({"referent_email": NIMES_REFERENT, "due_at": due}),
    )
    .await;
    assert_eq!(res.status(), 404);
    // An empty note.
    refused(
        post(
            &app,
            &dpo,
            &format!("/v1/dpo/requests/{id}/notes"),
            json!({"body": "   "}),
        )
        .await,
        "body",
    )
    .await;
    assert_eq!(stored(&app).await, before, "nothing stored, nothing mailed");

    // A closed request is assigned to no one.
    for to in ["in_progress", "completed"] {
        let res = post(
            &app,
            &dpo,
            &format!("/v1/dpo/requests/{id}/transitions"),
            json!({"to": to, "note": "Voici vos données."}),
        )
        .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    let before = stored(&app).await;
    let res = post(
        &app,
        &dpo,
        &path,
        json!({"referent_email": URBANISME, "due_at": due}),
    )
    .await;
    assert_problem(res, 409, "request_closed").await;
    assert_eq!(stored(&app).await, before);
}

#[tokio::test]
async fn the_console_assigns_and_the_referent_answers_from_its_own_queue() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    create_staff(&app, Some("valparisis"), DPO, "dpo", PASSWORD).await;
    create_staff(&app, Some("valparisis"), ETAT_CIVIL, "referent", PASSWORD).await;
    let (id, _) = request(&app, "zoe@example.org").await;
    let (other, _) = request(&app, "marc@example.org").await;

    let office = sign_in(&app, DPO).await;
    let page = console_page(&app, &office.cookie, &format!("/console/requests/{id}")).await;
    assert!(
        page.contains("id=\"assign-referent_email\""),
        "the assign form"
    );
    assert!(page.contains(&format!("<option value=\"{ETAT_CIVIL}\"")));
    // A date in the past: shown beside its field, nothing kept.
    let yesterday = (app.clock.now() - Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let res = console_post(
        &app,
        &office.cookie,
        &format!("/console/requests/{id}/assign"),
        &[
            ("csrf", &office.csrf),
            ("referent_email", ETAT_CIVIL),
            ("due_on", &yesterday),
            ("note", NOTE),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("assign-due_on-error"),
        "the error beside the date"
    );
    assert!(html.contains("SECRET-CONSIGNE"), "the note kept");
    assert_eq!(stored(&app).await.0, 0);
    let due_on = (app.clock.now() + Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let res = console_post(
        &app,
        &office.cookie,
        &format!("/console/requests/{id}/assign"),
        &[
            ("csrf", &office.csrf),
            ("referent_email", ETAT_CIVIL),
            ("due_on", &due_on),
            ("note", NOTE),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let queue = console_page(&app, &office.cookie, "/console").await;
    assert!(queue.contains(ETAT_CIVIL), "the queue shows the assignment");

    // The referent's console: its one request, no statistics, a note form.
    let desk = sign_in(&app, ETAT_CIVIL).await;
    let queue = console_page(&app, &desk.cookie, "/console").await;
    assert!(queue.contains(&format!("/console/requests/{id}")));
    assert!(!queue.contains(&format!("/console/requests/{other}")));
    assert!(
        !queue.contains("href=\"/console/stats\""),
        "no statistics link"
    );
    let res =
        common::pages::console_get(&app, &desk.cookie, &format!("/console/requests/{other}")).await;
    assert_eq!(res.status(), 404);
    let page = console_page(&app, &desk.cookie, &format!("/console/requests/{id}")).await;
    assert!(page.contains("SECRET-CONSIGNE"));
    assert!(
        !page.contains("id=\"action-start\""),
        "no move for a referent"
    );
    assert!(
        !page.contains("id=\"assign-referent_email\""),
        "no assignment by a referent"
    );
    let csrf = hidden(&page, "csrf");
    let res = console_post(
        &app,
        &desk.cookie,
        &format!("/console/requests/{id}/note"),
        &[("csrf", &csrf), ("body", ANSWER)],
    )
    .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let page = console_page(&app, &office.cookie, &format!("/console/requests/{id}")).await;
    assert!(page.contains(ANSWER), "the DPO reads the referent's note");
    assert!(page.contains("Répondu le"), "the assignment answered");
}
