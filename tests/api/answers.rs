//! The DPO's answers through the real service: messages, closing notes and
//! rejection reasons with their attachments, kept sealed in the database,
//! delivered through the tracking page, announced by an e-mail read back
//! from a real SMTP server, refused whole when anything is wrong, and
//! erased by the retention sweep with the rest of the requester's data.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the helpers below; split, a suite would be read in pieces.)

use crate::common;

use std::sync::Arc;

use crate::common::{
    assert_problem, deliver, dpo, get, login, post, SmtpServer, TestApp, PASSWORD,
};
use diesel::prelude::*;
use futures_util::future::join_all;
use guichet::db::schema::{
    mail_outbox as outbox, request_documents as docs, request_events as events,
    request_messages as messages,
};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Barrier;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nPIECE-IDENTITE\n%%EOF\n";
const DPO: &str = "dpo@ville-sevres.fr";
/// What a citizen asked for, as the town's systems export it.
const EXTRACT: &[u8] = b"nom;prenom;inscription\nLefevre;Zoe;EXTRAIT-DES-FICHIERS-MUNICIPAUX\n";
const LETTER: &[u8] =
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nCOURRIER-DE-REPONSE-SIGNE\n%%EOF\n";
const BODY: &str = "Madame,\nVeuillez trouver ci-joint l'extrait demandé. TEXTE-DU-MESSAGE";

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The service with its mail to `smtp`, after `adjust`; a DPO of Sèvres
/// signed in.
async fn started(
    smtp: &SmtpServer,
    adjust: impl FnOnce(&mut guichet::config::Settings),
) -> (TestApp, String) {
    let app = common::spawn_app_with_smtp(smtp, |s| {
        s.requests.submissions_per_ip_per_hour = 1000;
        s.requests.submissions_per_email_per_day = 1000;
        adjust(s);
    })
    .await;
    let token = dpo(&app, "sevres", DPO).await;
    (app, token)
}

/// A request of Sèvres with its identity document; the 201's body.
async fn submitted(app: &TestApp, email: &str) -> Value {
    let form = Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", email.to_owned())
        .text("details", "Mes données, s'il vous plaît.")
        .part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("carte.pdf"),
        );
    common::submit_form(app, "sevres", form).await
}

fn id(request: &Value) -> String {
    request["id"].as_str().unwrap().to_owned()
}

fn file(name: &str, bytes: &[u8]) -> Part {
    Part::bytes(bytes.to_vec()).file_name(name.to_owned())
}

/// A message as a multipart form: its body and its attachments.
fn message_form(body: &str, files: Vec<(&str, &[u8])>) -> Form {
    files.into_iter().fold(
        Form::new().text("body", body.to_owned()),
        |form, (name, bytes)| form.part("attachment", file(name, bytes)),
    )
}

