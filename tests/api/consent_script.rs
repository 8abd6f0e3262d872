//! `GET /v1/tenants/{tenant}/consent.js`: the same bytes for every tenant,
//! cacheable, revalidated by a strong ETag, described in the OpenAPI
//! document. (The banners it connects are driven in a browser by `banner`.)

use sha2::Digest;

use crate::common::{assert_problem, spawn_app};

#[tokio::test]
async fn the_script_is_cacheable_and_revalidated_by_its_etag() {
    let app = spawn_app().await;
    let res = app.get("/v1/tenants/sevres/consent.js").await;
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let bytes = res.bytes().await.unwrap();
    let file = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/consent.js")).unwrap();
    assert_eq!(bytes.as_ref(), file.as_slice());
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        etag,
        format!("\"{:x}\"", sha2::Sha256::digest(&file)),
        "strong: the bytes' hash"
    );
    assert!(
        std::str::from_utf8(&file)
            .unwrap()
            .starts_with("/*! Guichet consent.js "),
        "a version in the header"
    );

    // Every tenant gets the same bytes; the script reads its tenant from its URL.
    let other = app.get("/v1/tenants/nimes/consent.js").await;
    assert_eq!(other.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(other.bytes().await.unwrap(), bytes);

    for validator in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let res = app
            .client
            .get(app.url("/v1/tenants/sevres/consent.js"))
            .header("if-none-match", &validator)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304, "{validator}");
        assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(res.headers()["cache-control"], "public, max-age=3600");
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = app
        .client
        .get(app.url("/v1/tenants/sevres/consent.js"))
        .header("if-none-match", "\"an-older-one\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app.get("/v1/tenants/nowhere/consent.js").await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn a_tenant_origin_may_pin_it_with_integrity_and_another_may_not_load_it() {
    let app = spawn_app().await;
    // A <script integrity crossorigin> fetch carries the page's Origin.
    let res = app
        .client
        .get(app.url("/v1/tenants/sevres/consent.js"))
        .header("origin", "https://sevres-seineouest.opendatasoft.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://sevres-seineouest.opendatasoft.com"
    );
    let res = app
        .client
        .get(app.url("/v1/tenants/sevres/consent.js"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn the_script_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let op = &doc["paths"]["/v1/tenants/{tenant}/consent.js"]["get"];
    assert!(
        op["responses"]["200"]["content"]["text/javascript"].is_object(),
        "{op}"
    );
    assert!(op["responses"]["304"].is_object(), "{op}");
    assert!(op["responses"]["404"].is_object(), "{op}");
}
