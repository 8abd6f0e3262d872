//! What a hostile client can do with HTTP itself: invent methods and paths
//! to grow the metrics, send a body slowly or not at all, send many large
//! uploads at once, and write its own address into a forwarding header.

use crate::common::{assert_problem, dpo, get, spawn_app_with, wait_until, TestApp};
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
            // The per-address limit is what these tests count; the lock
            // of the one e-mail address they all use must not come first.
            s.auth.lockout_threshold = 1000;
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

const PDF_HEAD: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n";

/// A submission as a browser encodes it, with one document of `doc_len`
/// bytes; returns the content type, the body and the document.
fn submission(doc_len: usize) -> (String, Vec<u8>, Vec<u8>) {
    let boundary = "----guichet-test-boundary";
    let mut body = Vec::new();
    let fields = [
        ("kind", "access"),
        ("first_name", "Camille"),
        ("last_name", "Dubois"),
        ("email", "camille@example.org"),
        ("details", "Une copie de mes données."),
    ];
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\ncontent-disposition: form-data; name=\"id_document\"; filename=\"carte.pdf\"\r\ncontent-type: application/pdf\r\n\r\n")
            .as_bytes(),
    );
    let mut doc = PDF_HEAD.to_vec();
    doc.resize(doc_len, b' ');
    doc.extend_from_slice(b"\n%%EOF\n");
    body.extend_from_slice(&doc);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        body,
        doc,
    )
}

/// A client on a raw connection: a request head, then the body at the
/// pace the test chooses.
struct RawClient(std::net::TcpStream);

impl RawClient {
    /// `framing`: the body's length (`content-length: N`) or
    /// `transfer-encoding: chunked`, and any other header.
    fn open(app: &TestApp, path: &str, content_type: &str, framing: &str) -> Self {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", app.port)).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {content_type}\r\n{framing}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        Self(stream)
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.0.write_all(bytes)
    }

    /// The answer's status and body, read until the server closes the
    /// connection; `None` if nothing came within `within`.
    async fn answer(self, within: std::time::Duration) -> Option<(u16, String)> {
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut stream = self.0;
            stream.set_read_timeout(Some(within)).unwrap();
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let status = text.split(' ').nth(1)?.parse().ok()?;
            Some((status, text))
        })
        .await
        .unwrap()
    }
}

async fn short_body_timeouts() -> TestApp {
    spawn_app_with(
        |s| {
            s.server.body_idle_timeout_secs = 1;
            s.server.body_timeout_secs = 3;
        },
        |_| {},
    )
    .await
}

/// The answer to a client that stops sending: a 408 problem on a closed
/// connection, well within the test's own bound.
async fn assert_timed_out(client: RawClient, started: std::time::Instant) {
    let bound = std::time::Duration::from_secs(10);
    let (status, text) = client
        .answer(bound)
        .await
        .expect("an answer before the bound");
    assert!(started.elapsed() < bound, "{:?}: {text}", started.elapsed());
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_on_json_and_multipart_routes() {
    let app = short_body_timeouts().await;
    let (multipart, form, _) = submission(200_000);
    let cases: [(&str, &str, &[u8]); 4] = [
        (
            "/v1/auth/login",
            "application/json",
            br#"{"email": "dpo@ville-sevres.fr", "pass"#,
        ),
        ("/v1/tenants/sevres/requests", &multipart, &form[..1000]),
        ("/t/sevres/droits", &multipart, &form[..1000]),
        (
            "/v1/tenants/sevres/requests",
            "application/json",
            b"{\"kind\": ",
        ),
    ];
    for (path, content_type, start) in cases {
        let started = std::time::Instant::now();
        // Declared a little longer than what is sent (JSON bodies are small).
        let length = format!("content-length: {}", start.len() + 200);
        let mut client = RawClient::open(&app, path, content_type, &length);
        client.send(start).unwrap();
        assert_timed_out(client, started).await;
    }
    // Nothing at all after the head.
    let started = std::time::Instant::now();
    let length = format!("content-length: {}", form.len());
    let client = RawClient::open(&app, "/v1/tenants/sevres/requests", &multipart, &length);
    assert_timed_out(client, started).await;
    // A chunked body, which the server would otherwise wait to drain.
    let started = std::time::Instant::now();
    let chunked = "transfer-encoding: chunked";
    let mut client = RawClient::open(&app, "/v1/auth/login", "application/json", chunked);
    client.send(b"5\r\n{\"ema\r\n").unwrap();
    assert_timed_out(client, started).await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_at_the_whole_body_bound() {
    let app = short_body_timeouts().await;
    let (multipart, form, _) = submission(200_000);
    let started = std::time::Instant::now();
    let length = format!("content-length: {}", form.len());
    let mut client = RawClient::open(&app, "/v1/tenants/sevres/requests", &multipart, &length);
    // A byte every 300 ms: never idle for a second, never done either.
    let mut sent = 0;
    while started.elapsed() < std::time::Duration::from_secs(5)
        && client.send(&form[sent..sent + 1]).is_ok()
    {
        sent += 1;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(sent < 20, "the upload went on for {sent} bytes");
    assert_timed_out(client, started).await;
}

#[tokio::test]
async fn uploads_beyond_the_memory_budget_wait_their_turn_with_503() {
    let app = spawn_app_with(|s| s.requests.upload_memory_bytes = 1 << 20, |_| {}).await;
    // One form of 900 KiB on its way, slowly: its length is reserved.
    let (multipart, held, document) = submission(900 * 1024);
    let framing = format!("content-length: {}\r\nconnection: close", held.len());
    let mut slow = RawClient::open(&app, "/v1/tenants/sevres/requests", &multipart, &framing);
    slow.send(&held[..1000]).unwrap();
    wait_until(
        "the slow form's share reserved",
        std::time::Duration::from_secs(10),
        || async { app.state.uploads.in_use() >= held.len() },
    )
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "guichet_upload_memory_reserved_bytes {}",
            held.len()
        )),
        "{metrics}"
    );

    // A second form of 200 KiB does not fit beside it.
    let (_, other, _) = submission(200 * 1024);
    let send_other = || {
        app.client
            .post(app.url("/v1/tenants/sevres/requests"))
            .header("content-type", multipart.clone())
            .body(other.clone())
            .send()
    };
    let res = send_other().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "5");
    assert_problem(res, 503, "uploads_busy").await;
    // Nor on the citizen's page.
    let res = app
        .client
        .post(app.url("/t/sevres/droits"))
        .header("content-type", multipart.clone())
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");

    // The slow form arrives whole and is recorded; its share is given back
    // before its answer leaves.
    slow.send(&held[1000..]).unwrap();
    let (status, text) = slow
        .answer(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(status, 201, "{text}");
    assert_eq!(app.state.uploads.in_use(), 0);
    let res = send_other().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    // The document is stored whole, as it came (on PostgreSQL, streamed).
    let submitted: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let id = submitted["id"].as_str().unwrap();
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let detail: serde_json::Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["documents"][0]["size"], document.len());
    assert_eq!(
        detail["documents"][0]["uploaded_at"],
        submitted["received_at"]
    );
    let doc = detail["documents"][0]["id"].as_str().unwrap();
    let path = format!("/v1/dpo/requests/{id}/documents/{doc}");
    let opened = get(&app, &token, &path).await.bytes().await.unwrap();
    assert!(opened == document, "the document comes back as it was sent");
}
