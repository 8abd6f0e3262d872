//! Rights requests through the real service, with the e-mails read back
//! from a real SMTP server.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use crate::common::{
    assert_problem, deliver, dpo, get, login, post, SmtpServer, TestApp, PASSWORD,
};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nCARTE-NATIONALE-IDENTITE-MARKER\n%%EOF\n";

async fn app(smtp: &SmtpServer, adjust: fn(&mut guichet::config::Settings)) -> TestApp {
    common::spawn_app_with_smtp(smtp, adjust).await
}

fn fields(kind: &str, email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kind", kind.into()),
        ("first_name", "Zoé".into()),
        ("last_name", "Lefèvre".into()),
        ("email", email.into()),
        (
            "details",
            "Je souhaite obtenir une copie de mes données. SECRET-DETAILS-TEXT".into(),
        ),
    ]
}

async fn submit_multipart(
    app: &TestApp,
    tenant: &str,
    fields: Vec<(&'static str, String)>,
    files: Vec<(&'static str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    for (name, bytes) in files {
        form = form.part("id_document", Part::bytes(bytes).file_name(name));
    }
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn submitted(app: &TestApp, tenant: &str, kind: &str, email: &str) -> Value {
    let res = submit_multipart(
        app,
        tenant,
        fields(kind, email),
        vec![("carte.pdf", PDF.to_vec())],
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn mails(app: &TestApp, smtp: &SmtpServer) -> Vec<(String, String, String, String)> {
    deliver(app).await;
    smtp.letters()
}

#[tokio::test]
async fn a_submission_is_acknowledged_and_the_dpo_notified_without_free_text() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let body = submitted(&app, "sevres", "access", "zoe@example.org").await;
    let reference = body["reference"].as_str().unwrap();
    assert!(
        reference.starts_with("DR-") && reference.len() == 9,
        "{reference}"
    );
    assert_eq!(body["kind"], "access");
    assert_eq!(body["status"], "received");
    assert_eq!(body["received_at"], "2026-03-02T09:30:00Z");
    assert_eq!(body["due_at"], "2026-04-02T09:30:00Z");
    let token = body["tracking_token"].as_str().unwrap();
    assert!(token.len() >= 40);

    let sent = mails(&app, &smtp).await;
    assert_eq!(sent.len(), 2);
    let to_dpo = sent
        .iter()
        .find(|m| m.0 == "dpo@ville-sevres.fr")
        .expect("the DPO is told");
    assert!(to_dpo.1.contains(reference));
    assert!(to_dpo.2.contains("2 avril 2026"), "{}", to_dpo.2);
    assert!(!to_dpo.2.contains("SECRET-DETAILS-TEXT") && !to_dpo.3.contains("SECRET-DETAILS-TEXT"));
    assert!(!to_dpo.2.contains("CARTE-NATIONALE"));
    let ack = sent
        .iter()
        .find(|m| m.0 == "zoe@example.org")
        .expect("the requester is acknowledged");
    assert!(ack.2.contains(reference), "{}", ack.2);
    // The register of a town hall: no first name unless the tenant asks.
    assert!(ack.2.starts_with("Madame, Monsieur,"), "{}", ack.2);
    assert!(!ack.2.contains("Zoé"), "{}", ack.2);
    assert!(
        ack.2.contains(&format!("/v1/requests/track/{token}")),
        "{}",
        ack.2
    );

    let track: Value = app
        .get(&format!("/v1/requests/track/{token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(track["reference"], reference);
    assert_eq!(track["status"], "received");
    assert_eq!(
        track["events"],
        json!([{"status": "received", "at": "2026-03-02T09:30:00Z", "event": "submitted"}])
    );
    assert!(track.get("email").is_none() && track.get("first_name").is_none());
    assert_problem(
        app.get("/v1/requests/track/not-a-real-token").await,
        404,
        "not_found",
    )
    .await;
    assert!(!common::logs().contains("zoe@example.org"));
}

/// The acknowledgement of receipt (CRPA L112-11, R112-11-1 ff.): the date
/// of receipt, the service in charge with its postal address and, when the
/// tenant gives one, its telephone, the reference, the due date, how to
/// complain to the CNIL, and whether the identity document was received.
#[tokio::test]
async fn the_acknowledgement_carries_the_mentions_of_a_receipt() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |s| {
        if let Some(t) = s.tenants.get_mut("sevres") {
            t.phone = Some("01 41 14 10 10".into());
        }
        if let Some(t) = s.tenants.get_mut("valparisis") {
            t.locale = guichet::tenants::Locale::En;
        }
    })
    .await;
    let with_document = submitted(&app, "sevres", "access", "zoe@example.org").await;
    let reference = with_document["reference"].as_str().unwrap();
    let body = json!({"kind": "erasure", "first_name": "Jean", "last_name": "Martin", "email": "jean@example.org", "details": "Effacez mon compte."});
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let without: Value = res.json().await.unwrap();
    let other_reference = without["reference"].as_str().unwrap();

    let sent = mails(&app, &smtp).await;
    let ack = sent
        .iter()
        .find(|m| m.0 == "zoe@example.org")
        .expect("the requester is acknowledged");
    for part in [&ack.2, &ack.3] {
        for said in [
            reference,
            "2 mars 2026",
            "2 avril 2026",
            "Ville de Sèvres, délégué à la protection des données",
            "Mairie de Sèvres, 54 Grande Rue, 92311 Sèvres Cedex",
            "01 41 14 10 10",
            "www.cnil.fr",
            "3 place de",
            "TSA 80715, 75334 Paris Cedex 07",
        ] {
            assert!(part.contains(said), "{said}: {part}");
        }
    }
    for said in [
        "Date de réception : 2 mars 2026",
        "Téléphone : 01 41 14 10 10",
        "Votre pièce d'identité a bien été reçue.",
        "https://www.cnil.fr/fr/plaintes",
    ] {
        assert!(ack.2.contains(said), "{said}: {}", ack.2);
    }
    assert!(!ack.2.contains("pourra vous demander"), "{}", ack.2);

    let ack = sent
        .iter()
        .find(|m| m.0 == "jean@example.org")
        .expect("the other requester is acknowledged");
    for said in [
        other_reference,
        "Date of receipt: 2 March 2026",
        "2 April 2026",
        "Communauté d'agglomération Val Parisis, Data Protection Officer",
        "271 chaussée Jules César, 95250 Beauchamp",
        "may ask you for an identity document",
        "https://www.cnil.fr/fr/plaintes",
        "TSA 80715, 75334 Paris Cedex 07",
    ] {
        assert!(ack.2.contains(said), "{said}: {}", ack.2);
    }
    for part in [&ack.2, &ack.3] {
        assert!(!part.contains("Telephone"), "no telephone line: {part}");
        assert!(!part.contains("has been received"), "{part}");
    }
}

#[tokio::test]
async fn json_works_when_no_file_is_sent_and_the_tenant_needs_none() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let body = json!({"kind": "erasure", "first_name": "Jean", "last_name": "Martin", "email": "jean@example.org", "details": "Effacez mon compte."});
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/requests"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "id_document");
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/requests"))
        .header("content-type", "text/plain")
        .body("kind=access")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = app
        .client
        .post(app.url("/v1/tenants/nowhere/requests"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn fields_are_validated_by_kind() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let check = |mut f: Vec<(&'static str, String)>,
                 extra: Vec<(&'static str, &str)>,
                 field: &'static str| {
        for (k, v) in extra {
            f.retain(|(n, _)| *n != k);
            if !v.is_empty() {
                f.push((k, v.to_owned()));
            }
        }
        let app = &app;
        async move {
            let res = submit_multipart(app, "sevres", f, vec![("id.pdf", PDF.to_vec())]).await;
            let body = assert_problem(res, 422, "validation_failed").await;
            let fields: Vec<&str> = body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(fields.contains(&field), "{field} in {body}");
        }
    };
    let base = || fields("access", "a@example.org");
    check(base(), vec![("kind", "complaint")], "kind").await;
    check(base(), vec![("email", "not-an-address")], "email").await;
    check(base(), vec![("first_name", "")], "first_name").await;
    check(base(), vec![("last_name", "Evil\u{0007}Bell")], "last_name").await;
    check(base(), vec![("details", &"x".repeat(5001))], "details").await;
    check(base(), vec![("scope", "prospection")], "scope").await;
    check(fields("opposition", "a@example.org"), vec![], "scope").await;
    check(
        fields("opposition", "a@example.org"),
        vec![("scope", "everything")],
        "scope",
    )
    .await;
    check(
        fields("opposition", "a@example.org"),
        vec![("scope", "processing")],
        "grounds",
    )
    .await;
    let mut ok = fields("opposition", "a@example.org");
    ok.push(("scope", "processing".into()));
    ok.push(("grounds", "Situation particulière : harcèlement".into()));
    assert_eq!(
        submit_multipart(&app, "sevres", ok, vec![("id.pdf", PDF.to_vec())])
            .await
            .status(),
        201
    );
    let mut unknown = base();
    unknown.push(("favourite_colour", "blue".into()));
    assert_problem(
        submit_multipart(&app, "sevres", unknown, vec![]).await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn documents_are_checked_by_their_bytes_and_size() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |s| s.requests.max_document_bytes = 64 * 1024).await;
    let zip = b"PK\x03\x04 a zip bomb in disguise".to_vec();
    let res = submit_multipart(
        &app,
        "sevres",
        fields("access", "a@example.org"),
        vec![("carte.pdf", zip)],
    )
    .await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let html = b"<html><script>alert(1)</script>".to_vec();
    let res = submit_multipart(
        &app,
        "sevres",
        fields("access", "a@example.org"),
        vec![("photo.png", html)],
    )
    .await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let mut big = PDF.to_vec();
    big.resize(64 * 1024 + 1, b' ');
    let res = submit_multipart(
        &app,
        "sevres",
        fields("access", "a@example.org"),
        vec![("big.pdf", big)],
    )
    .await;
    assert_problem(res, 413, "payload_too_large").await;
    let three = vec![
        ("a.pdf", PDF.to_vec()),
        ("b.pdf", PDF.to_vec()),
        ("c.pdf", PDF.to_vec()),
    ];
    let res = submit_multipart(&app, "sevres", fields("access", "a@example.org"), three).await;
    assert_problem(res, 422, "validation_failed").await;
    let png = b"\x89PNG\r\n\x1a\n....".to_vec();
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];
    let res = submit_multipart(
        &app,
        "sevres",
        fields("access", "b@example.org"),
        vec![("../../etc/passwd.png", png), ("recto.jpg", jpeg)],
    )
    .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let detail: Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let docs = detail["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["filename"], "passwd.png");
    assert_eq!(docs[0]["content_type"], "image/png");
    assert_eq!(docs[1]["content_type"], "image/jpeg");
    let count: i64 = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            Ok(guichet::db::schema::rights_requests::table
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(count, 1, "refused submissions left nothing behind");
}

#[tokio::test]
async fn documents_are_encrypted_at_rest_and_come_back_intact_journaled() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let body = submitted(&app, "nimes", "rectification", "paul@example.org").await;
    let id = body["id"].as_str().unwrap().to_owned();
    let raw: Vec<(Option<Vec<u8>>, String, String)> = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use guichet::db::schema::request_documents::dsl::*;
            Ok(request_documents
                .select((ciphertext, sha256, key_id))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(raw.len(), 1);
    let stored = raw[0].0.as_ref().unwrap();
    assert!(
        !stored.windows(16).any(|w| w == &b"CARTE-NATIONALE-"[..]),
        "no plaintext in the database"
    );
    assert!(!stored.starts_with(b"%PDF"));
    assert_eq!(raw[0].1, guichet::rights::documents::sha256_hex(PDF));

    let token = dpo(&app, "nimes", "dpo@nimes.fr").await;
    let detail: Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let doc = detail["documents"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(detail["documents"][0]["size"], PDF.len());
    let res = get(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/documents/{doc}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
    let audit: Value = get(&app, &token, "/v1/dpo/audit?kind=document.opened")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["actor"]["email"], "dpo@nimes.fr");
    assert_eq!(audit["items"][0]["subject_id"], doc);
    let detail: Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "document_opened" && e["actor"] == "dpo@nimes.fr"));

    // Once its content is destroyed, the document is gone (410) but listed.
    let doc2 = doc.clone();
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use guichet::db::schema::request_documents::dsl::*;
            diesel::update(request_documents.find(doc2))
                .set((
                    ciphertext.eq(None::<Vec<u8>>),
                    purged_at.eq(Some(chrono::Utc::now().naive_utc())),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let res = get(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/documents/{doc}"),
    )
    .await;
    assert_problem(res, 410, "document_purged").await;
    let res = get(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/documents/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn the_life_cycle_moves_by_its_table_and_tells_the_requester() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let body = submitted(&app, "guadeloupe", "erasure", "lea@example.org").await;
    let id = body["id"].as_str().unwrap().to_owned();
    let first_token = body["tracking_token"].as_str().unwrap().to_owned();
    let token = dpo(&app, "guadeloupe", "dpo@cr-guadeloupe.fr").await;
    let path = format!("/v1/dpo/requests/{id}/transitions");
    mails(&app, &smtp).await;
    let to_requester = |all: &[(String, String, String, String)]| {
        all.iter()
            .filter(|m| m.0 == "lea@example.org")
            .cloned()
            .collect::<Vec<_>>()
    };

    let res = post(&app, &token, &path, json!({"to": "received"})).await;
    assert_problem(res, 409, "transition_not_allowed").await;
    let res = post(
        &app,
        &token,
        &path,
        json!({"to": "in_progress", "note": "Prise en charge"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["status"], "in_progress");
    assert_eq!(
        detail["next"],
        json!(["awaiting_identity", "completed", "rejected"])
    );

    // Asking for an identity document stops the clock for ten days.
    app.clock.advance(chrono::Duration::days(5));
    let token = login(&app, "dpo@cr-guadeloupe.fr", PASSWORD).await;
    let res = post(
        &app,
        &token,
        &path,
        json!({"to": "awaiting_identity", "note": "Le nom ne correspond pas."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let all = mails(&app, &smtp).await;
    let asked = to_requester(&all);
    assert_eq!(
        asked.len(),
        2,
        "acknowledgement, then the request for an ID"
    );
    let letter = &asked[1].2;
    assert!(letter.contains("Le nom ne correspond pas."), "{letter}");
    let link_start = letter.find("/v1/requests/track/").expect("a tracking link");
    let new_token: String = letter[link_start + 19..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_ne!(new_token, first_token);

    app.clock.advance(chrono::Duration::days(10));
    let token = login(&app, "dpo@cr-guadeloupe.fr", PASSWORD).await;
    let overdue: Value = get(&app, &token, "/v1/dpo/requests?overdue=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overdue["total"], 0, "the clock is stopped");
    let res = app
        .client
        .post(app.url(&format!("/v1/requests/track/{new_token}/documents")))
        .multipart(Form::new().part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let uploaded: Value = res.json().await.unwrap();
    assert_eq!(uploaded["status"], "received");
    assert_eq!(
        uploaded["due_at"], "2026-04-12T09:30:00Z",
        "ten paused days added"
    );
    let again = app
        .client
        .post(app.url(&format!("/v1/requests/track/{first_token}/documents")))
        .multipart(Form::new().part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
        ))
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "not_awaiting_identity").await;

    let res = post(&app, &token, &path, json!({"to": "rejected"})).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "reason");
    let res = post(
        &app,
        &token,
        &path,
        json!({"to": "rejected", "reason": "Aucune donnée vous concernant n'est traitée."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["status"], "rejected");
    assert_eq!(detail["next"], json!([]));
    assert_problem(
        post(&app, &token, &path, json!({"to": "completed"})).await,
        409,
        "transition_not_allowed",
    )
    .await;
    let all = mails(&app, &smtp).await;
    let rejection = to_requester(&all).pop().unwrap();
    // The reason waits on the tracking page; the letter carries the link.
    assert!(
        !rejection.2.contains("Aucune donnée vous concernant"),
        "{}",
        rejection.2
    );
    assert!(
        rejection.2.contains("/v1/requests/track/"),
        "{}",
        rejection.2
    );
    assert!(
        rejection.2.contains("https://www.cnil.fr/fr/plaintes"),
        "the right to complain to the CNIL"
    );

    let events: Vec<(String, String)> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(events[0], ("received".into(), "requester".into()));
    assert!(events.contains(&("document_uploaded".into(), "requester".into())));
    assert_eq!(
        events.last().unwrap(),
        &("transition".into(), "dpo@cr-guadeloupe.fr".into())
    );
    let track: Value = app
        .get(&format!("/v1/requests/track/{first_token}"))
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = track["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "received",
            "in_progress",
            "awaiting_identity",
            "received",
            "rejected"
        ]
    );
    // The queue's totals follow every move.
    for (query, total) in [
        ("?status=rejected", 1),
        ("?status=received,in_progress,awaiting_identity", 0),
        ("", 1),
        ("?kind=erasure&status=rejected", 1),
        ("?kind=access", 0),
    ] {
        let page: Value = get(&app, &token, &format!("/v1/dpo/requests{query}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], total, "{query}");
        assert_eq!(
            page["items"].as_array().unwrap().len() as i64,
            total,
            "{query}"
        );
    }
    let audit = |kind: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            get(app, token, &format!("/v1/dpo/audit?kind={kind}"))
                .await
                .json::<Value>()
                .await
                .unwrap()["total"]
                .clone()
        }
    };
    assert_eq!(audit("request.transitioned").await, 3);
    assert_eq!(audit("request.message").await, 1, "the rejection's reason");
    assert_eq!(audit("request").await, 4);
}

#[tokio::test]
async fn one_extension_of_two_months_before_the_due_date() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let a = submitted(&app, "sevres", "access", "a@example.org").await;
    let b = submitted(&app, "sevres", "portability", "b@example.org").await;
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let ext = |id: &Value| format!("/v1/dpo/requests/{}/extension", id["id"].as_str().unwrap());
    let res = post(&app, &token, &ext(&a), json!({"reason": ""})).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = post(
        &app,
        &token,
        &ext(&a),
        json!({"reason": "Demande complexe : plusieurs services concernés."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["due_at"], "2026-06-02T09:30:00Z");
    assert_eq!(detail["extended"], true);
    let res = post(&app, &token, &ext(&a), json!({"reason": "encore"})).await;
    assert_problem(res, 409, "extension_not_allowed").await;
    let all = mails(&app, &smtp).await;
    let letter = all.iter().rfind(|m| m.0 == "a@example.org").unwrap();
    assert!(letter.2.contains("plusieurs services"), "{}", letter.2);
    assert!(letter.2.contains("2 juin 2026"), "{}", letter.2);

    app.clock.advance(chrono::Duration::days(32));
    let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let res = post(&app, &token, &ext(&b), json!({"reason": "trop tard"})).await;
    assert_problem(res, 409, "extension_not_allowed").await;
}

#[tokio::test]
async fn the_queue_filters_searches_sorts_pages_and_keeps_tenants_apart() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let mut ids = Vec::new();
    for (i, kind) in ["access", "erasure", "access", "rectification", "access"]
        .iter()
        .enumerate()
    {
        let email = format!("person{i}@example.org");
        let email: &'static str = Box::leak(email.into_boxed_str());
        ids.push(submitted(&app, "dunkerque", kind, email).await);
        app.clock.advance(chrono::Duration::days(3));
    }
    submitted(&app, "nimes", "access", "other@example.org").await;
    let token = dpo(&app, "dunkerque", "protection.donnees@cud.fr").await;
    let list = |q: &str| {
        let (app, token, q) = (&app, token.clone(), q.to_owned());
        async move {
            let res = get(app, &token, &format!("/v1/dpo/requests{q}")).await;
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    let all = list("").await;
    assert_eq!(all["total"], 5, "only the DPO's tenant");
    let refs: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    let first: Vec<&str> = ids
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, first, "most urgent first");
    assert_eq!(all["items"][0]["requester_name"], "Zoé Lefèvre");
    assert_eq!(list("?kind=access").await["total"], 3);
    assert_eq!(list("?status=received,in_progress").await["total"], 5);
    assert_eq!(list("?status=completed").await["total"], 0);
    assert_eq!(list("?q=person3@EXAMPLE").await["total"], 1);
    assert_eq!(
        list(&format!("?q={}", first[2])).await["items"][0]["reference"],
        first[2]
    );
    assert_eq!(list("?q=lefèvre").await["total"], 5);
    assert_eq!(list("?q=100%25").await["total"], 0);
    let page = list("?per_page=2&page=3&sort=-received_at").await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["reference"], first[0]);
    // Day 31: the first request (due day 31 09:30) is overdue a second later.
    app.clock.set("2026-04-02T09:30:01Z".parse().unwrap());
    let token = login(&app, "protection.donnees@cud.fr", PASSWORD).await;
    let list = |q: &str| {
        let (app, token, q) = (&app, token.clone(), q.to_owned());
        async move {
            let res = get(app, &token, &format!("/v1/dpo/requests{q}")).await;
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    let overdue = list("?overdue=true").await;
    assert_eq!(overdue["total"], 1);
    assert_eq!(overdue["items"][0]["overdue"], true);
    for bad in [
        "?status=lost",
        "?sort=name",
        "?per_page=500",
        "?kind=complaint",
    ] {
        let res = get(&app, &token, &format!("/v1/dpo/requests{bad}")).await;
        assert!(res.status() == 400 || res.status() == 422, "{bad}");
    }
    // Another tenant's request does not exist for this DPO.
    let other = token.clone();
    let nimes_dpo = dpo(&app, "nimes", "dpo@nimes.fr").await;
    let id = ids[0]["id"].as_str().unwrap();
    assert_problem(
        get(&app, &nimes_dpo, &format!("/v1/dpo/requests/{id}")).await,
        404,
        "not_found",
    )
    .await;
    let res = post(
        &app,
        &nimes_dpo,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "in_progress"}),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    let res = post(
        &app,
        &nimes_dpo,
        &format!("/v1/dpo/requests/{id}/messages"),
        json!({"body": "x"}),
    )
    .await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(
        get(&app, &other, &format!("/v1/dpo/requests/{id}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn completing_an_opposition_to_prospection_lists_the_address() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let mut f = fields("opposition", "News.Letter@Example.org");
    f.push(("scope", "prospection".into()));
    let res = submit_multipart(&app, "valparisis", f, vec![]).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let check = |email: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            get(
                app,
                &token,
                &format!("/v1/dpo/suppression/check?email={email}"),
            )
            .await
            .json::<Value>()
            .await
            .unwrap()["listed"]
                .clone()
        }
    };
    assert_eq!(check("news.letter@example.org").await, false);
    // Found by schemathesis: anything was checked, and found not listed.
    for bad in ["", "null", "news.letter", "%20@example.org"] {
        let res = get(
            &app,
            &token,
            &format!("/v1/dpo/suppression/check?email={bad}"),
        )
        .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "email", "{bad}");
    }
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "completed"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(check("news.letter@example.org").await, true);
    assert_eq!(check("NEWS.LETTER@example.org").await, true);
    assert_eq!(check("someone.else@example.org").await, false);
    let stored: Vec<String> = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use guichet::db::schema::suppression_list::dsl::*;
            Ok(suppression_list.select(email_hash).load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains('@'), "a keyed hash, nothing else");
}

#[tokio::test]
async fn messages_reach_the_requester() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let body = submitted(&app, "sevres", "access", "msg@example.org").await;
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let path = format!("/v1/dpo/requests/{}/messages", body["id"].as_str().unwrap());
    assert_problem(
        post(&app, &token, &path, json!({"body": "   "})).await,
        422,
        "validation_failed",
    )
    .await;
    let res = post(
        &app,
        &token,
        &path,
        json!({"body": "Pourriez-vous préciser la période concernée ?\nMerci."}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let all = mails(&app, &smtp).await;
    let letter = all.iter().rfind(|m| m.0 == "msg@example.org").unwrap();
    // The letter says a message waits, and where; the text is on the
    // tracking page (tests/api/answers.rs).
    assert!(!letter.2.contains("préciser la période"), "{}", letter.2);
    assert!(letter.2.contains("/v1/requests/track/"), "{}", letter.2);
}

#[tokio::test]
async fn submissions_are_rate_limited_and_duplicates_linked() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |s| {
        s.requests.submissions_per_ip_per_hour = 100;
        s.requests.submissions_per_email_per_day = 2;
    })
    .await;
    let first = submitted(&app, "sevres", "erasure", "dup@example.org").await;
    let second = submitted(&app, "sevres", "erasure", "dup@example.org").await;
    let res = submit_multipart(
        &app,
        "sevres",
        fields("erasure", "dup@example.org"),
        vec![("a.pdf", PDF.to_vec())],
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "rate_limited").await;
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let detail: Value = get(
        &app,
        &token,
        &format!("/v1/dpo/requests/{}", second["id"].as_str().unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        detail["duplicate_of"], first["id"],
        "linked, not silently doubled"
    );
    let queue: Value = get(&app, &token, "/v1/dpo/requests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue["total"], 2, "the DPO sees both");

    let per_ip = app_limited(&smtp).await;
    for i in 0..2 {
        let email: &'static str = Box::leak(format!("ip{i}@example.org").into_boxed_str());
        submitted(&per_ip, "sevres", "access", email).await;
    }
    let res = submit_multipart(
        &per_ip,
        "sevres",
        fields("access", "ip9@example.org"),
        vec![("a.pdf", PDF.to_vec())],
    )
    .await;
    assert_problem(res, 429, "rate_limited").await;
}

async fn app_limited(smtp: &SmtpServer) -> TestApp {
    app(smtp, |s| s.requests.submissions_per_ip_per_hour = 2).await
}

#[tokio::test]
async fn references_stay_unique_under_concurrent_submissions() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |s| s.requests.submissions_per_ip_per_hour = 1000).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = app.client.clone();
        let url = app.url("/v1/tenants/sevres/requests");
        tasks.push(tokio::spawn(async move {
            let form = Form::new()
                .text("kind", "access")
                .text("first_name", "A")
                .text("last_name", "B")
                .text("email", format!("c{i}@example.org"))
                .text("details", "d")
                .part("id_document", Part::bytes(PDF.to_vec()).file_name("x.pdf"));
            let res = client.post(url).multipart(form).send().await.unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut refs = Vec::new();
    for t in tasks {
        refs.push(t.await.unwrap());
    }
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 24);
    let stored_tokens: i64 = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            Ok(guichet::db::schema::tracking_tokens::table
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored_tokens, 24);
}

#[tokio::test]
async fn a_right_the_authority_does_not_offer_is_refused_and_nothing_stored() {
    let smtp = SmtpServer::start();
    let app = app(&smtp, |_| {}).await;
    let person = |extra: Value| {
        let mut body = json!({
            "first_name": "Zoé", "last_name": "Lefèvre",
            "email": "zoe@example.org", "details": "Mes données, dans un format lisible.",
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // Val Parisis: « le droit à la portabilité […] n'est pas applicable ».
    for (extra, field) in [
        (json!({"kind": "portability"}), "kind"),
        (json!({"kinds": ["access", "portability"]}), "kinds"),
    ] {
        let res = app
            .client
            .post(app.url("/v1/tenants/valparisis/requests"))
            .json(&person(extra))
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("portability"),
            "{body}"
        );
    }
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let queue: Value = get(&app, &token, "/v1/dpo/requests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue["total"], 0, "nothing stored");
    assert!(mails(&app, &smtp).await.is_empty(), "nothing sent");
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&person(json!({"kind": "access"})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}
