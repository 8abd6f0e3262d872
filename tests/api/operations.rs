//! Health, readiness, metrics, the OpenAPI document and its viewer.

use crate::common::{assert_problem, spawn_app, spawn_app_with, TestApp};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

#[tokio::test]
async fn healthz_answers() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_follows_the_database_without_restart() {
    let app = spawn_app_with(|s| s.database.sqlite_busy_timeout_ms = 100, |_| {}).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    let outage = Outage::begin(&app);
    let res = app.get("/readyz").await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "not_ready").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"route="/readyz",status="503""#),
        "{metrics}"
    );

    drop(outage);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

/// Makes the test's database unreachable until dropped: PostgreSQL refuses
/// new connections and drops the open ones; SQLite's file disappears from
/// its path, as when its volume is unmounted.
enum Outage {
    Pg { admin: String, name: String },
    Sqlite { path: String, aside: String },
}

impl Outage {
    fn begin(app: &TestApp) -> Self {
        let url = url::Url::parse(&app.db.url).unwrap();
        if app.db.is_postgres() {
            let name = url.path().trim_start_matches('/').to_owned();
            let admin = std::env::var("TEST_DATABASE_URL").unwrap();
            let mut conn = PgConnection::establish(&admin).unwrap();
            conn.batch_execute(&format!(
                "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
            ))
            .unwrap();
            Outage::Pg { admin, name }
        } else {
            let path = app.db.url.trim_start_matches("sqlite://").to_owned();
            let aside = format!("{path}.aside");
            std::fs::rename(&path, &aside).unwrap();
            Outage::Sqlite { path, aside }
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        match self {
            Outage::Pg { admin, name } => {
                let mut conn = PgConnection::establish(admin).unwrap();
                conn.batch_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
                    .unwrap();
            }
            Outage::Sqlite { path, aside } => std::fs::rename(aside, path).unwrap(),
        }
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_with_latency_and_pool() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.get("/nowhere/12345").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"guichet_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(text
        .contains(r#"guichet_http_requests_total{method="GET",route="unmatched",status="404"} 1"#));
    assert!(!text.contains("12345"), "raw paths never become labels");
    assert!(text.contains(
        r#"guichet_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.005"}"#
    ));
    assert!(text.contains(
        r#"guichet_http_request_duration_seconds_count{method="GET",route="/healthz"} 3"#
    ));
    assert!(text.contains(r#"guichet_db_pool_connections{state="idle"}"#));
    assert!(text.contains(r#"guichet_db_pool_connections{state="in_use"}"#));
    assert!(text.contains("guichet_db_pool_max_connections 4"));
}

#[tokio::test]
async fn openapi_describes_every_operation_with_its_errors() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let op = &doc["paths"][path]["get"];
        assert!(op.is_object(), "{path} is documented");
        assert_eq!(
            op["responses"]["500"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem",
            "{path} documents its 500"
        );
    }
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
    for (path, method) in [
        ("/v1/dpo/audit", "get"),
        ("/v1/admin/users", "get"),
        ("/v1/admin/users", "post"),
        ("/v1/admin/users/{id}/disable", "post"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(
            op["security"][0]["bearer"],
            serde_json::json!([]),
            "{method} {path}"
        );
        assert!(
            op["responses"]["401"].is_object(),
            "{method} {path} documents 401"
        );
    }
    for (path, method, statuses) in [
        (
            "/v1/tenants/{tenant}/consents",
            "post",
            &["201", "403", "409", "413", "415", "422"][..],
        ),
        (
            "/v1/tenants/{tenant}/consents/{subject_id}",
            "delete",
            &["204", "404"][..],
        ),
        (
            "/v1/tenants/{tenant}/requests",
            "post",
            &["201", "413", "415", "422", "429"][..],
        ),
        (
            "/v1/requests/track/{tracking_token}",
            "get",
            &["200", "404"][..],
        ),
        (
            "/v1/requests/track/{tracking_token}/documents",
            "post",
            &["201", "409", "415"][..],
        ),
        ("/v1/dpo/requests", "get", &["200", "401"][..]),
        (
            "/v1/dpo/requests/{id}/transitions",
            "post",
            &["200", "404", "409", "413", "415", "422"][..],
        ),
        (
            "/v1/dpo/requests/{id}/extension",
            "post",
            &["200", "409"][..],
        ),
        (
            "/v1/dpo/requests/{id}/messages",
            "post",
            &["202", "404", "409", "413", "415", "422"][..],
        ),
        (
            "/v1/dpo/requests/{id}/attachments/{attachment_id}",
            "get",
            &["200", "404", "410"][..],
        ),
        (
            "/v1/requests/track/{tracking_token}/attachments/{attachment_id}",
            "get",
            &["200", "404", "410"][..],
        ),
        (
            "/v1/dpo/requests/{id}/documents/{document_id}",
            "get",
            &["200", "410"][..],
        ),
        ("/v1/dpo/suppression/check", "get", &["200"][..]),
        ("/v1/dpo/consents/stats", "get", &["200", "422"][..]),
        ("/v1/dpo/consents/export", "get", &["200"][..]),
        ("/v1/admin/mail", "get", &["200", "403"][..]),
        ("/.well-known/jwks.json", "get", &["200"][..]),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        for status in statuses {
            assert!(
                responses[*status].is_object(),
                "{method} {path} documents {status}"
            );
        }
    }
    let login = &doc["paths"]["/v1/auth/login"]["post"]["responses"];
    for status in ["200", "401", "422", "429"] {
        assert!(login[status].is_object(), "login documents {status}");
    }
    // Any change may give way to a concurrent one (409) or find the
    // database busy (503).
    for (path, method) in [
        ("/v1/auth/login", "post"),
        ("/v1/admin/users", "post"),
        ("/v1/tenants/{tenant}/consents/{subject_id}", "delete"),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        for status in ["409", "503"] {
            assert!(
                responses[status].is_object(),
                "{method} {path} documents {status}"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for field in ["type", "title", "status", "detail", "code", "errors"] {
        assert!(problem[field].is_object(), "Problem documents {field}");
    }
}

/// What schemathesis (`.ci/schemathesis.sh`) relies on: the validation
/// rules and the answers each operation shares are in the document, and the
/// limits are this instance's, not the defaults'.
#[tokio::test]
async fn openapi_carries_the_rules_and_this_instances_limits() {
    let app = spawn_app_with(
        |s| {
            s.limits.max_page_size = 20;
            s.requests.details_max_chars = 800;
            s.requests.message_max_chars = 1200;
            s.requests.max_attachments = 3;
        },
        |_| {},
    )
    .await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let queue = op("/v1/dpo/requests", "get");
    let param = |name: &str| {
        queue["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(param("per_page")["schema"]["maximum"], 20);
    assert_eq!(param("per_page")["schema"]["default"], 20);
    assert_eq!(param("page")["schema"]["maximum"], 1_000_000);
    assert_eq!(param("tenant")["schema"]["pattern"], "^[a-z0-9-]{2,40}$");
    for status in ["400", "401", "422", "500", "503"] {
        assert!(
            queue["responses"][status].is_object(),
            "the queue documents {status}"
        );
    }
    let submit = op("/v1/tenants/{tenant}/requests", "post");
    let content = &submit["requestBody"]["content"];
    assert!(content["multipart/form-data"].is_object());
    assert!(content["application/json"].is_object());
    for status in ["400", "413", "415", "503"] {
        assert!(
            submit["responses"][status].is_object(),
            "submit documents {status}"
        );
    }
    assert!(submit["responses"]["429"]["headers"]["Retry-After"].is_object());
    let schemas = &doc["components"]["schemas"];
    let form = &schemas["SubmissionJson"];
    assert_eq!(form["properties"]["details"]["maxLength"], 800);
    assert_eq!(form["properties"]["email"]["format"], "email");
    assert_eq!(form["additionalProperties"], false);
    assert!(form["allOf"].is_array(), "an opposition needs a scope");
    assert_eq!(
        schemas["SubmissionForm"]["properties"]["id_document"]["maxItems"],
        2
    );
    assert_eq!(
        schemas["DocumentsForm"]["additionalProperties"], false,
        "the identity documents' form takes nothing else"
    );
    assert_eq!(
        schemas["DocumentsForm"]["required"],
        serde_json::json!(["id_document"])
    );
    assert_eq!(
        schemas["Kind"]["enum"],
        serde_json::json!([
            "access",
            "rectification",
            "erasure",
            "restriction",
            "opposition",
            "portability"
        ])
    );
    let purposes = &schemas["ConsentRequest"]["properties"]["choices"]["propertyNames"]["enum"];
    assert!(
        purposes.as_array().unwrap().contains(&"matomo".into()),
        "{purposes}"
    );
    let document = op("/v1/dpo/requests/{id}/documents/{document_id}", "get");
    for media in ["application/pdf", "image/jpeg", "image/png"] {
        assert!(
            document["responses"]["200"]["content"][media].is_object(),
            "{media}"
        );
    }
    assert_eq!(document["parameters"][0]["schema"]["format"], "uuid");
    // The DPO's answers: JSON or a form with files, this instance's limits.
    for path in [
        "/v1/dpo/requests/{id}/messages",
        "/v1/dpo/requests/{id}/transitions",
    ] {
        let content = &op(path, "post")["requestBody"]["content"];
        assert!(content["multipart/form-data"].is_object(), "{path}");
        assert!(content["application/json"].is_object(), "{path}");
    }
    assert_eq!(
        schemas["MessageRequest"]["properties"]["body"]["maxLength"],
        1200
    );
    assert_eq!(
        schemas["MessageForm"]["properties"]["body"]["maxLength"],
        1200
    );
    assert_eq!(
        schemas["MessageForm"]["properties"]["attachment"]["maxItems"],
        3
    );
    assert_eq!(
        schemas["TransitionRequest"]["properties"]["note"]["maxLength"],
        1200
    );
    assert_eq!(
        schemas["TransitionForm"]["properties"]["reason"]["maxLength"],
        1200
    );
    assert_eq!(
        schemas["TransitionForm"]["properties"]["attachment"]["maxItems"],
        3
    );
    // Answered without the database: no 503 to document.
    assert!(op("/healthz", "get")["responses"]["503"].is_null());
}

#[tokio::test]
async fn docs_render_the_document() {
    let app = spawn_app().await;
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/docs/");
    let res = app.get("/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
}
