//! The banner tests' rig: the service (restartable on the same database
//! with another policy version), the test pages served from an origin the
//! tenant allows and from one it does not, chromedriver, one browser for
//! all the steps of a banner, and what the database, the metrics and the
//! JWKS say.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use guichet::app::{Application, Parts};
use guichet::consent::ConsentEvent;
use serde_json::{json, Value};

use crate::common::webdriver::{chromium_and_driver, chromium_args, screenshots_dir, Driver};
use crate::common::{self, TestDatabase};

pub const TENANT: &str = "sevres";
/// How long the page may take to do what a click asked.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// One browser at a time: the machine has two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn banner_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/banner")
}

/// What a test page needs besides its own file: the service's address
/// (it changes when the service restarts) and the script's integrity.
struct PageData {
    root: PathBuf,
    api: Arc<RwLock<String>>,
    integrity: String,
}

/// A test page with the service's address, the tenant and the integrity
/// filled in; the banners' packages (their distributed files only).
async fn serve_file(req: HttpRequest, data: web::Data<PageData>) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let packages = [
        "node_modules/tarteaucitronjs/",
        "node_modules/orejime/dist/",
        "node_modules/klaro/dist/",
        "node_modules/vanilla-cookieconsent/dist/",
    ];
    let allowed = (path.ends_with(".html") && !path.contains('/'))
        || path == "page.css"
        || packages.iter().any(|p| path.starts_with(p));
    if !allowed || path.split('/').any(|s| s.is_empty() || s.starts_with('.')) {
        return HttpResponse::NotFound().finish();
    }
    let content_type = match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    };
    let Ok(mut bytes) = std::fs::read(data.root.join(path)) else {
        return HttpResponse::NotFound().finish();
    };
    if path.ends_with(".html") {
        let api = data.api.read().unwrap().clone();
        bytes = String::from_utf8(bytes)
            .unwrap()
            .replace("{{GUICHET}}", &api)
            .replace("{{TENANT}}", TENANT)
            .replace("{{INTEGRITY}}", &data.integrity)
            .into_bytes();
    }
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "no-store"))
        .body(bytes)
}

fn serve_pages(port: u16, data: web::Data<PageData>) {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(serve_file))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .unwrap_or_else(|e| panic!("the test page's port {port}: {e}"))
    .run();
    tokio::spawn(server);
}

