//! What a stock banner needs from the consent API (issue #21): the policy,
//! the consent in force and whether to ask, in one answer; purposes with a
//! category; the policies a tenant has served with the SHA-256 each receipt
//! carries; retries with an `Idempotency-Key` that record nothing new.

use crate::common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{assert_problem, spawn_app, TestApp};

const SUBJECT: &str = "0b8c1a57-3d2e-4f6a-9b1c-7e5d4c3b2a10";

fn consent(version: &str, audience: bool) -> Value {
    json!({"subject_id": SUBJECT, "policy_version": version, "choices": {"audience": audience}})
}

async fn state(app: &TestApp, query: &str) -> (reqwest::header::HeaderMap, Value) {
    let res = app
        .get(&format!("/v1/tenants/sevres/consent-state{query}"))
        .await;
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

async fn post(app: &TestApp, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    req.send().await.unwrap()
}

/// Events the subject has, given and withdrawn.
async fn events(app: &TestApp) -> usize {
    let res = app
        .get(&format!("/v1/tenants/sevres/consents/{SUBJECT}/history"))
        .await;
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().len()
}

fn claims(receipt: &str) -> Value {
    let payload = receipt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn one_answer_tells_the_banner_the_policy_the_consent_and_whether_to_ask() {
    let app = spawn_app().await;
    // A first visit: no subject yet; the same answer for everyone.
    let (headers, first) = state(&app, "").await;
    assert_eq!(first["current"], Value::Null);
    assert_eq!(first["needs_consent"], true);
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("public"));
    // The policy part is the tenant's policy, as `/consent-policy` gives it.
    let policy: Value = app
        .get("/v1/tenants/sevres/consent-policy")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["policy"], policy);
    assert_eq!(
        first["policy"]["sha256"],
        app.state
            .tenants
            .get("sevres")
            .unwrap()
            .policy_sha256
            .as_str()
    );
    let version = first["policy"]["policy_version"]
        .as_str()
        .unwrap()
        .to_owned();
    let categories: Vec<(&str, &str)> = first["policy"]["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["category"].as_str().unwrap()))
        .collect();
    assert!(
        categories.contains(&("essential", "essential")),
        "{categories:?}"
    );
    assert!(
        categories.contains(&("audience", "analytics")),
        "{categories:?}"
    );
    assert!(
        categories.contains(&("facebook", "social")),
        "{categories:?}"
    );

    // A subject without consent: asked.
    let (headers, unknown) = state(&app, &format!("?subject_id={SUBJECT}")).await;
    assert_eq!(unknown["current"], Value::Null);
    assert_eq!(unknown["needs_consent"], true);
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));

    // Once given: restored, not asked.
    let res = post(&app, &consent(&version, true), None).await;
    assert_eq!(res.status(), 201);
    let given: Value = res.json().await.unwrap();
    assert_eq!(given["policy_current"], true);
    let (_, known) = state(&app, &format!("?subject_id={SUBJECT}")).await;
    assert_eq!(known["needs_consent"], false);
    assert_eq!(known["current"]["choices"]["audience"], true);
    assert_eq!(known["current"]["consent_id"], given["consent_id"]);
    let res = app
        .get(&format!("/v1/tenants/sevres/consents/{SUBJECT}"))
        .await;
    let current: Value = res.json().await.unwrap();
    assert_eq!(current["policy_current"], true);

    // The receipt names the policy by the hash the public list gives, and
    // that hash is the SHA-256 of the canonical JSON listed with it.
    let res = app.get("/v1/tenants/sevres/consent-policy/versions").await;
    assert_eq!(res.status(), 200);
    let versions: Value = res.json().await.unwrap();
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{versions}");
    let served = &items[0];
    assert_eq!(served["policy_version"], version.as_str());
    assert_eq!(served["valid_to"], Value::Null);
    let canonical = served["policy"].as_str().unwrap();
    let hash = format!("{:x}", Sha256::digest(canonical.as_bytes()));
    assert_eq!(served["sha256"], hash.as_str());
    assert_eq!(first["policy"]["sha256"], hash.as_str());
    assert_eq!(
        claims(given["receipt"].as_str().unwrap())["policy_sha256"],
        hash.as_str()
    );
    let parsed: Value = serde_json::from_str(canonical).unwrap();
    assert_eq!(parsed["purposes"][1]["category"], "analytics");

    // Not a UUID: told, whoever asks.
    let res = app
        .get("/v1/tenants/sevres/consent-state?subject_id=nope")
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app.get("/v1/tenants/nowhere/consent-state").await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_new_policy_closes_the_old_one_and_the_banner_asks_again() {
    let app = spawn_app().await;
    let (_, first) = state(&app, "").await;
    let version = first["policy"]["policy_version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        post(&app, &consent(&version, true), None).await.status(),
        201
    );

    // What a restart with a new policy does: the tenants synchronised.
    let mut settings = common::test_settings(app.dir.path(), &app.db);
    let sevres = settings.tenants.get_mut("sevres").unwrap();
    sevres.consent.policy_version = "2027-01".into();
    app.clock.advance(Duration::days(30));
    let now = app.clock.now().naive_utc();
    let configured = settings.tenants.clone();
    let tenants = app
        .state
        .db
        .run(move |conn| Ok(guichet::tenants::sync(conn, &configured, now)?))
        .await
        .unwrap();
    // Twice: a start with the same policy records nothing more.
    let configured = settings.tenants.clone();
    app.state
        .db
        .run(move |conn| Ok(guichet::tenants::sync(conn, &configured, now)?))
        .await
        .unwrap();
    let res = app.get("/v1/tenants/sevres/consent-policy/versions").await;
    let versions: Value = res.json().await.unwrap();
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{versions}");
    assert_eq!(items[0]["policy_version"], version.as_str());
    assert!(items[0]["valid_to"].is_string(), "the old one closed");
    assert_eq!(items[1]["policy_version"], "2027-01");
    assert_eq!(items[1]["valid_to"], Value::Null);
    assert_ne!(items[0]["sha256"], items[1]["sha256"]);
    let new = tenants.get("sevres").unwrap();
    assert_eq!(
        items[1]["sha256"],
        new.config.consent.proof("sevres").1.as_str()
    );

    // Against the new version, the consent in force is not current: asked.
    let rows = app
        .state
        .consents
        .latest(&new.id, SUBJECT)
        .await
        .unwrap()
        .expect("the consent");
    let seen = guichet::consent::views::view("sevres", &rows, "2027-01");
    assert!(!seen.policy_current);
}

