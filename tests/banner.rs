//! A real cookie banner in a real browser: vanilla-cookieconsent (npm,
//! `tests/banner/`, installed by `.ci/run` with `npm ci`) on a test page
//! served from a web origin the demo tenant `sevres` allows, in headless
//! Chromium driven through chromedriver. The page reads the tenant's
//! purposes from the API and records each choice through it; the tests
//! click "Tout accepter", "Tout refuser" and a choice of their own, then
//! check the database, the API, the receipt (against the JWKS alone) and
//! the withdrawal. The same page from an origin the tenant does not allow
//! is refused by the browser (CORS), and nothing is written.
//!
//! Needs `chromium`, `chromium-driver` and `tests/banner/node_modules`:
//! off CI the tests skip without them; on CI (`CI` set) they fail.
//! Screenshots go to `target/screenshots/banner-*.png`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::webdriver::{chromium_and_driver, chromium_args, screenshots_dir, Driver};
use common::{spawn_app_with, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use guichet::consent::store::EventRow;
use serde_json::{json, Value};

/// Ports of the test pages' origins (this test's range: 18350-18399).
const ACCEPT_PORT: u16 = 18351;
const REFUSE_PORT: u16 = 18352;
const CUSTOM_PORT: u16 = 18353;
const ALLOWED_PORT: u16 = 18354;
const FOREIGN_PORT: u16 = 18355;

const TENANT: &str = "sevres";
/// How long the page may take to do what a click asked.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// One browser at a time: the machine has two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn banner_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/banner")
}

/// The page's files and the npm package's `dist/`, nothing else.
async fn serve_file(req: HttpRequest, root: web::Data<PathBuf>) -> HttpResponse {
    let path = match req.path().trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    let allowed = ["index.html", "banner.js", "page.css"].contains(&path)
        || path.starts_with("node_modules/vanilla-cookieconsent/dist/");
    if !allowed || path.split('/').any(|s| s.is_empty() || s.starts_with('.')) {
        return HttpResponse::NotFound().finish();
    }
    let content_type = match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    };
    match std::fs::read(root.join(path)) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("cache-control", "no-store"))
            .body(bytes),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

