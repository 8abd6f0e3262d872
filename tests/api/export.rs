//! The requester's own data, exported: the banner identifiers a submission
//! names (`subject_ids`), and the DPO's zip of the request with every
//! consent event still kept for them within the tenant, each receipt
//! verified against the published keys alone.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the helpers above them; split, a suite would be read in pieces.)

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use crate::common;
use crate::common::pages::{
    citizen_form, console_get, header, page_of, post_citizen_form, sign_in,
};
use crate::common::{assert_problem, create_staff, dpo, get, login, post, TestApp, PASSWORD};
use diesel::prelude::*;
use reqwest::multipart::Form;
use serde_json::{json, Value};

/// Two browsers of the requester on Val Parisis's sites, and a third one
/// the request does not name.
const FIRST: &str = "3f2b6c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f";
const SECOND: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const UNNAMED: &str = "0b7e7d4e-8a2e-4d6e-9a55-3f1c2a4b5c6d";

const CSV_HEADER: &str =
    "id,subject_id,event,policy_version,choices,given_at,expires_at,gpc,receipt,page_url";

async fn give(app: &TestApp, tenant: &str, subject: &str, choices: Value) -> Value {
    let res = app
        .client
        .post(app.url(&format!("/v1/tenants/{tenant}/consents")))
        .json(&json!({
            "subject_id": subject,
            "policy_version": "2026-01",
            "choices": choices,
            "page_url": "https://valparisis.fr/agenda",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn withdraw(app: &TestApp, tenant: &str, subject: &str) {
    let res = app
        .client
        .delete(app.url(&format!("/v1/tenants/{tenant}/consents/{subject}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

/// The consents of the story: on Val Parisis, FIRST gives, changes its mind
/// and withdraws; SECOND gives once; UNNAMED gives. On Sèvres, a browser
/// with FIRST's very identifier gives too: another tenant's record.
async fn record_consents(app: &TestApp) {
    give(app, "valparisis", FIRST, json!({"matomo": true})).await;
    app.clock.advance(chrono::Duration::minutes(5));
    give(
        app,
        "valparisis",
        FIRST,
        json!({"matomo": true, "facebook": true}),
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(5));
    withdraw(app, "valparisis", FIRST).await;
    give(app, "valparisis", SECOND, json!({"twitter": true})).await;
    give(app, "valparisis", UNNAMED, json!({"matomo": true})).await;
    give(app, "sevres", FIRST, json!({"audience": true})).await;
    app.clock.advance(chrono::Duration::minutes(5));
}

/// The ids of every consent event the service keeps for `subjects` of
/// `tenant`, read from the consent store.
async fn kept(app: &TestApp, tenant: &str, subjects: &[&str]) -> BTreeSet<String> {
    let tenant_id = app.state.tenants.get(tenant).unwrap().id.clone();
    let consents = app.state.consents.clone();
    let rows = app
        .state
        .db
        .run(move |conn| Ok(consents.all_on(conn, Some(&tenant_id))?))
        .await
        .unwrap();
    rows.into_iter()
        .filter(|r| subjects.contains(&r.subject_id.as_str()))
        .map(|r| r.id)
        .collect()
}

fn person() -> Vec<(&'static str, String)> {
    vec![
        ("kind", "access".into()),
        ("first_name", "Zoé".into()),
        ("last_name", "Lefèvre".into()),
        ("email", "zoe@example.org".into()),
        (
            "details",
            "Je souhaite une copie de mes choix de cookies.".into(),
        ),
    ]
}

fn person_json(subject_ids: Value) -> Value {
    let mut body: serde_json::Map<String, Value> = person()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    body.insert("subject_ids".into(), subject_ids);
    Value::Object(body)
}

async fn submit_json(app: &TestApp, tenant: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn submit_multipart(app: &TestApp, tenant: &str, subject_ids: &[&str]) -> reqwest::Response {
    let mut form = Form::new();
    for (k, v) in person() {
        form = form.text(k, v);
    }
    for id in subject_ids {
        form = form.text("subject_ids", id.to_string());
    }
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn accepted(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn detail(app: &TestApp, token: &str, id: &str) -> Value {
    let res = get(app, token, &format!("/v1/dpo/requests/{id}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The export of `id` as `token` sees it: checks the answer's headers and
/// returns the zip's files by name.
async fn export(
    app: &TestApp,
    token: &str,
    id: &str,
    reference: &str,
) -> BTreeMap<String, Vec<u8>> {
    let res = get(app, token, &format!("/v1/dpo/requests/{id}/export")).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(header(&res, "content-type"), "application/zip");
    assert_eq!(
        header(&res, "content-disposition"),
        format!("attachment; filename=\"{reference}.zip\"")
    );
    assert_eq!(header(&res, "cache-control"), "no-store");
    unzip(&res.bytes().await.unwrap())
}

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        files.insert(file.name().to_owned(), content);
    }
    files
}

/// Verifies a receipt with the published key set alone; its claims.
async fn verified(app: &TestApp, receipt: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(receipt).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the receipt's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(receipt, &key, &validation)
        .expect("the receipt verifies")
        .claims
}

/// What an export of the story's request must hold, whatever way it was
/// submitted: the request by its reference, and exactly the tenant's
/// events of FIRST and SECOND, in JSON and in CSV, each receipt verified.
async fn check_export(app: &TestApp, token: &str, submitted: &Value) {
    let (id, reference) = (
        submitted["id"].as_str().unwrap(),
        submitted["reference"].as_str().unwrap(),
    );
    let files = export(app, token, id, reference).await;
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["consents.csv", "consents.json", "request.json"]);

    let request: Value = serde_json::from_slice(&files["request.json"]).unwrap();
    assert_eq!(request["reference"], reference);
    assert_eq!(request["id"], id);
    assert_eq!(request["subject_ids"], json!([FIRST, SECOND]));
    assert_eq!(request["email"], "zoe@example.org");
    let actions: Vec<&str> = request["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"received"), "{actions:?}");

    let expected = kept(app, "valparisis", &[FIRST, SECOND]).await;
    assert_eq!(expected.len(), 4, "three events of FIRST, one of SECOND");
    let consents: Value = serde_json::from_slice(&files["consents.json"]).unwrap();
    assert_eq!(consents["tenant"], "valparisis");
    assert_eq!(consents["subject_ids"], json!([FIRST, SECOND]));
    assert!(
        consents["verify_with"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json"),
        "{consents}"
    );
    let events = consents["events"].as_array().unwrap();
    let ids: BTreeSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected, "exactly the tenant's events of the two");
    assert_eq!(ids.len(), events.len(), "each once");
    let withdrawn = events.iter().filter(|e| e["event"] == "withdrawn").count();
    assert_eq!(withdrawn, 1);
    for e in events {
        for field in [
            "id",
            "subject_id",
            "event",
            "policy_version",
            "choices",
            "given_at",
            "expires_at",
            "gpc",
            "receipt",
            "page_url",
        ] {
            assert!(e.get(field).is_some(), "{field} in {e}");
        }
        assert!(e["choices"].is_object(), "{e}");
        if e["event"] == "given" {
            let claims = verified(app, e["receipt"].as_str().unwrap()).await;
            assert_eq!(claims["jti"], e["id"]);
            assert_eq!(claims["sub"], e["subject_id"]);
            assert_eq!(claims["tenant"], "valparisis");
            assert_eq!(claims["choices"], e["choices"]);
            assert_eq!(e["page_url"], "https://valparisis.fr/agenda");
        } else {
            assert!(e["receipt"].is_null(), "a withdrawal has no receipt: {e}");
        }
    }

    let csv = String::from_utf8(files["consents.csv"].clone()).unwrap();
    assert_eq!(csv.lines().next(), Some(CSV_HEADER));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let csv_ids: BTreeSet<String> = rows.iter().map(|r| r[0].to_owned()).collect();
    assert_eq!(csv_ids, expected);
    for row in &rows {
        let json = events.iter().find(|e| e["id"] == row[0]).unwrap();
        assert_eq!(row[1], *json["subject_id"].as_str().unwrap());
        assert_eq!(row[2], *json["event"].as_str().unwrap());
        let choices: Value = serde_json::from_str(&row[4]).unwrap();
        assert_eq!(choices, json["choices"]);
        assert_eq!(row[8], *json["receipt"].as_str().unwrap_or(""));
        if !row[8].is_empty() {
            verified(app, &row[8]).await;
        }
    }
}

#[tokio::test]
async fn a_json_submission_names_its_identifiers_and_the_export_holds_their_consents() {
    let app = common::spawn_app().await;
    record_consents(&app).await;
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    // Upper case, twice: one identifier each.
    let body = person_json(json!([FIRST.to_uppercase(), SECOND, FIRST]));
    let submitted = accepted(submit_json(&app, "valparisis", &body).await).await;
    let id = submitted["id"].as_str().unwrap();
    let d = detail(&app, &token, id).await;
    assert_eq!(
        d["subject_ids"],
        json!([FIRST, SECOND]),
        "folded, normalised"
    );

    check_export(&app, &token, &submitted).await;

    // The export is on the timeline, by the DPO, and in the audit log by
    // the request's reference.
    let d = detail(&app, &token, id).await;
    let exported: Vec<&Value> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "exported")
        .collect();
    assert_eq!(exported.len(), 1, "{}", d["events"]);
    assert_eq!(exported[0]["actor"], "dpo@valparisis.fr");
    assert_eq!(exported[0]["detail"]["consent_events"], 4);
    let audit: Value = get(&app, &token, "/v1/dpo/audit?kind=request.exported")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["subject_id"], submitted["reference"]);
    assert_eq!(audit["items"][0]["actor"]["email"], "dpo@valparisis.fr");
}

#[tokio::test]
async fn a_multipart_submission_repeats_the_field_and_the_export_is_the_same() {
    let app = common::spawn_app().await;
    record_consents(&app).await;
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let submitted = accepted(submit_multipart(&app, "valparisis", &[FIRST, SECOND]).await).await;
    let d = detail(&app, &token, submitted["id"].as_str().unwrap()).await;
    assert_eq!(d["subject_ids"], json!([FIRST, SECOND]));
    check_export(&app, &token, &submitted).await;
}

#[tokio::test]
async fn a_request_without_identifiers_exports_the_request_alone() {
    let app = common::spawn_app().await;
    record_consents(&app).await;
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let submitted = accepted(submit_multipart(&app, "valparisis", &[]).await).await;
    let d = detail(&app, &token, submitted["id"].as_str().unwrap()).await;
    assert_eq!(d["subject_ids"], json!([]));
    let files = export(
        &app,
        &token,
        submitted["id"].as_str().unwrap(),
        submitted["reference"].as_str().unwrap(),
    )
    .await;
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["request.json"]);
}

/// Requests kept and letters queued, all tenants together.
async fn stored(app: &TestApp) -> (i64, i64) {
    use guichet::db::schema::{mail_outbox, rights_requests};
    app.state
        .db
        .run(|conn| {
            Ok((
                rights_requests::table.count().get_result(conn)?,
                mail_outbox::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

async fn refused(res: reqwest::Response) -> String {
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["subject_ids"], "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn identifiers_that_are_not_uuids_or_too_many_are_refused_and_nothing_is_stored() {
    let app = common::spawn_app().await;
    let eleven: Vec<String> = (0..11).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let ten = &eleven[..10];

    let message = refused(
        submit_json(
            &app,
            "valparisis",
            &person_json(json!([FIRST, "pas-un-uuid"])),
        )
        .await,
    )
    .await;
    assert!(message.contains("UUID"), "{message}");
    // Written as the document's `format: uuid` has it, or refused.
    let simple = FIRST.replace('-', "");
    refused(submit_json(&app, "valparisis", &person_json(json!([simple]))).await).await;
    let braced = format!("{{{FIRST}}}");
    refused(submit_multipart(&app, "valparisis", &[&braced]).await).await;
    let message = refused(submit_json(&app, "valparisis", &person_json(json!(eleven))).await).await;
    assert_eq!(message, "must hold at most 10 identifiers");
    refused(submit_json(&app, "valparisis", &person_json(json!(FIRST))).await).await;
    refused(submit_json(&app, "valparisis", &person_json(json!([42]))).await).await;
    refused(submit_json(&app, "valparisis", &person_json(json!([""]))).await).await;
    let ids: Vec<&str> = eleven.iter().map(String::as_str).collect();
    refused(submit_multipart(&app, "valparisis", &ids).await).await;
    refused(submit_multipart(&app, "valparisis", &[FIRST, "x"]).await).await;
    // Eleven in one field, separated by commas and line breaks.
    refused(submit_multipart(&app, "valparisis", &[&eleven.join(",\n")]).await).await;
    assert_eq!(stored(&app).await, (0, 0), "nothing half-stored");

    // Ten is the limit: accepted, the same ten in one field or repeated.
    let ids: Vec<&str> = ten.iter().map(String::as_str).collect();
    accepted(submit_multipart(&app, "valparisis", &ids).await).await;
    accepted(submit_json(&app, "valparisis", &person_json(json!(ten))).await).await;
    assert_eq!(stored(&app).await.0, 2);
}

#[tokio::test]
async fn the_limit_is_a_setting() {
    let app = common::spawn_app_with(|s| s.requests.max_subject_ids = 1, |_| {}).await;
    let message =
        refused(submit_json(&app, "valparisis", &person_json(json!([FIRST, SECOND]))).await).await;
    assert_eq!(message, "must hold at most 1 identifiers");
    accepted(submit_json(&app, "valparisis", &person_json(json!([FIRST]))).await).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schema = &doc["components"]["schemas"]["SubmissionJson"]["properties"]["subject_ids"];
    assert_eq!(schema["maxItems"], 1, "{schema}");
}

#[tokio::test]
async fn the_document_describes_the_field_and_the_export() {
    let app = common::spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for form in ["SubmissionJson", "SubmissionForm"] {
        let schema = &doc["components"]["schemas"][form]["properties"]["subject_ids"];
        assert_eq!(schema["maxItems"], 10, "{form}: {schema}");
        assert_eq!(schema["items"]["format"], "uuid", "{form}: {schema}");
    }
    let export = &doc["paths"]["/v1/dpo/requests/{id}/export"]["get"];
    assert!(
        export["responses"]["200"]["content"]["application/zip"].is_object(),
        "{export}"
    );
    assert!(export["responses"]["404"].is_object(), "{export}");
}

#[tokio::test]
async fn another_tenants_dpo_gets_a_404_and_nothing_is_journaled() {
    let app = common::spawn_app().await;
    record_consents(&app).await;
    let submitted = accepted(submit_multipart(&app, "valparisis", &[FIRST]).await).await;
    let id = submitted["id"].as_str().unwrap();
    let other = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let res = get(&app, &other, &format!("/v1/dpo/requests/{id}/export")).await;
    assert_problem(res, 404, "not_found").await;
    let res = get(&app, &other, "/v1/dpo/requests/not-a-uuid/export").await;
    assert_problem(res, 404, "not_found").await;
    let res = app.get(&format!("/v1/dpo/requests/{id}/export")).await;
    assert_eq!(res.status(), 401);

    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let d = detail(&app, &token, id).await;
    assert!(
        !d["events"].to_string().contains("exported"),
        "{}",
        d["events"]
    );
    // An admin sees every tenant: its export is journaled under its name.
    create_staff(&app, None, "admin@guichet.example", "admin", PASSWORD).await;
    let admin = login(&app, "admin@guichet.example", PASSWORD).await;
    let res = get(&app, &admin, &format!("/v1/dpo/requests/{id}/export")).await;
    assert_eq!(res.status(), 200);
    let d = detail(&app, &token, id).await;
    let exported = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "exported")
        .cloned()
        .unwrap();
    assert_eq!(exported["actor"], "admin@guichet.example");
}

#[tokio::test]
async fn the_identifiers_go_with_the_requesters_data() {
    let app = common::spawn_app().await;
    record_consents(&app).await;
    let submitted = accepted(submit_multipart(&app, "valparisis", &[FIRST, SECOND]).await).await;
    let id = submitted["id"].as_str().unwrap();
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        json!({"to": "completed", "note": "Voici vos données."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    // Two years after the closure, the requester's data are erased.
    let after = common::start_time() + chrono::Duration::days(2 * 366);
    app.clock.set(after);
    common::sweep_with(&app, after, false, None).await;
    let token = login(&app, "dpo@valparisis.fr", PASSWORD).await;
    let d = detail(&app, &token, id).await;
    assert!(d["erased_at"].is_string(), "{d}");
    assert_eq!(d["subject_ids"], json!([]));
    let files = export(&app, &token, id, submitted["reference"].as_str().unwrap()).await;
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["request.json"], "no identifier left to look up");
}

#[tokio::test]
async fn the_citizens_form_takes_identifiers_in_one_field_and_explains_them() {
    let app = common::spawn_app().await;
    let res = app.get("/t/valparisis/droits").await;
    let html = page_of(res).await;
    assert!(html.contains("name=\"subject_ids\""), "the field");
    assert!(html.contains("Voir mon identifiant"), "where to find it");
    assert!(html.contains("subject_id"), "its name in the receipt");

    let bad = [
        ("kind", "access"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe@example.org"),
        ("details", "Mes choix de cookies."),
        ("subject_ids", "pas-un-identifiant"),
    ];
    let res = post_citizen_form(&app, "valparisis", &bad, 0).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("href=\"#f-subject_ids\""), "in the summary");
    assert!(
        html.contains("id=\"f-subject_ids-error\""),
        "beside the field"
    );
    assert!(html.contains("pas-un-identifiant"), "the input is kept");
    assert_eq!(stored(&app).await, (0, 0));

    let both = format!("{FIRST},\n {}", SECOND.to_uppercase());
    let mut good = bad;
    good[5] = ("subject_ids", both.as_str());
    let res = app
        .client
        .post(app.url("/t/valparisis/droits"))
        .multipart(citizen_form(&good, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let token = dpo(&app, "valparisis", "dpo@valparisis.fr").await;
    let queue: Value = get(&app, &token, "/v1/dpo/requests")
        .await
        .json()
        .await
        .unwrap();
    let id = queue["items"][0]["id"].as_str().unwrap();
    let d = detail(&app, &token, id).await;
    assert_eq!(d["subject_ids"], json!([FIRST, SECOND]));
}

#[tokio::test]
async fn the_console_shows_the_identifiers_and_downloads_the_export() {
    let app = common::spawn_app().await;
    record_consents(&app).await;
    let submitted = accepted(submit_multipart(&app, "valparisis", &[FIRST, SECOND]).await).await;
    let (id, reference) = (
        submitted["id"].as_str().unwrap(),
        submitted["reference"].as_str().unwrap(),
    );
    create_staff(
        &app,
        Some("valparisis"),
        "dpo@valparisis.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    let console = sign_in(&app, "dpo@valparisis.fr").await;
    let page = console_get(&app, &console.cookie, &format!("/console/requests/{id}")).await;
    let html = page_of(page).await;
    assert!(
        html.contains(FIRST) && html.contains(SECOND),
        "the identifiers"
    );
    let link = format!("href=\"/console/requests/{id}/export\"");
    assert!(html.contains(&link), "the export link");
    assert!(html.contains("Exporter les données (zip)"));

    let res = console_get(
        &app,
        &console.cookie,
        &format!("/console/requests/{id}/export"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/zip");
    assert_eq!(
        header(&res, "content-disposition"),
        format!("attachment; filename=\"{reference}.zip\"")
    );
    let files = unzip(&res.bytes().await.unwrap());
    let consents: Value = serde_json::from_slice(&files["consents.json"]).unwrap();
    assert_eq!(consents["events"].as_array().unwrap().len(), 4);

    // On the timeline of the page, by the DPO.
    let html =
        page_of(console_get(&app, &console.cookie, &format!("/console/requests/{id}")).await).await;
    assert!(html.contains("Données exportées"), "on the timeline");

    // Another tenant's request is a 404 page; signed out, to the sign-in.
    let other = accepted(submit_multipart(&app, "valparisis", &[]).await).await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let sevres = sign_in(&app, "dpo@ville-sevres.fr").await;
    let res = console_get(
        &app,
        &sevres.cookie,
        &format!("/console/requests/{other_id}/export"),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = app
        .get(&format!("/console/requests/{other_id}/export"))
        .await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn the_console_attaches_the_export_to_an_answer_in_one_action() {
    use sha2::{Digest, Sha256};
    let smtp = common::SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    record_consents(&app).await;
    let submitted = accepted(submit_multipart(&app, "valparisis", &[FIRST, SECOND]).await).await;
    let (id, reference, tracking) = (
        submitted["id"].as_str().unwrap(),
        submitted["reference"].as_str().unwrap(),
        submitted["tracking_token"].as_str().unwrap(),
    );
    create_staff(
        &app,
        Some("valparisis"),
        "dpo@valparisis.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    let console = sign_in(&app, "dpo@valparisis.fr").await;
    let path = format!("/console/requests/{id}");
    let html = page_of(console_get(&app, &console.cookie, &path).await).await;
    assert!(html.contains(&format!("action=\"/console/requests/{id}/attach_export\"")));
    assert!(html.contains("Joindre l&#x27;export à ma réponse"));

    // A message that would be refused exports nothing.
    let attach = format!("/console/requests/{id}/attach_export");
    let res = common::pages::console_post(
        &app,
        &console.cookie,
        &attach,
        &[("csrf", console.csrf.as_str()), ("body", "  ")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(
        html.contains("id=\"attach_export-body-error\""),
        "beside the field"
    );
    let token = login(&app, "dpo@valparisis.fr", PASSWORD).await;
    let d = detail(&app, &token, id).await;
    assert!(
        !d["events"].to_string().contains("exported"),
        "{}",
        d["events"]
    );
    assert_eq!(d["messages"], json!([]));

    const BODY: &str = "Voici vos données : MARQUEUR-DU-MESSAGE.";
    let res = common::pages::console_post(
        &app,
        &console.cookie,
        &attach,
        &[("csrf", console.csrf.as_str()), ("body", BODY)],
    )
    .await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    assert_eq!(
        header(&res, "location"),
        format!("{path}?done=attach_export")
    );
    let html =
        page_of(console_get(&app, &console.cookie, &format!("{path}?done=attach_export")).await)
            .await;
    assert!(
        html.contains("avec l&#x27;export en pièce jointe"),
        "the flash"
    );

    // Exported, then answered: one message with the zip attached.
    let d = detail(&app, &token, id).await;
    let actions: Vec<&str> = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["received", "exported", "message"],
        "{}",
        d["events"]
    );
    let messages = d["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], BODY);
    assert_eq!(messages[0]["author"], "dpo@valparisis.fr");
    let files = messages[0]["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["filename"], format!("{reference}.zip"));
    assert_eq!(files[0]["content_type"], "application/zip");

    // The requester downloads it from the tracking page: the export itself.
    let t: Value = app
        .get(&format!("/v1/requests/track/{tracking}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["messages"][0]["body"], BODY);
    let file_id = t["messages"][0]["attachments"][0]["id"].as_str().unwrap();
    let res = app
        .get(&format!(
            "/v1/requests/track/{tracking}/attachments/{file_id}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    let zip = res.bytes().await.unwrap();
    assert_eq!(
        files[0]["sha256"],
        hex(&Sha256::digest(&zip)),
        "the bytes kept are the bytes sent"
    );
    let unzipped = unzip(&zip);
    let request: Value = serde_json::from_slice(&unzipped["request.json"]).unwrap();
    assert_eq!(request["reference"], reference);
    let consents: Value = serde_json::from_slice(&unzipped["consents.json"]).unwrap();
    let ids: BTreeSet<String> = consents["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, kept(&app, "valparisis", &[FIRST, SECOND]).await);

    // The e-mail carries the link, never the text or the file.
    common::deliver(&app).await;
    let last = smtp
        .messages()
        .into_iter()
        .rev()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            let to = m.to()?.first()?.address()?.to_owned();
            (to == "zoe@example.org").then(|| {
                (
                    m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                    m.attachment_count(),
                    m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                )
            })
        })
        .next()
        .expect("the requester is told");
    assert!(last.0.contains("/v1/requests/track/"), "{}", last.0);
    assert_eq!(last.1, 0, "no file in the e-mail");
    for part in [&last.0, &last.2] {
        assert!(!part.contains("MARQUEUR-DU-MESSAGE"), "{part}");
        assert!(!part.contains(FIRST), "no identifier in the e-mail: {part}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
