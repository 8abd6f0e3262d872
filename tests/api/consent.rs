//! Cookie consent through the real service: record, normalise, prove,
//! withdraw, count, export; CORS per tenant; privacy of what is stored.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use crate::common::{
    assert_problem, create_staff, login, spawn_app, spawn_app_with, TestApp, PASSWORD,
};
use serde_json::{json, Value};

const SEVRES_ORIGIN: &str = "https://sevres-seineouest.opendatasoft.com";
const SUBJECT: &str = "0b7e7d4e-8a2e-4d6e-9a55-3f1c2a4b5c6d";

async fn post_consent(app: &TestApp, tenant: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/consents")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn consent(choices: Value) -> Value {
    json!({"subject_id": SUBJECT, "policy_version": "2026-01", "choices": choices})
}

#[tokio::test]
async fn the_policy_lists_the_tenant_purposes() {
    let app = spawn_app().await;
    let res = app.get("/v1/tenants/valparisis/consent-policy").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["tenant"], "valparisis");
    assert_eq!(body["policy_version"], "2026-01");
    assert_eq!(body["validity_months"], 13);
    let ids: Vec<&str> = body["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["essential", "matomo", "facebook", "instagram", "twitter"]
    );
    assert_eq!(body["purposes"][0]["essential"], true);
    assert_problem(
        app.get("/v1/tenants/nowhere/consent-policy").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_consent_is_recorded_normalised_and_read_back() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .header("sec-gpc", "1")
        .json(&consent(json!({"audience": true, "twitter": false})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["location"],
        format!("/v1/tenants/sevres/consents/{SUBJECT}")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["subject_id"], SUBJECT);
    assert_eq!(body["tenant"], "sevres");
    assert_eq!(body["policy_version"], "2026-01");
    assert_eq!(
        body["choices"],
        json!({"essential": true, "audience": true, "twitter": false, "facebook": false, "linkedin": false})
    );
    assert_eq!(body["given_at"], "2026-03-02T09:30:00Z");
    assert_eq!(body["expires_at"], "2027-04-02T09:30:00Z");
    assert_eq!(body["gpc"], true);
    assert!(uuid::Uuid::parse_str(body["consent_id"].as_str().unwrap()).is_ok());

    let res = app
        .get(&format!("/v1/tenants/sevres/consents/{SUBJECT}"))
        .await;
    assert_eq!(res.status(), 200);
    let current: Value = res.json().await.unwrap();
    assert_eq!(current, body, "the current consent has the same shape");

    // Refusing everything is a choice like any other.
    let res = post_consent(
        &app,
        "sevres",
        json!({"policy_version": "2026-01", "choices": {}}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let generated = body["subject_id"].as_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(generated).is_ok(),
        "a subject id is made when absent"
    );
    assert_eq!(body["choices"]["audience"], false);
    assert_eq!(body["gpc"], false);
}

#[tokio::test]
async fn end_of_month_expiry_follows_the_calendar() {
    let app = spawn_app().await;
    app.clock.set("2027-01-31T23:00:00Z".parse().unwrap());
    let body: Value = post_consent(&app, "nimes", consent(json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["expires_at"], "2028-02-29T23:00:00Z");
}

#[tokio::test]
async fn choices_are_checked_against_the_policy() {
    let app = spawn_app().await;
    let res = post_consent(
        &app,
        "sevres",
        consent(json!({"matomo": true, "essential": false})),
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["choices.essential", "choices.matomo"]);

    let mut stale = consent(json!({}));
    stale["policy_version"] = json!("2025-06");
    let body = assert_problem(
        post_consent(&app, "sevres", stale).await,
        409,
        "stale_policy_version",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("`2026-01`"),
        "{body}"
    );

    let res = post_consent(
        &app,
        "sevres",
        json!({"subject_id": "not-a-uuid", "policy_version": "2026-01", "choices": {}}),
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "subject_id");
}

#[tokio::test]
async fn bad_bodies_get_clear_errors_and_record_nothing() {
    let app = spawn_app().await;
    let raw = |ct: &'static str, body: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/tenants/sevres/consents"))
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_problem(
        raw("application/json", "{not json".into()).await,
        400,
        "malformed_request",
    )
    .await;
    assert_problem(
        raw("text/plain", consent(json!({})).to_string()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    let res = raw(
        "application/json",
        json!({"policy_version": 7, "choices": {}}).to_string(),
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "policy_version");
    let res = raw(
        "application/json",
        json!({"policy_version": "2026-01", "choices": {"audience": "yes"}}).to_string(),
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "choices.audience");
    let res = raw(
        "application/json",
        json!({"policy_version": "2026-01", "choices": [], "extra": 1}).to_string(),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    let huge = json!({"policy_version": "2026-01", "choices": {}, "tc_string": "x".repeat(20_000)});
    assert_problem(
        raw("application/json", huge.to_string()).await,
        413,
        "payload_too_large",
    )
    .await;
    let many: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("p{i}"), json!(true)))
        .collect();
    let res = raw(
        "application/json",
        json!({"policy_version": "2026-01", "choices": many}).to_string(),
    )
    .await;
    assert_problem(res, 413, "payload_too_large").await;
    let res = post_consent(&app, "atlantis", consent(json!({}))).await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(common::consent_count(&app).await, 0, "nothing was recorded");
}

#[tokio::test]
async fn ten_thousand_purposes_under_a_larger_limit_are_a_short_422() {
    let app = spawn_app_with(|s| s.limits.json_body_bytes = 1 << 20, |_| {}).await;
    let many: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("p{i}"), json!(true)))
        .collect();
    let res = post_consent(
        &app,
        "sevres",
        json!({"policy_version": "2026-01", "choices": many}),
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 21);
}

#[tokio::test]
async fn events_are_immutable_and_the_current_consent_is_the_latest_in_force() {
    let app = spawn_app().await;
    let url = format!("/v1/tenants/dunkerque/consents/{SUBJECT}");
    assert_problem(app.get(&url).await, 404, "not_found").await;
    let res = app.client.delete(app.url(&url)).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;

    post_consent(&app, "dunkerque", consent(json!({"audience": true}))).await;
    app.clock.advance(chrono::Duration::days(10));
    post_consent(
        &app,
        "dunkerque",
        consent(json!({"audience": false, "linkedin": true})),
    )
    .await;
    let current: Value = app.get(&url).await.json().await.unwrap();
    assert_eq!(current["choices"]["audience"], false);
    assert_eq!(current["choices"]["linkedin"], true);

    app.clock.advance(chrono::Duration::days(1));
    let res = app.client.delete(app.url(&url)).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(app.get(&url).await, 404, "not_found").await;
    let res = app.client.delete(app.url(&url)).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;

    let history: Value = app
        .get(&format!("{url}/history"))
        .await
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    let events: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["event"].as_str().unwrap(), i["at"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        [
            ("given", "2026-03-02T09:30:00Z"),
            ("given", "2026-03-12T09:30:00Z"),
            ("withdrawn", "2026-03-13T09:30:00Z")
        ]
    );
    assert_eq!(
        items[0]["choices"]["audience"], true,
        "the first event is untouched"
    );
    assert_eq!(items[2]["policy_version"], "2026-01");
    assert_eq!(common::consent_count(&app).await, 3);

    // A consent lapses after 13 months: the banner must ask again.
    post_consent(&app, "dunkerque", consent(json!({"twitter": true}))).await;
    app.clock
        .advance(chrono::Duration::days(396) - chrono::Duration::seconds(1));
    assert_eq!(
        app.get(&url).await.status(),
        200,
        "one second before expiry"
    );
    app.clock.advance(chrono::Duration::seconds(1));
    assert_problem(app.get(&url).await, 404, "not_found").await;
    let res = app.get("/v1/tenants/dunkerque/consents/not-a-uuid").await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn receipts_verify_with_the_jwks_alone_and_tampering_fails() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let app = spawn_app().await;
    let body: Value = post_consent(&app, "guadeloupe", consent(json!({"twitter": true})))
        .await
        .json()
        .await
        .unwrap();
    let receipt = body["receipt"].as_str().unwrap();

    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(receipt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the receipt's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(receipt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["jti"], body["consent_id"]);
    assert_eq!(claims["tenant"], "guadeloupe");
    assert_eq!(claims["policy_version"], "2026-01");
    assert_eq!(claims["choices"], body["choices"]);
    assert_eq!(claims["gpc"], false);
    assert_eq!(claims["iat"], 1772443800);
    assert_eq!(
        claims["exp"],
        chrono::DateTime::parse_from_rfc3339("2027-04-02T09:30:00Z")
            .unwrap()
            .timestamp()
    );
    assert!(claims["iss"].is_string());

    let parts: Vec<&str> = receipt.split('.').collect();
    let mut forged_claims = claims.clone();
    forged_claims["choices"]["twitter"] = json!(false);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &validation).is_err());
}

#[tokio::test]
async fn cors_follows_the_tenant_origins() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(
                    reqwest::Method::OPTIONS,
                    app.url("/v1/tenants/sevres/consents"),
                )
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .unwrap()
        }
    };
    let res = preflight(SEVRES_ORIGIN).await;
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], SEVRES_ORIGIN);
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    assert!(h.contains_key("access-control-max-age"));

    for foreign in [
        "https://evil.example",
        "https://data.dunkerque-agglo.fr",
        "null",
    ] {
        let res = preflight(foreign).await;
        assert!(
            !res.headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{foreign}"
        );
        assert_eq!(res.status(), 403);
        let res = app
            .client
            .post(app.url("/v1/tenants/sevres/consents"))
            .header("origin", foreign)
            .json(&consent(json!({})))
            .send()
            .await
            .unwrap();
        assert!(!res.headers().contains_key("access-control-allow-origin"));
        assert_problem(res, 403, "origin_not_allowed").await;
    }
    assert_eq!(common::consent_count(&app).await, 0);

    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .header("origin", SEVRES_ORIGIN)
        .json(&consent(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["access-control-allow-origin"], SEVRES_ORIGIN);
    assert!(res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("location"));
    // Server to server: no Origin, accepted.
    assert_eq!(
        post_consent(&app, "sevres", consent(json!({})))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn what_is_stored_keeps_no_raw_ip_and_trims_the_rest() {
    let app = spawn_app().await;
    let long_ua = format!("Mozilla/5.0 (X11; Linux) {}", "Gecko/20100101 ".repeat(20));
    let res = app
        .client
        .post(app.url("/v1/tenants/nimes/consents"))
        .header("user-agent", &long_ua)
        .json(&json!({
            "subject_id": SUBJECT,
            "policy_version": "2026-01",
            "choices": {"audience": true},
            "tc_string": "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
            "page_url": "https://data.nimes-metropole.fr/explore/dataset/x/?q=jean.dupont%40mail.fr#map"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let consents = app.state.consents.clone();
    let row = app
        .state
        .db
        .run(move |conn| {
            let all = consents.all_on(conn, None)?;
            let e = all.into_iter().next().expect("one event");
            Ok((e.ip_pseudonym, e.user_agent, e.page_url, e.tc_string))
        })
        .await
        .unwrap();
    let (ip, ua, page, tc) = row;
    let ip = ip.unwrap();
    assert_eq!(ip.len(), 32);
    assert!(ip.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        !ip.contains('.') && !ip.contains(':'),
        "a pseudonym, not an address"
    );
    assert_eq!(ua.unwrap().chars().count(), 128);
    assert_eq!(
        page.as_deref(),
        Some("https://data.nimes-metropole.fr/explore/dataset/x/")
    );
    assert_eq!(
        tc.as_deref(),
        Some("CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA")
    );

    let res = post_consent(
        &app,
        "nimes",
        json!({"policy_version": "2026-01", "choices": {}, "page_url": "ftp://x"}),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = post_consent(
        &app,
        "nimes",
        json!({"policy_version": "2026-01", "choices": {}, "tc_string": "x".repeat(5000)}),
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
    assert!(!common::logs().contains("jean.dupont"));
}

#[tokio::test]
async fn daily_counts_serve_the_statistics_and_outlive_the_raw_records() {
    let app = spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    create_staff(&app, Some("nimes"), "dpo@nimes.fr", "dpo", PASSWORD).await;
    for accept in [true, true, false] {
        let body = json!({"policy_version": "2026-01", "choices": {"audience": accept}});
        assert_eq!(post_consent(&app, "sevres", body).await.status(), 201);
    }
    app.clock.advance(chrono::Duration::days(1));
    post_consent(&app, "sevres", consent(json!({"audience": true}))).await;
    app.client
        .delete(app.url(&format!("/v1/tenants/sevres/consents/{SUBJECT}")))
        .send()
        .await
        .unwrap();
    post_consent(&app, "nimes", consent(json!({"audience": true}))).await;

    let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let stats = |q: &'static str, token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("/v1/dpo/consents/stats{q}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let res = stats("?from=2026-03-01&to=2026-03-31", token.clone()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let pick = |body: &Value, day: &str, purpose: &str| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["day"] == day && i["purpose_id"] == purpose)
            .map(|i| {
                (
                    i["accepted"].as_i64().unwrap(),
                    i["refused"].as_i64().unwrap(),
                    i["withdrawn"].as_i64().unwrap(),
                )
            })
    };
    assert_eq!(pick(&body, "2026-03-02", "audience"), Some((2, 1, 0)));
    assert_eq!(pick(&body, "2026-03-02", "twitter"), Some((0, 3, 0)));
    assert_eq!(pick(&body, "2026-03-03", "audience"), Some((1, 0, 1)));
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["tenant"] == "sevres"),
        "only the DPO's tenant"
    );

    // Raw records go; the counts stay.
    let consents = app.state.consents.clone();
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use guichet::db::schema::consent_events::dsl::*;
            diesel::delete(consent_events).execute(conn)?;
            // On SQLite, the events are in monthly files.
            if let Some(files) = consents.month_files() {
                for tenant in files.tenants()? {
                    for file in files.files(&tenant)?.iter() {
                        diesel::delete(consent_events).execute(&mut files.open(file)?)?;
                    }
                }
            }
            Ok(())
        })
        .await
        .unwrap();
    let again: Value = stats("?from=2026-03-01&to=2026-03-31", token.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, body);

    let nimes = login(&app, "dpo@nimes.fr", PASSWORD).await;
    let body: Value = stats("?from=2026-03-01&to=2026-03-31", nimes)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pick(&body, "2026-03-03", "audience"), Some((1, 0, 0)));
    assert_eq!(pick(&body, "2026-03-02", "audience"), None);

    assert_problem(
        stats("?from=2026-04-01&to=2026-03-01", token.clone()).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        stats("?from=2020-01-01&to=2026-03-01", token.clone()).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(stats("?from=yesterday", token.clone()).await.status(), 400);
    let res = app.get("/v1/dpo/consents/stats").await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_export_streams_every_event_of_the_tenant_as_csv() {
    let app = spawn_app_with(|s| s.consent.export_page_rows = 7, |_| {}).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    for i in 0..40 {
        let body = json!({"policy_version": "2026-01", "choices": {"audience": i % 2 == 0}});
        assert_eq!(post_consent(&app, "sevres", body).await.status(), 201);
        if i % 10 == 0 {
            app.clock.advance(chrono::Duration::hours(5));
        }
    }
    post_consent(&app, "nimes", consent(json!({}))).await;
    let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let res = app
        .client
        .get(app.url("/v1/dpo/consents/export?from=2026-03-01&to=2026-03-31"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("consents-2026-03-01-2026-03-31.csv"));
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "consent_id");
    assert_eq!(headers.len(), 12);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        40,
        "every sevres event, once, and no other tenant's"
    );
    let mut ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    let mut times: Vec<&str> = rows.iter().map(|r| &r[4]).collect();
    let sorted = {
        let mut t = times.clone();
        t.sort();
        t
    };
    assert_eq!(times, sorted, "oldest first");
    times.dedup();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert!(rows.iter().all(|r| &r[1] == "sevres" && &r[3] == "given"));
    assert!(rows[0][6].starts_with('{'), "choices as JSON");
    assert!(rows[0][11].split('.').count() == 3, "the receipt is a JWS");
}

#[tokio::test]
async fn an_export_of_several_tenants_in_small_pages_holds_each_event_once_in_order() {
    // Pages of 5 over three tenants whose events interleave unevenly: on
    // SQLite each tenant's files give a share of a page.
    let app = spawn_app_with(|s| s.consent.export_page_rows = 5, |_| {}).await;
    create_staff(&app, None, "admin@cdg.fr", "admin", PASSWORD).await;
    let mut given = Vec::new();
    for i in 0..36 {
        let tenant = match i % 6 {
            0 => "nimes",
            1 => "dunkerque",
            _ => "sevres",
        };
        let res = post_consent(&app, tenant, consent(json!({"audience": i % 2 == 0}))).await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        given.push(body["consent_id"].as_str().unwrap().to_owned());
        if i % 7 == 0 {
            app.clock.advance(chrono::Duration::minutes(13));
        }
    }
    let token = login(&app, "admin@cdg.fr", PASSWORD).await;
    let text = app
        .client
        .get(app.url("/v1/dpo/consents/export?from=2026-03-01&to=2026-03-31"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let keys: Vec<(&str, &str)> = rows.iter().map(|r| (&r[4], &r[0])).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "in (at, id) order");
    let mut ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    ids.sort();
    given.sort();
    assert_eq!(ids, given, "every event of the three tenants, once");
}