#[tokio::test]
async fn a_retry_with_its_idempotency_key_gets_the_first_answer_and_records_nothing() {
    let app = spawn_app().await;
    let (_, first) = state(&app, "").await;
    let version = first["policy"]["policy_version"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = consent(&version, true);

    let res = post(&app, &body, Some("decision-1")).await;
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    let res = post(&app, &body, Some("decision-1")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotency-replayed"], "true");
    let again: Value = res.json().await.unwrap();
    assert_eq!(again, answer, "the first answer, whole");
    assert_eq!(events(&app).await, 1, "recorded once");

    // The same key for another decision: refused, nothing recorded.
    let res = post(&app, &consent(&version, false), Some("decision-1")).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    // Not a key.
    let res = post(&app, &body, Some("deux mots")).await;
    assert_problem(res, 422, "validation_failed").await;
    assert_eq!(events(&app).await, 1);

    // Sent twice at once: one consent.
    let refusal = consent(&version, false);
    let (a, b) = tokio::join!(
        post(&app, &refusal, Some("decision-2")),
        post(&app, &refusal, Some("decision-2"))
    );
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(
        statuses.contains(&201) && statuses.iter().all(|s| [201, 409].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(events(&app).await, 2, "one more, whatever the order");

    // A key fails with its request: a retry may record.
    let stale = consent("1999-01", true);
    let res = post(&app, &stale, Some("decision-3")).await;
    assert_problem(res, 409, "stale_policy_version").await;
    // The same body again is told the same, not that it is in flight.
    let res = post(&app, &stale, Some("decision-3")).await;
    assert_problem(res, 409, "stale_policy_version").await;
    assert_eq!(events(&app).await, 2);

    // A day later the key is forgotten: the same key records anew.
    app.clock.advance(Duration::hours(25));
    let res = post(&app, &body, Some("decision-1")).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotency-replayed").is_none());
    assert_eq!(events(&app).await, 3);
}
