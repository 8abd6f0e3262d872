//! What a hostile client can do with HTTP itself: invent methods and paths
//! to grow the metrics, send a body slowly or not at all, send many large
//! uploads at once, and write its own address into a forwarding header.

mod common;

use common::{spawn_app_with, TestApp};
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use serde_json::json;

#[tokio::test]
async fn random_methods_and_paths_do_not_grow_the_metrics() {
    let app = spawn_app_with(|_| {}, |_| {}).await;
    let send = |method: &str, path: &str| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        app.client.request(method, app.url(path)).send()
    };
    // Every series an unknown path can make, once.
    for method in [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW",
    ] {
        send(method, "/nowhere").await.unwrap();
    }
    // The first read of /metrics makes its own series.
    app.get("/metrics").await;
    let before = app.get("/metrics").await.text().await.unwrap();
    for _ in 0..300 {
        let (method, path) = {
            let mut rng = rand::rng();
            let len = rng.random_range(3..20);
            let method = format!("X{}", Alphanumeric.sample_string(&mut rng, len)).to_uppercase();
            let path = format!("/{}", Alphanumeric.sample_string(&mut rng, 24));
            (method, path)
        };
        let res = send(&method, &path).await.unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    let after = app.get("/metrics").await.text().await.unwrap();
    assert!(
        after.len() < before.len() + 2048,
        "/metrics grew from {} to {} bytes:\n{after}",
        before.len(),
        after.len()
    );
    assert!(after.contains(
        r#"guichet_http_requests_total{method="other",route="unmatched",status="404"} 301"#
    ));
}

/// Signs in as nobody with `header: value` from a trusted proxy.
async fn login_from(app: &TestApp, header: &str, value: &str) -> u16 {
    app.client
        .post(app.url("/v1/auth/login"))
        .header(header, value)
        .json(&json!({"email": "personne@example.org", "password": "wrong password"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn behind_proxy(header: &str) -> TestApp {
    let header = header.to_owned();
    spawn_app_with(
        move |s| {
            s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            s.server.forwarded_header = match header.as_str() {
                "forwarded" => guichet::config::ForwardedHeader::Forwarded,
                _ => guichet::config::ForwardedHeader::XForwardedFor,
            };
            s.auth.login_per_ip_per_minute = 3;
        },
        |_| {},
    )
    .await
}

#[tokio::test]
async fn two_ipv6_addresses_of_one_64_share_the_sign_in_limit() {
    let app = behind_proxy("x-forwarded-for").await;
    for host in [":1", ":2", "abcd:ef01:2345:6789"] {
        let value = format!("198.51.100.1, 2001:db8:1:2:{host}");
        assert_eq!(login_from(&app, "x-forwarded-for", &value).await, 401);
    }
    let status = login_from(&app, "x-forwarded-for", "[2001:db8:1:2::99]:4711").await;
    assert_eq!(status, 429, "another address of the same /64");
    // The next /64 is someone else.
    let status = login_from(&app, "x-forwarded-for", "2001:db8:1:3::1").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_client_cannot_choose_its_address_past_an_unreadable_entry() {
    let app = behind_proxy("x-forwarded-for").await;
    // Each time the client writes another address before junk: the walk
    // stops at the junk, and the proxy (the peer) is the client every time.
    for n in 1..=3 {
        let value = format!("203.0.113.{n}, not-an-address");
        assert_eq!(login_from(&app, "x-forwarded-for", &value).await, 401);
    }
    let status = login_from(&app, "x-forwarded-for", "203.0.113.4, 2001:db8::1]:80").await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn the_forwarded_header_is_read_when_chosen() {
    let app = behind_proxy("forwarded").await;
    for port in [1, 2, 3] {
        let value = format!(r#"for=198.51.100.7;proto=https, for="[2001:db8:9:9::1]:{port}""#);
        assert_eq!(login_from(&app, "forwarded", &value).await, 401);
    }
    let status = login_from(&app, "forwarded", r#"for="[2001:db8:9:9::2]""#).await;
    assert_eq!(status, 429);
    // X-Forwarded-For is not read then: that client is another one.
    let status = login_from(&app, "forwarded", "for=198.51.100.8").await;
    assert_eq!(status, 401);
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, "x-forwarded-for", "198.51.100.8").await,
            401
        );
    }
    let status = login_from(&app, "x-forwarded-for", "198.51.100.8").await;
    assert_eq!(status, 429, "the peer's own limit");
}
