//! Every way a request arrives (issue #19), through the real service, with
//! the e-mails read back from a real SMTP server: a request received by
//! post or at the counter typed in by the DPO, its clock started the day it
//! arrived; several rights in one submission, one request each, linked by
//! their case; a person's other requests in the tenant; someone acting on
//! another's behalf with the mandate; and each bad input refused whole,
//! nothing half stored.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the helpers below; split, a suite would be read in pieces.)

use crate::common;

use crate::common::{
    assert_problem, create_staff, deliver, dpo, get, login, post, start_time, SmtpServer, TestApp,
    PASSWORD,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use diesel::prelude::*;
use guichet::db::schema::{
    mail_outbox as outbox, request_documents as docs, rights_requests as requests,
};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nPIECE-IDENTITE\n%%EOF\n";
const SCAN: &[u8] =
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nCOURRIER-RECU-EN-MAIRIE\n%%EOF\n";
const MANDATE: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-PROCURATION-SIGNEE";
const SEVRES_DPO: &str = "dpo@ville-sevres.fr";
/// Val Parisis asks for no identity document: its requests may be JSON.
const VALPARISIS_DPO: &str = "dpo@valparisis.fr";

/// (to, subject, text part, HTML part)
type Letter = (String, String, String, String);

/// The service, its mail to `smtp`, the abuse limits out of the way.
async fn started(smtp: &SmtpServer) -> TestApp {
    common::spawn_app_with_smtp(smtp, |s| {
        s.requests.submissions_per_ip_per_hour = 1000;
        s.requests.submissions_per_email_per_day = 1000;
    })
    .await
}

/// An instant as RFC 3339, whole seconds, `Z`.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("an instant: {v}"))
        .parse::<DateTime<Utc>>()
        .unwrap_or_else(|e| panic!("an RFC 3339 instant: {v}: {e}"))
}

/// Ten days before the service's clock, at another time of day.
fn ten_days_ago() -> DateTime<Utc> {
    // 2026-02-20T08:15:00Z
    start_time() - Duration::days(10) - Duration::minutes(75)
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id: {v}"))
        .to_owned()
}

fn reference(v: &Value) -> String {
    v["reference"]
        .as_str()
        .unwrap_or_else(|| panic!("a reference: {v}"))
        .to_owned()
}

/// `base` with the fields of `extra`: replaced, added, or removed when null.
fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k.as_str()] = v.clone();
        }
    }
    base
}

/// What a citizen writes, without the kind.
fn person(email: &str) -> Value {
    json!({
        "first_name": "Zoé",
        "last_name": "Lefèvre",
        "email": email,
        "details": "Une copie de mes données, s'il vous plaît. SECRET-DETAILS",
    })
}

/// A letter received by post at Sèvres on `received_at`, typed in by its
/// DPO: no e-mail, no tenant (the DPO serves one).
fn postal(received_at: &str) -> Value {
    json!({
        "channel": "post",
        "received_at": received_at,
        "kind": "access",
        "first_name": "Camille",
        "last_name": "Benali",
        "postal_address": "12 rue de la Paix, 92310 Sèvres",
        "details": "Lettre reçue en mairie : copie de mes données. SECRET-DETAILS",
    })
}

fn form(fields: &[(&str, &str)]) -> Form {
    fields.iter().fold(Form::new(), |f, (k, v)| {
        f.text(k.to_string(), v.to_string())
    })
}

fn file(name: &str, bytes: &[u8]) -> Part {
    Part::bytes(bytes.to_vec()).file_name(name.to_owned())
}

/// `POST /v1/dpo/requests` with a JSON body.
async fn intake(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    post(app, token, "/v1/dpo/requests", body).await
}

