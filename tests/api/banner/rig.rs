//! The banner test's rig: the test page served from a port of its own,
//! the service with that page's origin allowed, chromedriver, and a page
//! in a browser of its own; what the database and the JWKS say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use fantoccini::{Client, ClientBuilder, Locator};
use guichet::consent::ConsentEvent;
use serde_json::{json, Value};

use crate::common::webdriver::{chromium_and_driver, chromium_args, screenshots_dir, Driver};
use crate::common::{spawn_app_with, TestApp};

pub const TENANT: &str = "sevres";
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
pub fn serve_page(port: u16) -> String {
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
pub struct Rig {
    pub app: TestApp,
    driver: Driver,
    chromium: PathBuf,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Rig {
    pub async fn start(allowed: &str) -> Self {
        let (chromium, chromedriver) = chromium_and_driver();
        let package = banner_dir().join("node_modules/vanilla-cookieconsent/dist");
        if !package.exists() {
            crate::common::not_run("the banner's npm package (npm ci in tests/banner)");
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
        Self {
            app,
            driver: Driver::start(&chromedriver),
            chromium,
            _turn: turn,
        }
    }

    /// A new browser, with a profile of its own, on the page from `origin`.
    pub async fn open(&self, origin: &str, name: &'static str) -> Page {
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
        client.set_window_size(1280, 900).await.unwrap();
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

    pub async fn policy(&self) -> Value {
        let url = format!("/v1/tenants/{TENANT}/consent-policy");
        self.app.get(&url).await.json().await.unwrap()
    }

    /// The subject's consent events in the database, oldest first.
    pub async fn events(&self, subject: &str) -> Vec<ConsentEvent> {
        let subject = subject.to_owned();
        let consents = self.app.state.consents.clone();
        self.app
            .state
            .db
            .run(move |conn| {
                let all = consents.all_on(conn, None)?;
                Ok(all
                    .into_iter()
                    .filter(|e| e.subject_id == subject)
                    .collect())
            })
            .await
            .unwrap()
    }

    pub async fn count_events(&self) -> i64 {
        crate::common::consent_count(&self.app).await
    }

    /// The receipt's claims, checked with the key of the published JWKS.
    pub async fn verify(&self, receipt: &str) -> Value {
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
        // The service's clock is fixed in 2026; callers compare `exp`.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(receipt, &key, &validation)
            .expect("the receipt verifies")
            .claims;

        // The same receipt with one choice turned round does not.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut forged = claims.clone();
        let choice = forged["choices"]["audience"].as_bool().unwrap();
        forged["choices"]["audience"] = json!(!choice);
        let parts: Vec<&str> = receipt.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(forged.to_string()),
            parts[2]
        );
        assert!(jsonwebtoken::decode::<Value>(&forged, &key, &validation).is_err());
        claims
    }
}

/// The test page in one browser.
pub struct Page {
    pub client: Client,
    name: &'static str,
    step: u32,
    _profile: tempfile::TempDir,
}

impl Page {
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    pub async fn text(&self, id: &str) -> String {
        let script = format!("return document.getElementById('{id}').textContent");
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until `condition` (a script expression) holds; fails at once
    /// if the page reports an error it was not expected to.
    pub async fn wait_for(&self, condition: &str) {
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

    /// Waits until `css` is shown, its fade-in over.
    pub async fn wait_visible(&self, css: &str) {
        self.wait_for(&format!(
            "(e => e && getComputedStyle(e).visibility === 'visible' \
             && getComputedStyle(e).opacity === '1')(document.querySelector('{css}'))"
        ))
        .await;
    }

    pub async fn wait_state(&self, state: &str) {
        self.wait_for(&format!("s.dataset.state === '{state}'"))
            .await;
    }

    /// Clicks `css` once the banner's animation lets it be clicked.
    pub async fn click(&self, css: &str) {
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

    /// A screenshot, once the banner's transitions have ended.
    pub async fn shot(&mut self, what: &str) {
        self.wait_for("document.getAnimations().every(a => a.playState !== 'running')")
            .await;
        self.step += 1;
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let file = format!("banner-{}-{}-{what}.png", self.name, self.step);
        std::fs::write(screenshots_dir().join(file), png).unwrap();
    }

    /// Shows the banner's first layer once the policy is in.
    pub async fn banner_shown(&mut self) {
        self.wait_state("ready").await;
        self.wait_visible("#cc-main .cm").await;
        self.shot("banner").await;
    }
}