async fn send(app: &TestApp, token: &str, request: &str, form: Form) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/dpo/requests/{request}/messages")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn detail(app: &TestApp, token: &str, request: &str) -> Value {
    let res = get(app, token, &format!("/v1/dpo/requests/{request}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn track(app: &TestApp, tracking_token: &str) -> Value {
    let res = app
        .get(&format!("/v1/requests/track/{tracking_token}"))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// What the database holds of a request's answers: its messages, its
/// files, its timeline and the outbox, counted.
async fn held(app: &TestApp, request: &str) -> (i64, i64, i64, i64) {
    let request = request.to_owned();
    app.state
        .db
        .run(move |conn| {
            let m: i64 = messages::table
                .filter(messages::request_id.eq(&request))
                .count()
                .get_result(conn)?;
            let d: i64 = docs::table
                .filter(docs::request_id.eq(&request))
                .count()
                .get_result(conn)?;
            let e: i64 = events::table
                .filter(events::request_id.eq(&request))
                .count()
                .get_result(conn)?;
            let o: i64 = outbox::table.count().get_result(conn)?;
            Ok((m, d, e, o))
        })
        .await
        .unwrap()
}

/// The raw mails received so far, each as (to, subject, text, html).
async fn mails(app: &TestApp, smtp: &SmtpServer) -> Vec<(String, String, String, String)> {
    deliver(app).await;
    smtp.letters()
}

/// The tracking token of the link a letter carries.
fn link_token(text: &str) -> String {
    let start = text.find("/v1/requests/track/").expect("a tracking link") + 19;
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn a_message_with_two_attachments_is_sealed_listed_and_delivered_through_the_tracking_page() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |_| {}).await;
    let request = submitted(&app, "zoe.answers@example.org").await;
    let rid = id(&request);
    mails(&app, &smtp).await;

    let res = send(
        &app,
        &token,
        &rid,
        message_form(
            BODY,
            vec![("extrait.csv", EXTRACT), ("Réponse signée.pdf", LETTER)],
        ),
    )
    .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    let message_id = queued["message"]["id"].as_str().unwrap().to_owned();

    // The DPO's detail: the message, its text whole, its files with the
    // SHA-256 of the bytes sent; the identity documents stay apart.
    let d = detail(&app, &token, &rid).await;
    assert_eq!(
        d["documents"].as_array().unwrap().len(),
        1,
        "{}",
        d["documents"]
    );
    assert_eq!(d["documents"][0]["filename"], "carte.pdf");
    let m = &d["messages"][0];
    assert_eq!(d["messages"].as_array().unwrap().len(), 1);
    assert_eq!(m["id"], message_id.as_str());
    assert_eq!(m["author"], DPO);
    assert_eq!(m["kind"], "message");
    assert_eq!(m["body"], BODY);
    assert_eq!(m["at"], "2026-03-02T09:30:00Z");
    let files = m["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["filename"], "extrait.csv");
    assert_eq!(files[0]["content_type"], "text/plain");
    assert_eq!(files[0]["size"], EXTRACT.len());
    assert_eq!(files[0]["sha256"], sha256(EXTRACT));
    assert_eq!(files[1]["filename"], "Réponse signée.pdf");
    assert_eq!(files[1]["content_type"], "application/pdf");
    assert_eq!(files[1]["sha256"], sha256(LETTER));
    // The timeline shows the message's text, naming it.
    let said = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "message")
        .expect("the message on the timeline");
    assert_eq!(said["actor"], DPO);
    assert_eq!(said["detail"]["message_id"], message_id.as_str());
    assert_eq!(said["detail"]["body"], BODY);

    // At rest, sealed: no stored byte string is the file, or holds it.
    let attachments: Vec<(Option<Vec<u8>>, String, Option<String>)> = {
        let rid = rid.clone();
        app.state
            .db
            .run(move |conn| {
                Ok(docs::table
                    .filter(docs::request_id.eq(&rid))
                    .filter(docs::role.eq("attachment"))
                    .select((docs::ciphertext, docs::sha256, docs::message_id))
                    .load(conn)?)
            })
            .await
            .unwrap()
    };
    assert_eq!(attachments.len(), 2);
    for (sealed, _, message) in &attachments {
        let sealed = sealed.as_deref().expect("content held");
        assert_eq!(message.as_deref(), Some(message_id.as_str()));
        for plain in [EXTRACT, LETTER] {
            assert_ne!(sealed, plain);
            assert!(!sealed
                .windows(20)
                .any(|w| plain.windows(20).any(|p| p == w)));
        }
    }

    // The e-mail announces it: the link, the number of files, never the
    // text or the files.
    let all = mails(&app, &smtp).await;
    let letter = all.last().unwrap();
    assert_eq!(letter.0, "zoe.answers@example.org");
    for part in [&letter.1, &letter.2, &letter.3] {
        assert!(!part.contains("TEXTE-DU-MESSAGE"), "{part}");
        assert!(!part.contains("EXTRAIT-DES-FICHIERS"), "{part}");
        assert!(!part.contains("COURRIER-DE-REPONSE"), "{part}");
    }
    assert!(letter.2.contains("2 fichiers joints"), "{}", letter.2);
    let mailed = link_token(&letter.2);

    // The tracking page, by the link of the e-mail or of the submission.
    for tracking_token in [mailed.as_str(), request["tracking_token"].as_str().unwrap()] {
        let t = track(&app, tracking_token).await;
        assert_eq!(t["identity_awaited"], false);
        assert_eq!(t["clock_paused"], false);
        let m = &t["messages"][0];
        assert_eq!(m["id"], message_id.as_str());
        assert_eq!(m["body"], BODY);
        assert_eq!(m["kind"], "message");
        assert!(
            m.get("author").is_none(),
            "the staff member's address stays inside"
        );
        let files = m["attachments"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1]["filename"], "Réponse signée.pdf");
        assert_eq!(files[1]["size"], LETTER.len());
    }
    let t = track(&app, &mailed).await;
    let letter_id = t["messages"][0]["attachments"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .get(&format!(
            "/v1/requests/track/{mailed}/attachments/{letter_id}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/pdf");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let disposition = header("content-disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''R%C3%A9ponse%20sign%C3%A9e.pdf"),
        "{disposition}"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), LETTER, "byte for byte");

    // The download is on the DPO's timeline.
    let d = detail(&app, &token, &rid).await;
    let downloaded: Vec<&Value> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "attachment.downloaded")
        .collect();
    assert_eq!(downloaded.len(), 1, "{}", d["events"]);
    assert_eq!(downloaded[0]["actor"], "requester");
    assert_eq!(downloaded[0]["detail"]["attachment"], letter_id.as_str());

    // The DPO opens it too, journaled as documents are.
    let res = get(
        &app,
        &token,
        &format!("/v1/dpo/requests/{rid}/attachments/{letter_id}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), LETTER);
    let d = detail(&app, &token, &rid).await;
    assert!(
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "document_opened"
                && e["detail"]["document"] == letter_id.as_str())
    );

    // The audit log names the request by its reference, the message by its
    // id, length and files' hashes; never its text, never the raw id.
    let audit: Value = get(&app, &token, "/v1/dpo/audit?kind=request.message")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 1, "{audit}");
    let entry = &audit["items"][0];
    assert_eq!(entry["detail"]["request"], request["reference"]);
    assert_eq!(entry["detail"]["message"], message_id.as_str());
    assert_eq!(entry["detail"]["kind"], "message");
    assert_eq!(entry["detail"]["length"], BODY.chars().count());
    assert_eq!(
        entry["detail"]["attachments"],
        json!([sha256(EXTRACT), sha256(LETTER)])
    );
    let told = entry.to_string();
    assert!(
        !told.contains("TEXTE-DU-MESSAGE") && !told.contains(&rid),
        "{told}"
    );
}