/// `POST /v1/dpo/requests` with a multipart form.
async fn intake_form(app: &TestApp, token: &str, form: Form) -> reqwest::Response {
    app.client
        .post(app.url("/v1/dpo/requests"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The citizen's `POST /v1/tenants/{tenant}/requests` with a JSON body.
async fn public_json(app: &TestApp, tenant: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The citizen's `POST /v1/tenants/{tenant}/requests` with a multipart form.
async fn public_form(app: &TestApp, tenant: &str, form: Form) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The body of a 201.
async fn created(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// A 422 naming `field` among its errors.
async fn refused(res: reqwest::Response, field: &str) {
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors listed: {body}"))
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(fields.contains(&field), "{field} in {body}");
}

/// A 404 problem.
async fn not_found(res: reqwest::Response) {
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "a problem"
    );
}

/// What the database holds: requests, their documents, the outbox.
async fn stored(app: &TestApp) -> (i64, i64, i64) {
    app.state
        .db
        .run(|conn| {
            let r: i64 = requests::table.count().get_result(conn)?;
            let d: i64 = docs::table.count().get_result(conn)?;
            let o: i64 = outbox::table.count().get_result(conn)?;
            Ok((r, d, o))
        })
        .await
        .unwrap()
}

async fn detail(app: &TestApp, token: &str, id: &str) -> Value {
    let res = get(app, token, &format!("/v1/dpo/requests/{id}")).await;
    assert_eq!(res.status(), 200, "detail of {id}");
    res.json().await.unwrap()
}

async fn queue(app: &TestApp, token: &str, query: &str) -> Value {
    let res = get(app, token, &format!("/v1/dpo/requests{query}")).await;
    assert_eq!(res.status(), 200, "queue{query}");
    res.json().await.unwrap()
}

/// The queue's item of request `id`.
fn item<'a>(page: &'a Value, id: &str) -> &'a Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {page}"))
}

async fn track(app: &TestApp, token: &str) -> Value {
    let res = app.get(&format!("/v1/requests/track/{token}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Every mail sent so far, after a delivery pass.
async fn mails(app: &TestApp, smtp: &SmtpServer) -> Vec<Letter> {
    deliver(app).await;
    smtp.letters()
}

fn to<'a>(letters: &'a [Letter], who: &str) -> Vec<&'a Letter> {
    letters.iter().filter(|l| l.0 == who).collect()
}

/// The roles of a detail's documents, sorted.
fn roles(detail: &Value) -> Vec<String> {
    let mut roles: Vec<String> = detail["documents"]
        .as_array()
        .unwrap_or_else(|| panic!("documents: {detail}"))
        .iter()
        .map(|d| {
            d["role"]
                .as_str()
                .unwrap_or_else(|| panic!("a role: {d}"))
                .to_owned()
        })
        .collect();
    roles.sort();
    roles
}

/// The bytes of the document of `role` of request `id`, as the DPO opens it.
async fn document(app: &TestApp, token: &str, detail: &Value, role: &str) -> Vec<u8> {
    let doc = detail["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["role"] == role)
        .unwrap_or_else(|| panic!("a document of role {role}: {detail}"));
    let res = get(
        app,
        token,
        &format!(
            "/v1/dpo/requests/{}/documents/{}",
            id(detail),
            doc["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

async fn transition(app: &TestApp, token: &str, id: &str, to: &str) {
    let res = post(
        app,
        token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": to, "note": "Votre demande est traitée."}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_letter_typed_in_by_the_dpo_starts_its_clock_on_arrival_and_mails_no_one() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let token = dpo(&app, "sevres", SEVRES_DPO).await;
    let before = stored(&app).await;
    let arrived = ten_days_ago();

    let body = created(intake(&app, &token, postal(&rfc3339(arrived))).await).await;
    assert_eq!(body["channel"], "post");
    assert_eq!(body["kind"], "access");
    assert_eq!(body["status"], "received");
    assert_eq!(instant(&body["received_at"]), arrived, "the day it arrived");
    let due = instant(&body["due_at"]);
    let days = (due - arrived).num_days();
    assert!(
        (28..=31).contains(&days),
        "due one month after receipt, not after the typing: {days} days"
    );
    assert!(uuid::Uuid::parse_str(body["case_id"].as_str().unwrap()).is_ok());
    assert_eq!(body["requests"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["requests"][0]["id"], body["id"]);

    let d = detail(&app, &token, &id(&body)).await;
    assert_eq!(d["channel"], "post");
    assert_eq!(d["tenant"], "sevres", "the DPO's one tenant");
    assert!(d["email"].is_null(), "{d}");
    assert_eq!(instant(&d["received_at"]), arrived);
    assert_eq!(instant(&d["due_at"]), due);
    assert!(d["on_behalf_of"].is_null(), "{d}");
    assert_eq!(d["case"], json!([]));
    assert!(roles(&d).is_empty(), "no file was sent");
    let page = queue(&app, &token, "").await;
    assert_eq!(page["total"], 1);
    assert_eq!(item(&page, &id(&body))["channel"], "post");

    assert!(
        mails(&app, &smtp).await.is_empty(),
        "no address to write to, and the DPO typed it in herself"
    );
    assert_eq!(
        stored(&app).await,
        (before.0 + 1, before.1, before.2),
        "one request, no document, nothing in the outbox"
    );
}

#[tokio::test]
async fn a_scanned_letter_and_identity_document_are_kept_and_the_requester_acknowledged() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let token = dpo(&app, "sevres", SEVRES_DPO).await;
    let arrived = rfc3339(ten_days_ago());
    let f = form(&[
        ("tenant", "sevres"),
        ("channel", "post"),
        ("received_at", arrived.as_str()),
        ("kind", "erasure"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe.courrier@example.org"),
        ("details", "Effacez mon compte. SECRET-DETAILS"),
    ])
    .part("letter", file("lettre.pdf", SCAN))
    .part("id_document", file("carte.pdf", PDF));
    let body = created(intake_form(&app, &token, f).await).await;
    assert_eq!(body["channel"], "post");
    assert_eq!(instant(&body["received_at"]), ten_days_ago());
    let ours = reference(&body);

    let sent = mails(&app, &smtp).await;
    let acks = to(&sent, "zoe.courrier@example.org");
    assert_eq!(acks.len(), 1, "one acknowledgement: {sent:?}");
    let text = &acks[0].2;
    assert!(text.contains(&ours), "{text}");
    assert!(
        text.contains("Date de réception : 20 février 2026"),
        "the day the letter arrived: {text}"
    );
    assert!(
        text.contains("Votre pièce d'identité a bien été reçue."),
        "{text}"
    );

    let d = detail(&app, &token, &id(&body)).await;
    assert_eq!(d["channel"], "post");
    assert_eq!(d["email"], "zoe.courrier@example.org");
    assert_eq!(roles(&d), ["id_document", "letter"]);
    assert_eq!(document(&app, &token, &d, "letter").await, SCAN);
    assert_eq!(document(&app, &token, &d, "id_document").await, PDF);
    let sealed: Vec<Option<Vec<u8>>> = app
        .state
        .db
        .run(|conn| Ok(docs::table.select(docs::ciphertext).load(conn)?))
        .await
        .unwrap();
    assert_eq!(sealed.len(), 2);
    for bytes in sealed {
        let bytes = bytes.expect("content kept");
        assert!(
            !bytes.windows(13).any(|w| w == b"COURRIER-RECU"),
            "the letter encrypted at rest"
        );
    }
}

#[tokio::test]
async fn a_staff_intake_with_a_bad_date_channel_or_tenant_is_refused_whole() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let token = dpo(&app, "sevres", SEVRES_DPO).await;
    let before = stored(&app).await;
    let total = queue(&app, &token, "").await["total"].clone();
    let ok = rfc3339(ten_days_ago());

    let future = rfc3339(start_time() + Duration::hours(1));
    let four_months_ago = rfc3339(start_time() - Duration::days(122));
    for bad in [
        future.as_str(),
        four_months_ago.as_str(),
        "le 20 février 2026",
    ] {
        refused(intake(&app, &token, postal(bad)).await, "received_at").await;
    }
    refused(
        intake(
            &app,
            &token,
            with(postal(&ok), json!({"received_at": null})),
        )
        .await,
        "received_at",
    )
    .await;
    refused(
        intake(
            &app,
            &token,
            with(postal(&ok), json!({"channel": "pigeon"})),
        )
        .await,
        "channel",
    )
    .await;
    refused(
        intake(&app, &token, with(postal(&ok), json!({"channel": null}))).await,
        "channel",
    )
    .await;
    // With its files, refused as whole.
    let f = form(&[
        ("channel", "pigeon"),
        ("received_at", ok.as_str()),
        ("kind", "access"),
        ("first_name", "Camille"),
        ("last_name", "Benali"),
        ("details", "Lettre. SECRET-DETAILS"),
    ])
    .part("letter", file("lettre.pdf", SCAN))
    .part("id_document", file("carte.pdf", PDF));
    refused(intake_form(&app, &token, f).await, "channel").await;
    // A tenant the DPO does not serve, or none at all.
    for tenant in ["nimes", "nowhere"] {
        not_found(intake(&app, &token, with(postal(&ok), json!({"tenant": tenant}))).await).await;
    }
    // An admin serves every tenant, so must name one.
    create_staff(&app, None, "admin@guichet.example", "admin", PASSWORD).await;
    let admin = login(&app, "admin@guichet.example", PASSWORD).await;
    refused(intake(&app, &admin, postal(&ok)).await, "tenant").await;
    // The citizen's form has no channel and no date of receipt.
    for (field, value) in [("channel", json!("post")), ("received_at", json!(ok))] {
        let mut body = with(person("zoe@example.org"), json!({"kind": "access"}));
        body[field] = value;
        refused(public_json(&app, "valparisis", body).await, field).await;
    }

    assert_eq!(stored(&app).await, before, "nothing stored, nothing mailed");
    assert_eq!(queue(&app, &token, "").await["total"], total);
    assert!(mails(&app, &smtp).await.is_empty());
    // Within three months is accepted: the refusals were the dates'.
    let eighty_days_ago = start_time() - Duration::days(80);
    let body = created(intake(&app, &token, postal(&rfc3339(eighty_days_ago))).await).await;
    assert_eq!(instant(&body["received_at"]), eighty_days_ago);
}

#[tokio::test]
async fn several_rights_in_one_submission_are_one_request_each_acknowledged_once() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let email = "zoe.deux@example.org";
    let body = with(person(email), json!({"kinds": ["access", "erasure"]}));
    let body = created(public_json(&app, "valparisis", body).await).await;
    let both = body["requests"].as_array().unwrap().clone();
    assert_eq!(both.len(), 2, "{body}");
    assert_eq!(both[0]["kind"], "access", "in the order of kinds");
    assert_eq!(both[1]["kind"], "erasure");
    let (first, second) = (id(&both[0]), id(&both[1]));
    let refs = [reference(&both[0]), reference(&both[1])];
    assert_ne!(refs[0], refs[1]);
    assert_ne!(first, second);
    assert_eq!(body["id"], first.as_str(), "the first request's fields");
    assert_eq!(body["reference"], refs[0].as_str());
    assert_eq!(body["channel"], "web");
    let case = body["case_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&case).is_ok(), "{case}");

    let sent = mails(&app, &smtp).await;
    let acks = to(&sent, email);
    assert_eq!(acks.len(), 1, "one acknowledgement: {sent:?}");
    for r in &refs {
        assert!(acks[0].2.contains(r.as_str()), "{r}: {}", acks[0].2);
    }
    assert_eq!(to(&sent, VALPARISIS_DPO).len(), 1, "one notice to the DPO");
    assert_eq!(sent.len(), 2, "{sent:?}");

    let tracking = body["tracking_token"].as_str().unwrap().to_owned();
    let t = track(&app, &tracking).await;
    let mut tracked: Vec<String> = t["requests"]
        .as_array()
        .unwrap_or_else(|| panic!("requests tracked: {t}"))
        .iter()
        .map(reference)
        .collect();
    tracked.sort();
    let mut expected = refs.to_vec();
    expected.sort();
    assert_eq!(tracked, expected);

    let token = dpo(&app, "valparisis", VALPARISIS_DPO).await;
    transition(&app, &token, &second, "completed").await;
    let d1 = detail(&app, &token, &first).await;
    let d2 = detail(&app, &token, &second).await;
    assert_eq!(d1["status"], "received", "each its own life cycle");
    assert_eq!(d2["status"], "completed");
    for d in [&d1, &d2] {
        assert_eq!(d["case_id"], case.as_str());
        assert_eq!(d["channel"], "web");
        assert_eq!(d["same_person"], json!([]), "the case is not listed twice");
    }
    let linked = d1["case"].as_array().unwrap();
    assert_eq!(linked.len(), 1, "the other request of the case: {d1}");
    assert_eq!(linked[0]["id"], second.as_str());
    assert_eq!(linked[0]["reference"], refs[1].as_str());
    assert_eq!(linked[0]["kind"], "erasure");
    assert_eq!(linked[0]["status"], "completed");
    assert_eq!(d2["case"].as_array().unwrap().len(), 1);
    assert_eq!(d2["case"][0]["id"], first.as_str());
    assert_eq!(d2["case"][0]["status"], "received");

    let t = track(&app, &tracking).await;
    let status_of = |r: &str| {
        t["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["reference"] == r)
            .unwrap_or_else(|| panic!("{r} tracked: {t}"))["status"]
            .clone()
    };
    assert_eq!(status_of(refs[0].as_str()), "received");
    assert_eq!(status_of(refs[1].as_str()), "completed");
}

#[tokio::test]
async fn several_rights_in_one_form_share_its_identity_document() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let f = form(&[
        ("kinds", "access"),
        ("kinds", "erasure"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe.forme@example.org"),
        ("details", "Copie puis effacement. SECRET-DETAILS"),
    ])
    .part("id_document", file("carte.pdf", PDF));
    let body = created(public_form(&app, "sevres", f).await).await;
    let both = body["requests"].as_array().unwrap().clone();
    assert_eq!(both.len(), 2, "{body}");
    assert_eq!(both[0]["kind"], "access");
    assert_eq!(both[1]["kind"], "erasure");
    let token = dpo(&app, "sevres", SEVRES_DPO).await;
    for r in &both {
        let d = detail(&app, &token, &id(r)).await;
        assert_eq!(d["case_id"], body["case_id"]);
        assert_eq!(roles(&d), ["id_document"], "{}", reference(r));
        assert_eq!(document(&app, &token, &d, "id_document").await, PDF);
    }
}

#[tokio::test]
async fn a_right_named_twice_or_kind_with_kinds_is_refused_whole() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let before = stored(&app).await;
    for kinds in [
        json!({"kinds": ["access", "access"]}),
        json!({"kind": "access", "kinds": ["erasure"]}),
        json!({"kind": "access", "kinds": ["access", "erasure"]}),
        json!({"kinds": []}),
        json!({"kinds": ["access", "complaint"]}),
    ] {
        let body = with(person("zoe.double@example.org"), kinds);
        refused(public_json(&app, "valparisis", body).await, "kinds").await;
    }
    let f = form(&[
        ("kinds", "erasure"),
        ("kinds", "erasure"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe.double@example.org"),
        ("details", "Effacement. SECRET-DETAILS"),
    ])
    .part("id_document", file("carte.pdf", PDF));
    refused(public_form(&app, "sevres", f).await, "kinds").await;
    assert_eq!(stored(&app).await, before, "nothing stored, nothing mailed");
    let token = dpo(&app, "valparisis", VALPARISIS_DPO).await;
    assert_eq!(queue(&app, &token, "").await["total"], 0);
}

#[tokio::test]
async fn a_persons_other_requests_in_the_tenant_are_linked_by_their_address() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let email = "zoe.encore@example.org";
    let submit = |kind: &'static str, email: &'static str| {
        let app = &app;
        async move {
            let body = with(person(email), json!({"kind": kind}));
            created(public_json(app, "valparisis", body).await).await
        }
    };
    let first = submit("access", email).await;
    app.clock.advance(Duration::days(2));
    let second = submit("erasure", email).await;
    let stranger = submit("access", "camille.dubois@example.org").await;
    // The same address at another tenant is another tenant's business.
    let f = form(&[
        ("kind", "access"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", email),
        ("details", "Mes données. SECRET-DETAILS"),
    ])
    .part("id_document", file("carte.pdf", PDF));
    created(public_form(&app, "sevres", f).await).await;

    let token = dpo(&app, "valparisis", VALPARISIS_DPO).await;
    let d = detail(&app, &token, &id(&second)).await;
    let same = d["same_person"]
        .as_array()
        .unwrap_or_else(|| panic!("same_person: {d}"));
    assert_eq!(same.len(), 1, "{d}");
    assert_eq!(same[0]["id"], id(&first).as_str());
    assert_eq!(same[0]["reference"], first["reference"]);
    assert_eq!(same[0]["kind"], "access");
    assert_eq!(same[0]["status"], "received");
    assert_eq!(instant(&same[0]["received_at"]), start_time());
    assert_eq!(d["case"], json!([]), "two submissions, two cases");
    assert_ne!(d["case_id"], first["case_id"]);
    assert_eq!(
        detail(&app, &token, &id(&stranger)).await["same_person"],
        json!([])
    );

    let page = queue(&app, &token, "").await;
    assert_eq!(page["total"], 3);
    for r in [&first, &second] {
        let others = item(&page, &id(r))["others"].as_i64().unwrap();
        assert!(others >= 1, "{page}");
    }
    assert_eq!(item(&page, &id(&stranger))["others"], 0);
    let page = queue(&app, &token, &format!("?same_person_as={}", id(&first))).await;
    let mut listed: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(reference)
        .collect();
    listed.sort();
    let mut expected = vec![reference(&first), reference(&second)];
    expected.sort();
    assert_eq!(listed, expected, "{page}");
    assert_eq!(page["total"], 2);

    // Closed, it is still listed.
    transition(&app, &token, &id(&first), "completed").await;
    let d = detail(&app, &token, &id(&second)).await;
    assert_eq!(d["same_person"][0]["id"], id(&first).as_str());
    assert_eq!(d["same_person"][0]["status"], "completed");
}

#[tokio::test]
async fn someone_acting_under_a_mandate_sends_it_and_the_dpo_sees_for_whom() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let f = form(&[
        ("kind", "access"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe.mandataire@example.org"),
        ("details", "Pour le compte de mon mandant. SECRET-DETAILS"),
        ("on_behalf_of.first_name", "Camille"),
        ("on_behalf_of.last_name", "Dubois"),
        ("on_behalf_of.relation", "mandate"),
    ])
    .part("mandate", file("procuration.png", MANDATE));
    let body = created(public_form(&app, "valparisis", f).await).await;
    let token = dpo(&app, "valparisis", VALPARISIS_DPO).await;
    let d = detail(&app, &token, &id(&body)).await;
    let whom = &d["on_behalf_of"];
    assert_eq!(whom["first_name"], "Camille", "{d}");
    assert_eq!(whom["last_name"], "Dubois");
    assert_eq!(whom["relation"], "mandate");
    assert_eq!(d["first_name"], "Zoé", "the requester is who acts");
    assert_eq!(roles(&d), ["mandate"]);
    assert_eq!(document(&app, &token, &d, "mandate").await, MANDATE);
}

#[tokio::test]
async fn a_relation_without_its_mandate_or_unknown_is_refused_whole() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let before = stored(&app).await;
    let behalf = |relation: &str| {
        with(
            person("zoe.parent@example.org"),
            json!({
                "kind": "access",
                "on_behalf_of": {"first_name": "Camille", "last_name": "Dubois", "relation": relation},
            }),
        )
    };

    let f = form(&[
        ("kind", "access"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe.parent@example.org"),
        ("details", "Pour mon mandant. SECRET-DETAILS"),
        ("on_behalf_of.first_name", "Camille"),
        ("on_behalf_of.last_name", "Dubois"),
        ("on_behalf_of.relation", "mandate"),
    ]);
    refused(public_form(&app, "valparisis", f).await, "mandate").await;
    refused(
        public_json(&app, "valparisis", behalf("mandate")).await,
        "mandate",
    )
    .await;
    refused(
        public_json(&app, "valparisis", behalf("cousin")).await,
        "on_behalf_of.relation",
    )
    .await;
    let nameless = with(
        person("zoe.parent@example.org"),
        json!({"kind": "access", "on_behalf_of": {"last_name": "Dubois", "relation": "parent"}}),
    );
    refused(
        public_json(&app, "valparisis", nameless).await,
        "on_behalf_of.first_name",
    )
    .await;
    assert_eq!(stored(&app).await, before, "nothing stored, nothing mailed");

    // A parent or a guardian needs no mandate file.
    let parent = created(public_json(&app, "valparisis", behalf("parent")).await).await;
    let f = form(&[
        ("kind", "erasure"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe.tutrice@example.org"),
        ("details", "Pour la personne que je protège. SECRET-DETAILS"),
        (
            "on_behalf_of",
            r#"{"first_name": "Camille", "last_name": "Dubois", "relation": "guardian"}"#,
        ),
    ]);
    let guardian = created(public_form(&app, "valparisis", f).await).await;
    let token = dpo(&app, "valparisis", VALPARISIS_DPO).await;
    for (request, relation) in [(&parent, "parent"), (&guardian, "guardian")] {
        let d = detail(&app, &token, &id(request)).await;
        assert_eq!(d["on_behalf_of"]["relation"], relation, "{d}");
        assert_eq!(d["on_behalf_of"]["first_name"], "Camille");
        assert_eq!(d["on_behalf_of"]["last_name"], "Dubois");
        assert!(roles(&d).is_empty());
    }
}

#[tokio::test]
async fn one_identity_document_sent_once_serves_every_request_of_the_case_awaiting_it() {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let email = "zoe.trois@example.org";
    let body = with(
        person(email),
        json!({"kinds": ["access", "erasure", "restriction"]}),
    );
    let body = created(public_json(&app, "valparisis", body).await).await;
    let ids: Vec<String> = body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    let token = dpo(&app, "valparisis", VALPARISIS_DPO).await;
    // The DPO asks for a document on the last two; the first is moved on.
    transition(&app, &token, &ids[0], "in_progress").await;
    for id in &ids[1..] {
        let res = post(
            &app,
            &token,
            &format!("/v1/dpo/requests/{id}/transitions"),
            json!({"to": "awaiting_identity", "note": "Une pièce d'identité, s'il vous plaît."}),
        )
        .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    // Sent once, with the acknowledgement's token (which opened the first).
    let tracking = body["tracking_token"].as_str().unwrap();
    let res = app
        .client
        .post(app.url(&format!("/v1/requests/track/{tracking}/documents")))
        .multipart(Form::new().part("id_document", file("carte.pdf", PDF)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    let first = detail(&app, &token, &ids[0]).await;
    assert_eq!(first["status"], "in_progress", "not awaiting: left alone");
    assert!(roles(&first).is_empty(), "{first}");
    for id in &ids[1..] {
        let d = detail(&app, &token, id).await;
        assert_eq!(d["status"], "received", "{d}");
        assert_eq!(roles(&d), ["id_document"]);
        assert_eq!(document(&app, &token, &d, "id_document").await, PDF);
    }
    // Sent again: nothing awaits it any more.
    let res = app
        .client
        .post(app.url(&format!("/v1/requests/track/{tracking}/documents")))
        .multipart(Form::new().part("id_document", file("carte.pdf", PDF)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn the_letter_and_the_mandate_go_with_the_identity_documents_and_the_names_with_the_requesters(
) {
    let smtp = SmtpServer::start();
    let app = started(&smtp).await;
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    app.clock.set(at("2028-02-20T09:00:00Z"));
    let token = dpo(&app, "sevres", SEVRES_DPO).await;
    let form = form(&[
        ("channel", "counter"),
        ("received_at", "2028-02-18T10:00:00Z"),
        ("kind", "access"),
        ("first_name", "Camille"),
        ("last_name", "Benali"),
        ("details", "Reçue au guichet. SECRET-DETAILS"),
        ("on_behalf_of.first_name", "Zoé"),
        ("on_behalf_of.last_name", "Lefèvre"),
        ("on_behalf_of.relation", "mandate"),
    ])
    .part("letter", file("courrier.pdf", SCAN))
    .part("mandate", file("mandat.png", MANDATE))
    .part("id_document", file("carte.pdf", PDF));
    let body = created(intake_form(&app, &token, form).await).await;
    let id = id(&body);
    app.clock.set(at("2028-02-29T12:00:00Z"));
    let token = common::login(&app, SEVRES_DPO, common::PASSWORD).await;
    transition(&app, &token, &id, "completed").await;
    app.clock.set(at("2032-01-01T00:00:00Z"));
    let token = common::login(&app, SEVRES_DPO, common::PASSWORD).await;

    let removed = |r: &guichet::retention::sweep::Report| {
        r.removed
            .get("sevres")
            .and_then(|c| c.get("id_documents"))
            .copied()
            .unwrap_or(0)
    };
    let r = common::sweep_with(&app, at("2029-02-28T11:59:59Z"), false, None).await;
    assert_eq!(removed(&r), 0);
    let r = common::sweep_with(&app, at("2029-02-28T12:00:01Z"), false, None).await;
    assert_eq!(
        removed(&r),
        3,
        "the identity document, the mandate, the letter"
    );
    let d = detail(&app, &token, &id).await;
    for doc in d["documents"].as_array().unwrap() {
        assert_eq!(doc["purged_at"], "2029-02-28T12:00:01Z", "{doc}");
    }
    assert_eq!(
        d["on_behalf_of"]["last_name"], "Lefèvre",
        "names stay two years"
    );

    common::sweep_with(&app, at("2030-02-28T12:00:01Z"), false, None).await;
    let d = detail(&app, &token, &id).await;
    assert!(d["erased_at"].is_string(), "{d}");
    assert!(
        d["on_behalf_of"].is_null(),
        "erased with the requester's: {d}"
    );
    assert_eq!(d["channel"], "counter", "how it came stays");
}