/// The service, running.
pub struct Service {
    pub address: String,
    pub state: web::Data<Parts>,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What a banner test needs: the service with the page's origin as the
/// tenant's only origin, the pages, chromedriver.
pub struct Rig {
    service: Option<Service>,
    pub client: reqwest::Client,
    pub origin: String,
    pub foreign: String,
    api: Arc<RwLock<String>>,
    clock: guichet::clock::Clock,
    db: TestDatabase,
    dir: tempfile::TempDir,
    driver: Driver,
    chromium: PathBuf,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Rig {
    /// The service, the pages on `port` (allowed) and `port + 1` (not).
    pub async fn start(port: u16) -> Self {
        let (chromium, chromedriver) = chromium_and_driver();
        for package in [
            "tarteaucitronjs",
            "orejime/dist",
            "klaro/dist",
            "vanilla-cookieconsent/dist",
        ] {
            if !banner_dir().join("node_modules").join(package).exists() {
                common::not_run("the banners' npm packages (npm ci in tests/banner)");
            }
        }
        let turn = BROWSER.lock().await;
        common::logs::capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(dir.path());
        let origin = format!("http://127.0.0.1:{port}");
        let clock = guichet::clock::Clock::fixed(common::start_time());
        let service = Self::launch(&dir, &db, &clock, &origin, "2026-01");
        let integrity = integrity_by_the_readme(&service.address);
        let api = Arc::new(RwLock::new(service.address.clone()));
        for port in [port, port + 1] {
            let data = web::Data::new(PageData {
                root: banner_dir(),
                api: api.clone(),
                integrity: integrity.clone(),
            });
            serve_pages(port, data);
        }
        Self {
            service: Some(service),
            client: reqwest::Client::new(),
            foreign: format!("http://127.0.0.1:{}", port + 1),
            origin,
            api,
            clock,
            db,
            dir,
            driver: Driver::start(&chromedriver),
            chromium,
            _turn: turn,
        }
    }

    fn launch(
        dir: &tempfile::TempDir,
        db: &TestDatabase,
        clock: &guichet::clock::Clock,
        origin: &str,
        version: &str,
    ) -> Service {
        let mut settings = common::test_settings(dir.path(), db);
        let tenant = settings.tenants.get_mut(TENANT).expect("the demo tenant");
        tenant.allowed_origins = vec![origin.to_owned()];
        tenant.consent.policy_version = version.to_owned();
        let app = Application::build_with(settings, clock.clone(), |_| {}).expect("app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Service {
            address,
            state,
            handle,
            task,
        }
    }

    /// The same database served again with another policy version, as an
    /// operator does when the tenant's purposes change.
    pub async fn restart_with_policy(&mut self, version: &str) {
        let Service {
            handle,
            task,
            state,
            ..
        } = self.service.take().expect("a service");
        handle.stop(true).await;
        // Let go of the state (on SQLite it holds the file's lock) before
        // waiting for the service to finish.
        drop(state);
        task.await.unwrap().unwrap();
        let next = Self::launch(&self.dir, &self.db, &self.clock, &self.origin, version);
        *self.api.write().unwrap() = next.address.clone();
        self.service = Some(next);
    }

    pub fn state(&self) -> &web::Data<Parts> {
        &self.service.as_ref().expect("a service").state
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.service.as_ref().expect("a service").address
        )
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The subject's consent events in the database, oldest first.
    pub async fn events(&self, subject: &str) -> Vec<ConsentEvent> {
        let subject = subject.to_owned();
        let consents = self.state().consents.clone();
        self.state()
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

    /// Waits until the subject has `n` events, and returns them.
    pub async fn wait_events(&self, subject: &str, n: usize) -> Vec<ConsentEvent> {
        let start = std::time::Instant::now();
        loop {
            let events = self.events(subject).await;
            if events.len() >= n {
                assert_eq!(events.len(), n, "one event per decision: {events:?}");
                return events;
            }
            assert!(
                start.elapsed() < PAGE_TIMEOUT,
                "waited for {n} events of {subject}: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn count_events(&self) -> i64 {
        let consents = self.state().consents.clone();
        self.state()
            .db
            .run(move |conn| Ok(consents.count_on(conn, None)?))
            .await
            .unwrap()
    }

    /// Waits until the service has counted `n` POSTs on `…/consents` (its
    /// count follows the answer, the record is in the database before), and
    /// checks there are no more: one POST per decision.
    pub async fn wait_posts(&self, n: u64) {
        let start = std::time::Instant::now();
        loop {
            let posts = self.posts().await;
            if posts >= n {
                assert_eq!(posts, n, "one POST per decision");
                return;
            }
            assert!(
                start.elapsed() < PAGE_TIMEOUT,
                "waited for {n} POSTs, the service counted {posts}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The POSTs the service has answered on `…/consents` since it started.
    pub async fn posts(&self) -> u64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with(
                    r#"guichet_http_requests_total{method="POST",route="/v1/tenants/{tenant}/consents","#,
                )
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// The receipt's claims, checked with the key of the published JWKS.
    pub async fn verify(&self, receipt: &str) -> Value {
        let jwks: jsonwebtoken::jwk::JwkSet = self
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(receipt).unwrap();
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("the receipt's key is published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        // The service's clock is fixed in 2026; callers compare `exp`.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(receipt, &key, &validation)
            .expect("the receipt verifies")
            .claims
    }

    /// The browser all the steps of a banner share, with a profile of its
    /// own.
    pub async fn browser(&self, name: &'static str) -> Page {
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
        Page {
            client,
            name,
            step: 0,
            _profile: profile,
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            common::assert_no_personal_data_logged();
            common::assert_no_panic_in(&common::logs());
        }
    }
}

/// The `integrity` value of the script as README.md's recipe computes it
/// (its `curl … | openssl …` line, run against this service).
fn integrity_by_the_readme(address: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let recipe = readme
        .lines()
        .find(|l| l.starts_with("curl -s https://guichet.example.org/") && l.contains("sha384"))
        .expect("README.md gives the integrity recipe");
    let recipe = recipe.replace("https://guichet.example.org", address);
    let out = std::process::Command::new("sh")
        .args(["-c", &recipe])
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(value.starts_with("sha384-") && value.len() == 71, "{value}");
    value
}

/// chromedriver's door to the DevTools protocol, for what WebDriver has no
/// command for (a request header the browser sends on its own).
#[derive(Debug)]
struct Cdp(Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(self.0.to_string()))
    }
}

/// A browser on the test pages.
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

    /// Opens `url` with nothing of an earlier visitor: no cookie, nothing
    /// in localStorage (a new subject id).
    pub async fn fresh(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.js("localStorage.clear(); sessionStorage.clear();")
            .await;
        self.client.delete_all_cookies().await.unwrap();
        self.client.goto(url).await.unwrap();
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Sends `Sec-GPC: 1` with every request from now on (Chromium has no
    /// setting for Global Privacy Control), or stops.
    pub async fn gpc(&self, on: bool) {
        let headers = if on {
            json!({"Sec-GPC": "1"})
        } else {
            json!({})
        };
        for (cmd, params) in [
            ("Network.enable", json!({})),
            ("Network.setExtraHTTPHeaders", json!({"headers": headers})),
        ] {
            self.client
                .issue_cmd(Cdp(json!({"cmd": cmd, "params": params})))
                .await
                .unwrap();
        }
    }

    pub async fn subject(&self) -> String {
        self.js("return Guichet.subjectId()")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits until `condition` (a script expression, where `G` is
    /// `window.Guichet`) holds; fails at once if consent.js reports an
    /// error it was not expected to.
    pub async fn wait_for(&self, condition: &str) {
        let script = format!(
            "const G = window.Guichet;\
             return {{ok: !!({condition}), state: G && G.status(), error: G && G.error()}};"
        );
        let start = std::time::Instant::now();
        loop {
            let v = self.client.execute(&script, vec![]).await;
            // A page replacing itself (a banner reloading it) has no answer.
            if let Ok(v) = v {
                if v["ok"] == true {
                    return;
                }
                if v["state"] == "error" && !condition.contains("'error'") {
                    panic!("consent.js failed: {}", v["error"]);
                }
                assert!(
                    start.elapsed() < PAGE_TIMEOUT,
                    "waited for {condition}: {v}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_status(&self, status: &str) {
        self.wait_for(&format!("G && G.status() === '{status}'"))
            .await;
    }

    /// Clicks `css` once it can be clicked.
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
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
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
        let file = format!("banner-{}-{:02}-{what}.png", self.name, self.step);
        std::fs::write(screenshots_dir().join(file), png).unwrap();
    }
}