#[tokio::test]
async fn a_message_is_refused_whole_when_anything_in_it_is_wrong() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |s| {
        s.requests.max_attachment_bytes = 4096;
    })
    .await;
    let rid = id(&submitted(&app, "refus@example.org").await);
    let before = held(&app, &rid).await;
    assert_eq!(
        (before.0, before.1),
        (0, 1),
        "no message, the identity document"
    );

    let too_long = "é".repeat(50_001);
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{rid}/messages"),
        json!({ "body": too_long }),
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "body");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("50000"),
        "{problem}"
    );
    let res = send(&app, &token, &rid, message_form(&too_long, vec![])).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "body");
    assert_eq!(held(&app, &rid).await, before);

    let html = b"\xef\xbb\xbf \n\t<!DocType HTML><p>bonjour</p>";
    let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    let refused: Vec<(&str, &[u8])> = vec![
        ("rapport.pdf", b"MZ\x90\x00\x03\x00\x00\x00PE-EXECUTABLE"),
        ("notes.txt", b"\x7fELF\x02\x01\x01\x00"),
        ("outil", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01"),
        ("lisez-moi.txt", b"#!/bin/sh\nrm -rf ~\n"),
        ("page.txt", html),
        ("dessin.xml", svg),
        ("script.txt", b"  <SCRIPT>alert(1)</SCRIPT>"),
        ("installer.EXE", b"just text"),
        ("page.html", b"just text"),
        ("macro.vbs ", b"just text"),
        ("image.svg", b"just text"),
    ];
    for (name, bytes) in refused {
        let form = message_form("Bonjour", vec![("extrait.csv", EXTRACT), (name, bytes)]);
        let res = send(&app, &token, &rid, form).await;
        let problem = assert_problem(res, 415, "attachment_type").await;
        assert!(problem["detail"].is_string(), "{name}");
        assert_eq!(held(&app, &rid).await, before, "{name}: nothing stored");
    }

    let six = (0..6).map(|_| ("extrait.csv", EXTRACT)).collect();
    let res = send(&app, &token, &rid, message_form("Bonjour", six)).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "attachment");
    assert_eq!(held(&app, &rid).await, before);

    // A text part under the files' name is not a file: refused, not kept
    // as one.
    let form = Form::new()
        .text("body", "Bonjour")
        .part("attachment", Part::text("{}"));
    let res = send(&app, &token, &rid, form).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "attachment");
    assert_eq!(held(&app, &rid).await, before);

    let big = vec![b'a'; 4097];
    let res = send(
        &app,
        &token,
        &rid,
        message_form("Bonjour", vec![("gros.txt", &big)]),
    )
    .await;
    assert_problem(res, 413, "payload_too_large").await;
    assert_eq!(held(&app, &rid).await, before);
    assert_eq!(app.state.uploads.in_use(), 0, "the budget given back");
    assert_eq!(
        mails(&app, &smtp).await.len(),
        2,
        "the acknowledgement and the DPO's notice, nothing else"
    );

    // Just under the limit, whole: not a character cut.
    let long = format!("{}\n{}", "Données : ".repeat(4_999), "é".repeat(8));
    assert_eq!(long.chars().count(), 49_999);
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{rid}/messages"),
        json!({ "body": long }),
    )
    .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let stored: Vec<Option<String>> = {
        let rid = rid.clone();
        app.state
            .db
            .run(move |conn| {
                Ok(messages::table
                    .filter(messages::request_id.eq(&rid))
                    .select(messages::body)
                    .load(conn)?)
            })
            .await
            .unwrap()
    };
    assert_eq!(stored, vec![Some(long.clone())]);
    assert_eq!(
        detail(&app, &token, &rid).await["messages"][0]["body"],
        long
    );
    // And exactly at the limit, sent as a form.
    let res = send(
        &app,
        &token,
        &rid,
        message_form(&"x".repeat(50_000), vec![]),
    )
    .await;
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn another_tenant_another_request_and_unknown_attachments_are_404() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |_| {}).await;
    let a = submitted(&app, "a@example.org").await;
    let b = submitted(&app, "b@example.org").await;
    let (aid, bid) = (id(&a), id(&b));
    let res = send(
        &app,
        &token,
        &aid,
        message_form("Bonjour", vec![("extrait.csv", EXTRACT)]),
    )
    .await;
    assert_eq!(res.status(), 202);
    let t = track(&app, a["tracking_token"].as_str().unwrap()).await;
    let attachment = t["messages"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let nimes = dpo(&app, "nimes", "dpo@nimes.fr").await;
    let before = held(&app, &aid).await;
    let res = send(
        &app,
        &nimes,
        &aid,
        message_form("Bonjour", vec![("extrait.csv", EXTRACT)]),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .client
        .post(app.url(&format!("/v1/dpo/requests/{aid}/transitions")))
        .bearer_auth(&nimes)
        .multipart(
            Form::new()
                .text("to", "completed")
                .text("note", "Réponse")
                .part("attachment", file("extrait.csv", EXTRACT)),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    assert_eq!(held(&app, &aid).await, before);
    for path in [
        format!("/v1/dpo/requests/{aid}/attachments/{attachment}"),
        format!("/v1/dpo/requests/{aid}"),
    ] {
        assert_problem(get(&app, &nimes, &path).await, 404, "not_found").await;
    }

    // Another request's attachment, by the DPO's route and by the other
    // requester's link; an id no file has; not an id.
    assert_problem(
        get(
            &app,
            &token,
            &format!("/v1/dpo/requests/{bid}/attachments/{attachment}"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let b_token = b["tracking_token"].as_str().unwrap();
    let a_token = a["tracking_token"].as_str().unwrap();
    for (tracking, file_id) in [
        (b_token, attachment.as_str()),
        (a_token, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
        (a_token, "not-an-id"),
        ("not-a-token", attachment.as_str()),
    ] {
        let res = app
            .get(&format!(
                "/v1/requests/track/{tracking}/attachments/{file_id}"
            ))
            .await;
        assert_problem(res, 404, "not_found").await;
    }
    // An identity document is no attachment of the tracking page.
    let d = detail(&app, &token, &aid).await;
    let id_document = d["documents"][0]["id"].as_str().unwrap();
    let res = app
        .get(&format!(
            "/v1/requests/track/{a_token}/attachments/{id_document}"
        ))
        .await;
    assert_problem(res, 404, "not_found").await;
    let events = d["events"].as_array().unwrap();
    assert!(!events
        .iter()
        .any(|e| e["action"] == "attachment.downloaded"));
}

#[tokio::test]
async fn completing_or_rejecting_with_a_note_and_files_is_one_step() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |_| {}).await;
    let request = submitted(&app, "cloture@example.org").await;
    let rid = id(&request);
    let transition = |form: Form| {
        app.client
            .post(app.url(&format!("/v1/dpo/requests/{rid}/transitions")))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    };

    // A forbidden file: nothing moves.
    let before = held(&app, &rid).await;
    let res = transition(
        Form::new()
            .text("to", "completed")
            .text("note", "Voici votre réponse. NOTE-DE-CLOTURE")
            .part("attachment", file("extrait.csv", EXTRACT))
            .part("attachment", file("lancer.bat", b"echo")),
    )
    .await
    .unwrap();
    assert_problem(res, 415, "attachment_type").await;
    assert_eq!(held(&app, &rid).await, before);
    assert_eq!(detail(&app, &token, &rid).await["status"], "received");
    // Files go with a closing note or a rejection's reason only.
    let res = transition(
        Form::new()
            .text("to", "in_progress")
            .part("attachment", file("extrait.csv", EXTRACT)),
    )
    .await
    .unwrap();
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "attachment");
    assert_eq!(held(&app, &rid).await, before);

    let res = transition(
        Form::new()
            .text("to", "completed")
            .text("note", "Voici votre réponse. NOTE-DE-CLOTURE")
            .part("attachment", file("extrait.csv", EXTRACT)),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["status"], "completed");
    let m = &d["messages"][0];
    assert_eq!(m["kind"], "closing_note");
    assert_eq!(m["body"], "Voici votre réponse. NOTE-DE-CLOTURE");
    assert_eq!(m["attachments"][0]["sha256"], sha256(EXTRACT));
    let moved = d["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(moved["action"], "transition");
    assert_eq!(moved["detail"]["message_id"], m["id"]);

    let all = mails(&app, &smtp).await;
    let letter = all.last().unwrap();
    assert_eq!(letter.0, "cloture@example.org");
    assert!(letter.1.contains("demande traitée"), "{}", letter.1);
    assert!(!letter.2.contains("NOTE-DE-CLOTURE") && !letter.3.contains("NOTE-DE-CLOTURE"));
    assert!(letter.2.contains("un fichier joint"), "{}", letter.2);
    let t = track(&app, &link_token(&letter.2)).await;
    assert_eq!(t["status"], "completed");
    assert_eq!(t["messages"][0]["kind"], "closing_note");
    assert_eq!(
        t["messages"][0]["body"],
        "Voici votre réponse. NOTE-DE-CLOTURE"
    );
    let file_id = t["messages"][0]["attachments"][0]["id"].as_str().unwrap();
    let res = app
        .get(&format!(
            "/v1/requests/track/{}/attachments/{file_id}",
            link_token(&letter.2)
        ))
        .await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), EXTRACT);

    // A rejection: its reason is an answer too, JSON or multipart.
    let other = submitted(&app, "refus2@example.org").await;
    let oid = id(&other);
    let res = app
        .client
        .post(app.url(&format!("/v1/dpo/requests/{oid}/transitions")))
        .bearer_auth(&token)
        .multipart(
            Form::new()
                .text("to", "rejected")
                .text("reason", "Aucune donnée vous concernant. MOTIF-DU-REFUS")
                .part("attachment", file("registre.pdf", LETTER))
                .part("attachment", file("extrait.csv", EXTRACT)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let d: Value = res.json().await.unwrap();
    assert_eq!(
        d["outcome_reason"],
        "Aucune donnée vous concernant. MOTIF-DU-REFUS"
    );
    assert_eq!(d["messages"][0]["kind"], "rejection_reason");
    assert_eq!(d["messages"][0]["attachments"].as_array().unwrap().len(), 2);
    let all = mails(&app, &smtp).await;
    let letter = all.last().unwrap();
    assert_eq!(letter.0, "refus2@example.org");
    assert!(!letter.2.contains("MOTIF-DU-REFUS") && !letter.3.contains("MOTIF-DU-REFUS"));
    assert!(
        letter.2.contains("https://www.cnil.fr/fr/plaintes"),
        "the right to complain"
    );
    let t = track(&app, &link_token(&letter.2)).await;
    assert_eq!(
        t["messages"][0]["body"],
        "Aucune donnée vous concernant. MOTIF-DU-REFUS"
    );
    assert_eq!(t["messages"][0]["kind"], "rejection_reason");

    let third = id(&submitted(&app, "refus3@example.org").await);
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{third}/transitions"),
        json!({"to": "rejected", "reason": "Demande sans objet."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["messages"][0]["kind"], "rejection_reason");
    assert_eq!(d["messages"][0]["body"], "Demande sans objet.");
    assert_eq!(d["messages"][0]["attachments"], json!([]));
}

#[tokio::test]
async fn the_tracking_page_says_when_the_clock_waits_for_an_identity_document() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |_| {}).await;
    let request = submitted(&app, "attente@example.org").await;
    let rid = id(&request);
    let tracking = request["tracking_token"].as_str().unwrap();
    let t = track(&app, tracking).await;
    assert_eq!(
        (&t["identity_awaited"], &t["clock_paused"], &t["messages"]),
        (&json!(false), &json!(false), &json!([]))
    );
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{rid}/transitions"),
        json!({"to": "awaiting_identity", "note": "La copie est illisible."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let t = track(&app, tracking).await;
    assert_eq!(t["identity_awaited"], true);
    assert_eq!(t["clock_paused"], true);
    assert_eq!(t["identity_reason"], "La copie est illisible.");
    assert_eq!(
        t["messages"],
        json!([]),
        "the request for a document is no answer"
    );
}

#[tokio::test]
async fn the_sweep_past_the_requester_data_erases_the_texts_and_destroys_the_files() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |_| {}).await;
    let request = submitted(&app, "retention@example.org").await;
    let rid = id(&request);
    let res = send(
        &app,
        &token,
        &rid,
        message_form(BODY, vec![("extrait.csv", EXTRACT)]),
    )
    .await;
    assert_eq!(res.status(), 202);
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{rid}/transitions"),
        json!({"to": "completed", "note": "Réponse complète. NOTE-DE-CLOTURE"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let tracking = request["tracking_token"].as_str().unwrap().to_owned();
    let d = detail(&app, &token, &rid).await;
    let file_id = d["messages"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let download = format!("/v1/dpo/requests/{rid}/attachments/{file_id}");

    // One year: the identity document goes, the answer stays.
    app.clock.set("2028-06-01T00:00:00Z".parse().unwrap());
    let token = login(&app, DPO, PASSWORD).await;
    let r = common::sweep_with(&app, "2027-03-02T09:30:01Z".parse().unwrap(), false, None).await;
    assert_eq!(r.removed["sevres"]["id_documents"], 1, "{:?}", r.removed);
    assert!(!r.removed["sevres"].contains_key("attachments"));
    let d = detail(&app, &token, &rid).await;
    assert!(d["documents"][0]["purged_at"].is_string());
    assert_eq!(d["messages"][0]["body"], BODY);
    let res = get(&app, &token, &download).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), EXTRACT);
    let t = track(&app, &tracking).await;
    assert_eq!(
        t["messages"][1]["body"],
        "Réponse complète. NOTE-DE-CLOTURE"
    );

    // Two years: a second before, nothing; after, the texts and the file.
    let r = common::sweep_with(&app, "2028-03-02T09:29:59Z".parse().unwrap(), false, None).await;
    assert_eq!(r.total, 0, "{:?}", r.removed);
    let r = common::sweep_with(&app, "2028-03-02T09:30:01Z".parse().unwrap(), false, None).await;
    assert_eq!(r.removed["sevres"]["attachments"], 1, "{:?}", r.removed);
    assert_eq!(r.removed["sevres"]["requests_erased"], 1);
    let d = detail(&app, &token, &rid).await;
    let kept = d["messages"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "the rows stay");
    for m in kept {
        assert!(m["body"].is_null(), "{m}");
        assert_eq!(m["erased_at"], "2028-03-02T09:30:01Z");
    }
    assert_eq!(kept[0]["attachments"][0]["sha256"], sha256(EXTRACT));
    assert_eq!(
        kept[0]["attachments"][0]["purged_at"],
        "2028-03-02T09:30:01Z"
    );
    assert!(!d.to_string().contains("TEXTE-DU-MESSAGE"));
    assert!(!d.to_string().contains("NOTE-DE-CLOTURE"));
    assert_problem(get(&app, &token, &download).await, 410, "attachment_purged").await;
    let res = app
        .get(&format!(
            "/v1/requests/track/{tracking}/attachments/{file_id}"
        ))
        .await;
    assert_problem(res, 404, "not_found").await;
    let left: Vec<(Option<Vec<u8>>, Option<chrono::NaiveDateTime>)> = app
        .state
        .db
        .run(move |conn| {
            Ok(docs::table
                .filter(docs::request_id.eq(&rid))
                .select((docs::ciphertext, docs::purged_at))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter().all(|(c, p)| c.is_none() && p.is_some()),
        "{left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_messages_sent_at_once_are_both_kept_in_order() {
    let smtp = SmtpServer::start();
    let (app, token) = started(&smtp, |s| s.database.pool_size = 8).await;
    let rid = id(&submitted(&app, "ensemble@example.org").await);
    for round in 0..3 {
        let barrier = Arc::new(Barrier::new(2));
        let sent = (0..2).map(|i| {
            let request = app
                .client
                .post(app.url(&format!("/v1/dpo/requests/{rid}/messages")))
                .bearer_auth(&token)
                .multipart(message_form(
                    &format!("Message {round}-{i}"),
                    vec![(
                        &format!("piece-{round}-{i}.txt"),
                        format!("contenu {round}-{i}").as_bytes(),
                    )],
                ));
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                request.send().await.unwrap()
            })
        });
        for res in join_all(sent).await {
            let res = res.unwrap();
            assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
        }
    }
    let d = detail(&app, &token, &rid).await;
    let kept = d["messages"].as_array().unwrap();
    assert_eq!(kept.len(), 6);
    let bodies: Vec<&str> = kept.iter().map(|m| m["body"].as_str().unwrap()).collect();
    for round in 0..3 {
        let pair: Vec<&&str> = bodies[2 * round..2 * round + 2].iter().collect();
        for i in 0..2 {
            assert!(
                pair.contains(&&format!("Message {round}-{i}").as_str()),
                "{bodies:?}"
            );
        }
    }
    // Each with its own file; the timeline in the same order.
    for m in kept {
        let body = m["body"].as_str().unwrap();
        let n = body.trim_start_matches("Message ");
        assert_eq!(m["attachments"][0]["filename"], format!("piece-{n}.txt"));
        assert_eq!(
            m["attachments"][0]["sha256"],
            sha256(format!("contenu {n}").as_bytes())
        );
    }
    let said: Vec<&Value> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "message")
        .map(|e| &e["detail"]["message_id"])
        .collect();
    let ids: Vec<&Value> = kept.iter().map(|m| &m["id"]).collect();
    assert_eq!(said, ids);
    let letters = mails(&app, &smtp)
        .await
        .into_iter()
        .filter(|m| m.0 == "ensemble@example.org")
        .count();
    assert_eq!(letters, 7, "the acknowledgement and one per message");
}
