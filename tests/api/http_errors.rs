//! Every error is problem+json, and no request can take a worker down.

use crate::common;

use crate::common::{assert_problem, logs, spawn_app_with, TestApp};
use actix_web::{web, HttpResponse};
use guichet::http::ValidatedJson;
use serde::Deserialize;
use validator::Validate;

#[derive(Debug, Deserialize, Validate)]
struct Echo {
    #[validate(length(min = 2, max = 20, message = "must be 2 to 20 characters"))]
    name: String,
    #[validate(range(min = 1, max = 10, message = "must be between 1 and 10"))]
    count: u32,
}

async fn echo(body: ValidatedJson<Echo>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"name": body.0.name, "count": body.0.count}))
}

async fn explode() -> HttpResponse {
    let secret = "the-internal-secret-detail";
    panic!("boom: {secret}");
}

fn test_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/test/echo").post(echo))
        .service(web::resource("/test/panic").get(explode));
}

async fn app() -> TestApp {
    spawn_app_with(|s| s.limits.json_body_bytes = 2048, test_routes).await
}

async fn post(
    app: &TestApp,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(app.url("/test/echo"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_route_is_a_problem_404() {
    let app = app().await;
    let body = assert_problem(app.get("/no/such/thing").await, 404, "not_found").await;
    assert_eq!(body["type"], "urn:guichet:problem:not_found");
    assert_eq!(body["title"], "Not Found");
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = app().await;
    for path in ["/healthz", "/readyz", "/metrics", "/test/echo"] {
        let res = app.client.delete(app.url(path)).send().await.unwrap();
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(!allow.is_empty(), "{path} has no Allow header");
        assert_problem(res, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = app().await;
    let res = post(&app, "application/json", r#"{"name": "ab", "count": "#).await;
    let body = assert_problem(res, 400, "malformed_request").await;
    assert!(
        body["detail"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    let res = post(&app, "application/json", "").await;
    assert_problem(res, 400, "malformed_request").await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = app().await;
    let big = format!(r#"{{"name": "{}", "count": 1}}"#, "x".repeat(4096));
    let res = post(&app, "application/json", big.clone()).await;
    assert_problem(res, 413, "payload_too_large").await;
    // Without a Content-Length the limit holds while streaming.
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = post(&app, "application/json", reqwest::Body::wrap_stream(stream)).await;
    assert_problem(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = app().await;
    let res = post(&app, "text/plain", r#"{"name": "ab", "count": 1}"#).await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = app
        .client
        .post(app.url("/test/echo"))
        .body(r#"{"name": "ab", "count": 1}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn validation_is_422_naming_each_field() {
    let app = app().await;
    let res = post(&app, "application/json", r#"{"name": "a", "count": 99}"#).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let errors = body["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["count", "name"], "{body}");
    assert_eq!(errors[0]["message"], "must be between 1 and 10");

    let res = post(
        &app,
        "application/json",
        r#"{"name": "ab", "count": "three"}"#,
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "count", "{body}");

    let res = post(
        &app,
        "application/json; charset=utf-8",
        r#"{"name": "ab", "count": 3}"#,
    )
    .await;
    assert_eq!(res.status(), 200);
    let ok: serde_json::Value = res.json().await.unwrap();
    assert_eq!(ok, serde_json::json!({"name": "ab", "count": 3}));
}

#[tokio::test]
async fn a_panicking_handler_is_a_logged_500_without_internals() {
    let app = app().await;
    for _ in 0..3 {
        let res = app.get("/test/panic").await;
        let text = res.text().await.unwrap();
        assert!(!text.contains("the-internal-secret-detail"), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], 500);
        assert_eq!(body["code"], "internal_error");
    }
    // The single worker survived the panics and keeps serving.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert!(logs().contains("handler panicked"), "the panic is logged");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_logs_no_raw_path() {
    let app = app().await;
    let res = app
        .client
        .get(app.url("/no/such/path-with-a-secret-token-123"))
        .header("x-request-id", "trace-abc-12345")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-12345");
    let res = app.get("/healthz").await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let logs = logs();
    assert!(logs.contains("trace-abc-12345"), "request id is logged");
    assert!(
        !logs.contains("path-with-a-secret-token-123"),
        "raw paths are not logged"
    );
    let request_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""message":"request""#))
        .collect();
    assert!(!request_lines.is_empty());
    for line in request_lines {
        assert!(!line.contains("127.0.0.1"), "client address logged: {line}");
        assert!(
            !line.to_ascii_lowercase().contains("reqwest"),
            "user agent logged: {line}"
        );
    }
}

/// Found by schemathesis: a DPO's list took any `tenant` (ignored), and a
/// page past the last allowed answered a message naming a fixed number.
#[tokio::test]
async fn lists_refuse_a_tenant_that_cannot_be_a_slug_and_pages_past_the_limit() {
    let app = spawn_app_with(|s| s.limits.max_page = 3, |_| {}).await;
    let dpo = common::dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    common::create_staff(&app, None, "admin@guichet.fr", "admin", common::PASSWORD).await;
    let admin = common::login(&app, "admin@guichet.fr", common::PASSWORD).await;
    let lists = [
        "/v1/dpo/requests",
        "/v1/dpo/audit",
        "/v1/dpo/retention/runs",
        "/v1/dpo/consents/stats",
    ];
    for token in [&dpo, &admin] {
        for list in lists {
            for bad in ["", "S%C3%A8vres", "a", "sevres;drop"] {
                let res = common::get(&app, token, &format!("{list}?tenant={bad}")).await;
                let body = assert_problem(res, 422, "validation_failed").await;
                assert_eq!(body["errors"][0]["field"], "tenant", "{list} {bad}");
            }
        }
    }
    // A well-formed slug: a DPO sees its own tenant, and knows no other;
    // an admin the one named.
    let res = common::get(&app, &dpo, "/v1/dpo/requests?tenant=sevres").await;
    assert_eq!(res.status(), 200);
    let res = common::get(&app, &dpo, "/v1/dpo/requests?tenant=dunkerque").await;
    assert_problem(res, 404, "not_found").await;
    let res = common::get(&app, &admin, "/v1/dpo/requests?tenant=nowhere").await;
    assert_problem(res, 404, "not_found").await;
    let res = common::get(&app, &dpo, "/v1/dpo/requests?page=3").await;
    assert_eq!(res.status(), 200);
    let res = common::get(&app, &dpo, "/v1/dpo/requests?page=4").await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["message"], "must be between 1 and 3");
}

/// Found by schemathesis on PostgreSQL, which cannot store or compare a
/// NUL in a text: each of these answered 500. A text for people holds no
/// control character, and an id that is no UUID names nothing.
#[tokio::test]
async fn control_characters_and_malformed_ids_never_reach_the_database() {
    let app = spawn_app_with(|_| {}, |_| {}).await;
    common::create_staff(&app, None, "admin@guichet.fr", "admin", common::PASSWORD).await;
    let admin = common::login(&app, "admin@guichet.fr", common::PASSWORD).await;
    let send = |path: &str, body: serde_json::Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": "a\u{0}@ville-sevres.fr", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;
    let consent =
        serde_json::json!({"policy_version": "2026-01", "choices": {}, "tc_string": "CP\u{0}x"});
    let res = send("/v1/tenants/sevres/consents", consent).await.unwrap();
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "tc_string");
    let res = common::get(&app, &admin, "/v1/dpo/requests?q=DR%00").await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "q");

    let form = serde_json::json!({
        "kind": "access", "first_name": "Zoé", "last_name": "Lefèvre",
        "email": "zoe.lefevre@example.org", "details": "Une copie de mes données."
    });
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, body, field) in [
        ("messages", serde_json::json!({"body": "a\u{0}b"}), "body"),
        (
            "extension",
            serde_json::json!({"reason": "a\u{1b}b"}),
            "reason",
        ),
        (
            "transitions",
            serde_json::json!({"to": "in_progress", "note": "a\u{0}"}),
            "note",
        ),
    ] {
        let res = send(&format!("/v1/dpo/requests/{id}/{path}"), body)
            .await
            .unwrap();
        let body = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{path}");
    }
    // Line breaks and tabs are text.
    let res = send(
        &format!("/v1/dpo/requests/{id}/messages"),
        serde_json::json!({"body": "Bonjour,\n\tmerci."}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    for path in [
        "/v1/dpo/requests/a%00b".to_owned(),
        format!("/v1/dpo/requests/{id}/documents/a%00b"),
    ] {
        let res = common::get(&app, &admin, &path).await;
        assert_problem(res, 404, "not_found").await;
    }
    let res = send("/v1/admin/users/a%00b/disable", serde_json::json!({}))
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
}