/// Serves `tests/banner/` on `port`; returns the origin.
fn serve_page(port: u16) -> String {
    let root = web::Data::new(banner_dir());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(root.clone())
            .default_service(web::to(serve_file))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .unwrap_or_else(|e| panic!("the test page's port {port}: {e}"))
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// What a banner test needs: the binaries, the service with `allowed` as
/// the tenant's only origin, chromedriver.
struct Rig {
    app: TestApp,
    driver: Driver,
    chromium: PathBuf,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Rig {
    async fn start(allowed: &str) -> Option<Self> {
        let (chromium, chromedriver) = chromium_and_driver()?;
        let package = banner_dir().join("node_modules/vanilla-cookieconsent/dist");
        if !package.exists() {
            if std::env::var_os("CI").is_some() {
                panic!("CI needs the banner's package: npm ci in tests/banner");
            }
            eprintln!("skipped: run `npm ci` in tests/banner first");
            return None;
        }
        let turn = BROWSER.lock().await;
        let allowed = allowed.to_owned();
        let app = spawn_app_with(
            move |s| {
                s.tenants
                    .get_mut(TENANT)
                    .expect("the demo tenant")
                    .allowed_origins = vec![allowed];
            },
            |_| {},
        )
        .await;
        Some(Self {
            app,
            driver: Driver::start(&chromedriver),
            chromium,
            _turn: turn,
        })
    }

    /// A new browser, with a profile of its own, on the page from `origin`.
    async fn open(&self, origin: &str, name: &'static str) -> Page {
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": self.chromium, "args": chromium_args(profile.path())}),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.driver.url())
            .await
            .expect("a WebDriver session");
        client
            .goto(&format!(
                "{origin}/?api={}&tenant={TENANT}",
                self.app.address
            ))
            .await
            .unwrap();
        Page {
            client,
            name,
            step: 0,
            _profile: profile,
        }
    }

    async fn policy(&self) -> Value {
        let url = format!("/v1/tenants/{TENANT}/consent-policy");
        self.app.get(&url).await.json().await.unwrap()
    }

    /// The subject's consent events in the database, oldest first.
    async fn events(&self, subject: &str) -> Vec<EventRow> {
        let subject = subject.to_owned();
        self.app
            .state
            .db
            .run(move |conn| {
                use diesel::prelude::*;
                use guichet::db::schema::consent_events::dsl::*;
                Ok(consent_events
                    .filter(subject_id.eq(subject))
                    .order((at.asc(), id.asc()))
                    .select(EventRow::as_select())
                    .load(conn)?)
            })
            .await
            .unwrap()
    }

    async fn count_events(&self) -> i64 {
        self.app
            .state
            .db
            .run(|conn| {
                use diesel::prelude::*;
                use guichet::db::schema::consent_events::dsl::*;
                Ok(consent_events.count().get_result::<i64>(conn)?)
            })
            .await
            .unwrap()
    }

    /// The receipt's claims, checked with the key of the published JWKS.
    async fn verify(&self, receipt: &str) -> Value {
        let jwks: jsonwebtoken::jwk::JwkSet = self
            .app
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
        // The service's clock is fixed in 2026; expiry is checked below.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(receipt, &key, &validation)
            .expect("the receipt verifies")
            .claims
    }
}

/// The test page in one browser.
struct Page {
    client: Client,
    name: &'static str,
    step: u32,
    _profile: tempfile::TempDir,
}

impl Page {
    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn text(&self, id: &str) -> String {
        let script = format!("return document.getElementById('{id}').textContent");
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until `condition` (a script expression) holds; fails at once
    /// if the page reports an error it was not expected to.
    async fn wait_for(&self, condition: &str) {
        let script = format!(
            "const s = document.getElementById('status');\
             return {{ok: !!({condition}), state: s.dataset.state, text: s.textContent}};"
        );
        let start = std::time::Instant::now();
        loop {
            let v = self.js(&script).await;
            if v["ok"] == true {
                return;
            }
            if v["state"] == "error" && !condition.contains("'error'") {
                panic!("the page failed: {}", v["text"]);
            }
            assert!(
                start.elapsed() < PAGE_TIMEOUT,
                "waited for {condition}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_state(&self, state: &str) {
        self.wait_for(&format!("s.dataset.state === '{state}'"))
            .await;
    }

    /// Clicks `css` once the banner's animation lets it be clicked.
    async fn click(&self, css: &str) {
        let start = std::time::Instant::now();
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.click().await.map(|_| ()),
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if start.elapsed() > PAGE_TIMEOUT => panic!("cannot click {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn shot(&mut self, what: &str) {
        self.step += 1;
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let file = format!("banner-{}-{}-{what}.png", self.name, self.step);
        std::fs::write(screenshots_dir().join(file), png).unwrap();
    }

    /// Shows the banner's first layer once the policy is in.
    async fn banner_shown(&mut self) {
        self.wait_state("ready").await;
        self.wait_for("document.documentElement.classList.contains('show--consent')")
            .await;
        self.shot("banner").await;
    }
}

/// What the choices of the banner must become: the essential purposes
/// accepted, the others as `accepted` says.
fn expected(policy: &Value, accepted: &[&str]) -> BTreeMap<String, bool> {
    policy["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap();
            (
                id.to_owned(),
                p["essential"] == true || accepted.contains(&id),
            )
        })
        .collect()
}

/// After a click that records a choice: the page's receipt, the database's
/// event and the API's current consent agree with `want`. Returns the
/// subject id.
async fn check_recorded(
    rig: &Rig,
    page: &Page,
    origin: &str,
    want: &BTreeMap<String, bool>,
) -> String {
    let subject = page.text("subject").await;
    let consent_id = page.text("consent-id").await;
    let receipt = page.text("receipt").await;
    assert_eq!(
        uuid::Uuid::parse_str(&subject).unwrap().get_version_num(),
        4
    );
    let stored = page
        .js("return localStorage.getItem('guichet.receipt')")
        .await;
    assert_eq!(stored, receipt.as_str(), "the page keeps its receipt");

    let event = rig
        .events(&subject)
        .await
        .pop()
        .expect("an event in the database");
    assert_eq!(event.id, consent_id);
    assert_eq!(event.event, "given");
    assert_eq!(
        event.tenant_id,
        rig.app.state.tenants.get(TENANT).unwrap().id
    );
    assert_eq!(event.policy_version, "2026-01");
    assert_eq!(&event.choices(), want, "the stored choices");
    assert_eq!(event.receipt.as_deref(), Some(receipt.as_str()));
    assert_eq!(
        event.page_url.as_deref(),
        Some(format!("{origin}/").as_str())
    );
    assert!(event.user_agent.unwrap_or_default().contains("Chrome"));
    assert!(!event.gpc);

    let res = rig
        .app
        .get(&format!("/v1/tenants/{TENANT}/consents/{subject}"))
        .await;
    assert_eq!(res.status(), 200);
    let current: Value = res.json().await.unwrap();
    assert_eq!(current["consent_id"], consent_id.as_str());
    assert_eq!(current["choices"], json!(want));

    let claims = rig.verify(&receipt).await;
    assert_eq!(claims["sub"], subject.as_str());
    assert_eq!(claims["jti"], consent_id.as_str());
    assert_eq!(claims["tenant"], TENANT);
    assert_eq!(claims["policy_version"], "2026-01");
    assert_eq!(claims["choices"], json!(want));
    assert_eq!(claims["gpc"], false);
    let exp = chrono::DateTime::parse_from_rfc3339(current["expires_at"].as_str().unwrap());
    assert_eq!(claims["exp"], exp.unwrap().timestamp());
    subject
}

/// The withdraw button: the current consent is gone, the withdrawal is an
/// event, and the banner asks again.
async fn check_withdrawal(rig: &Rig, page: &mut Page, subject: &str, given: usize) {
    rig.app.clock.advance(chrono::Duration::minutes(5));
    page.click("#withdraw").await;
    page.wait_state("withdrawn").await;
    page.wait_for("document.documentElement.classList.contains('show--consent')")
        .await;
    page.shot("withdrawn").await;
    let url = format!("/v1/tenants/{TENANT}/consents/{subject}");
    assert_eq!(rig.app.get(&url).await.status(), 404);
    let events: Vec<String> = rig
        .events(subject)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    let mut want = vec!["given".to_owned(); given];
    want.push("withdrawn".into());
    assert_eq!(events, want);
    assert_eq!(page.text("receipt").await, "");
    assert_eq!(
        page.js("return localStorage.getItem('guichet.receipt')")
            .await,
        Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_all_records_every_purpose_and_can_be_withdrawn() {
    let origin = format!("http://127.0.0.1:{ACCEPT_PORT}");
    let Some(rig) = Rig::start(&origin).await else {
        return;
    };
    serve_page(ACCEPT_PORT);
    let mut page = rig.open(&origin, "accept-all").await;
    page.banner_shown().await;
    page.click("#cc-main .cm [data-role=all]").await;
    page.wait_state("recorded").await;
    page.shot("recorded").await;
    let status = page
        .js("return document.getElementById('status').dataset.acceptType")
        .await;
    assert_eq!(status, "all");
    let policy = rig.policy().await;
    let everything: Vec<&str> = policy["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let want = expected(&policy, &everything);
    assert!(want.values().all(|v| *v) && want.len() == 5, "{want:?}");
    let subject = check_recorded(&rig, &page, &origin, &want).await;
    check_withdrawal(&rig, &mut page, &subject, 1).await;
    page.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_all_records_refusals_and_can_be_withdrawn() {
    let origin = format!("http://127.0.0.1:{REFUSE_PORT}");
    let Some(rig) = Rig::start(&origin).await else {
        return;
    };
    serve_page(REFUSE_PORT);
    let mut page = rig.open(&origin, "refuse-all").await;
    page.banner_shown().await;
    page.click("#cc-main .cm [data-role=necessary]").await;
    page.wait_state("recorded").await;
    page.shot("recorded").await;
    let status = page
        .js("return document.getElementById('status').dataset.acceptType")
        .await;
    assert_eq!(status, "necessary");
    let want = expected(&rig.policy().await, &[]);
    assert_eq!(want.values().filter(|v| **v).count(), 1, "{want:?}");
    assert!(want["essential"]);
    let subject = check_recorded(&rig, &page, &origin, &want).await;
    check_withdrawal(&rig, &mut page, &subject, 1).await;
    page.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_choice_and_a_later_change_are_each_recorded() {
    let origin = format!("http://127.0.0.1:{CUSTOM_PORT}");
    let Some(rig) = Rig::start(&origin).await else {
        return;
    };
    serve_page(CUSTOM_PORT);
    let policy = rig.policy().await;
    let mut page = rig.open(&origin, "custom").await;
    page.banner_shown().await;
    page.click("#cc-main .cm [data-role=show]").await;
    page.wait_for("document.documentElement.classList.contains('show--preferences')")
        .await;
    page.click("#cc-main .pm input.section__toggle[value=audience]")
        .await;
    page.click("#cc-main .pm input.section__toggle[value=linkedin]")
        .await;
    page.shot("preferences").await;
    page.click("#cc-main .pm [data-role=save]").await;
    page.wait_state("recorded").await;
    page.shot("recorded").await;
    let status = page
        .js("return document.getElementById('status').dataset.acceptType")
        .await;
    assert_eq!(status, "custom");
    let want = expected(&policy, &["audience", "linkedin"]);
    let subject = check_recorded(&rig, &page, &origin, &want).await;
    let first = page.text("consent-id").await;

    // A day later the visitor changes their mind from the page's button.
    rig.app.clock.advance(chrono::Duration::days(1));
    page.click("#preferences").await;
    page.wait_for("document.documentElement.classList.contains('show--preferences')")
        .await;
    page.click("#cc-main .pm input.section__toggle[value=audience]")
        .await;
    page.click("#cc-main .pm input.section__toggle[value=facebook]")
        .await;
    page.click("#cc-main .pm [data-role=save]").await;
    page.wait_for(&format!(
        "s.dataset.state === 'recorded' && s.dataset.consentId !== '{first}'"
    ))
    .await;
    page.shot("changed").await;
    let want = expected(&policy, &["linkedin", "facebook"]);
    assert_eq!(check_recorded(&rig, &page, &origin, &want).await, subject);
    let history: Value = rig
        .app
        .get(&format!("/v1/tenants/{TENANT}/consents/{subject}/history"))
        .await
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["choices"],
        json!(expected(&policy, &["audience", "linkedin"]))
    );
    assert_eq!(items[1]["choices"], json!(want));
    check_withdrawal(&rig, &mut page, &subject, 2).await;
    page.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_page_from_a_foreign_origin_is_refused_by_cors() {
    let allowed = format!("http://127.0.0.1:{ALLOWED_PORT}");
    let foreign = format!("http://127.0.0.1:{FOREIGN_PORT}");
    let Some(rig) = Rig::start(&allowed).await else {
        return;
    };
    serve_page(ALLOWED_PORT);
    serve_page(FOREIGN_PORT);

    // From the allowed origin, the page gets the policy and shows its banner.
    let mut page = rig.open(&allowed, "allowed").await;
    page.banner_shown().await;
    page.client.close().await.unwrap();

    // From the other one, the same files get no answer they may read.
    let mut page = rig.open(&foreign, "foreign").await;
    page.wait_state("error").await;
    let status = page.text("status").await;
    assert!(status.contains("TypeError"), "{status}");
    let banner = page.js("return document.getElementById('cc-main')").await;
    assert_eq!(banner, Value::Null, "no banner without the policy");
    page.shot("refused").await;

    // The service is there for this page all the same: an opaque answer
    // comes back to a no-cors request; only CORS keeps it out.
    let api = format!("{}/v1/tenants/{TENANT}/consent-policy", rig.app.address);
    let reached = page
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0], {mode: 'no-cors'}).then(r => done(r.type), e => done(String(e)));",
            vec![json!(api)],
        )
        .await
        .unwrap();
    assert_eq!(reached, "opaque");

    // A consent sent by the page's own code fails the same way.
    let sent = page
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             window.guichetBanner.send({audience: true}, '2026-01')\
               .then(c => done('recorded ' + c.consent_id), e => done(e.name + ': ' + e.message));",
            vec![],
        )
        .await
        .unwrap();
    assert!(sent.as_str().unwrap().starts_with("TypeError"), "{sent}");
    let subject = page
        .js("return localStorage.getItem('guichet.subject_id')")
        .await;
    assert!(rig.events(subject.as_str().unwrap()).await.is_empty());
    assert_eq!(rig.count_events().await, 0, "no consent row is written");

    // What the browser was told: a preflight from that origin is refused.
    let res = rig
        .app
        .client
        .request(
            reqwest::Method::OPTIONS,
            rig.app.url(&format!("/v1/tenants/{TENANT}/consents")),
        )
        .header("origin", &foreign)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    page.client.close().await.unwrap();
}
