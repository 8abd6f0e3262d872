//! A real OpenID Connect provider for the tests: `oidc-provider` from npm
//! (`tests/oidc/provider.mjs`, installed by `npm ci` there, as `.ci/run`
//! does), configured as FranceConnect answers, on a loopback port, stopped
//! when dropped; and a client that walks its pages and the service's with
//! cookies, as a browser without script would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use guichet::config::{OidcSettings, Settings};

/// The person FranceConnect's integration platform vouches for in the
/// tests (its login at the test provider).
pub const LOGIN: &str = "angela";
pub const SUB: &str = "b6048e95bb134ec5b1d1e1fa69f287172e91722b9354d637a1bcf2ebb0fd2ef5v1";
pub const GIVEN_NAME: &str = "Angela Claire Louise";
pub const FAMILY_NAME: &str = "DUBOIS";
pub const EMAIL: &str = "angela.dubois@example.fr";
pub const SECRET: &str = "a client secret of the tests, long enough";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// A port free now, for a service that must be known before it starts
/// (the provider registers the service's addresses).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Provider {
    child: Child,
    pub issuer: String,
}

/// How the provider behaves.
#[derive(Clone)]
pub struct Behaviour {
    /// The `acr` of each sign-in; `None`: none said.
    pub acr: Option<&'static str>,
    /// How its ID tokens are altered (`audience`, `issuer`, `signature`).
    pub tamper: Option<&'static str>,
    /// The algorithm its user info is signed with as a JWT (FranceConnect
    /// v2: "RS256" or "ES256"), or None: answered as plain JSON.
    pub userinfo_alg: Option<&'static str>,
    /// The port to listen on (0: any).
    pub port: u16,
    /// Seconds an ID token is valid.
    pub id_token_ttl: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            acr: Some("eidas1"),
            tamper: None,
            userinfo_alg: Some("RS256"),
            port: 0,
            id_token_ttl: 3600,
        }
    }
}

/// The client a service at `base` is, for tenant `slug` (FranceConnect)
/// or for its staff (`slug` None).
pub fn client(base: &str, slug: Option<&str>, userinfo_alg: Option<&str>) -> Value {
    let (id, redirect, logout) = match slug {
        Some(slug) => (
            format!("guichet-{slug}"),
            format!("{base}/t/{slug}/franceconnect/callback"),
            format!("{base}/t/{slug}/franceconnect/logged-out"),
        ),
        None => (
            "guichet-staff".to_owned(),
            format!("{base}/console/oidc/callback"),
            format!("{base}/console/login"),
        ),
    };
    let mut client = json!({
        "client_id": id,
        "client_secret": SECRET,
        "redirect_uris": [redirect],
        "post_logout_redirect_uris": [logout],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    });
    if let Some(alg) = userinfo_alg {
        client["userinfo_signed_response_alg"] = alg.into();
    }
    client
}

impl Provider {
    /// Starts the provider with `clients` and `accounts` (login → claims).
    pub async fn start(behaviour: &Behaviour, clients: Vec<Value>, accounts: Value) -> Self {
        let dir = dir();
        if !dir.join("node_modules/oidc-provider/package.json").exists() {
            crate::common::not_run("tests/oidc/node_modules (npm ci in tests/oidc)");
        }
        let config = json!({
            "port": behaviour.port,
            "clients": clients,
            "accounts": accounts,
            "acr": behaviour.acr,
            "tamper": behaviour.tamper,
            "id_token_ttl": behaviour.id_token_ttl,
        });
        // Its own log, beside the service's (whose check for personal
        // data would meet the test person's claims and addresses here).
        let logs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oidc-provider");
        let log = std::fs::create_dir_all(&logs)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(logs.join(format!("{}.log", std::process::id())))
            })
            .map_or_else(|_| Stdio::null(), Stdio::from);
        let mut child = match Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("OIDC_TEST_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(_) => crate::common::not_run("node (Debian nodejs)"),
        };
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the provider starts within 30 s")
            .unwrap()
            .expect("the provider prints its issuer");
        let issuer = line
            .strip_prefix("issuer ")
            .expect("issuer line")
            .to_owned();
        Self { child, issuer }
    }

    /// Stops it, its port closed once this returns: a provider down.
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// The test person, as the provider holds them.
pub fn accounts() -> Value {
    json!({
        LOGIN: {
            "sub": SUB,
            "given_name": GIVEN_NAME,
            "family_name": FAMILY_NAME,
            "email": EMAIL,
            "email_verified": true,
        }
    })
}

/// FranceConnect's settings for a tenant, at `issuer`.
pub fn franceconnect(issuer: &str, slug: &str) -> OidcSettings {
    OidcSettings {
        issuer: issuer.to_owned(),
        client_id: format!("guichet-{slug}"),
        client_secret: SECRET.to_owned().into(),
        scopes: ["openid", "given_name", "family_name", "email"]
            .map(String::from)
            .to_vec(),
        acr_values: vec!["eidas1".into()],
        timeout_secs: 5,
        flow_minutes: 15,
        identity_minutes: 60,
        require_email_verified: true,
    }
}

/// The service with tenant `slug` offering FranceConnect at a provider
/// behaving as said, which knows the service as a client.
pub async fn franceconnect_app(
    behaviour: Behaviour,
    slug: &'static str,
) -> (crate::common::TestApp, Provider) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(
        &behaviour,
        vec![client(&base, Some(slug), behaviour.userinfo_alg)],
        accounts(),
    )
    .await;
    let issuer = provider.issuer.clone();
    let app = crate::common::spawn_app_with(
        move |s| {
            on_port(s, port);
            s.tenants.get_mut(slug).unwrap().franceconnect = Some(franceconnect(&issuer, slug));
        },
        |_| {},
    )
    .await;
    (app, provider)
}

/// The staff at the provider: login → (e-mail address, verified).
pub const STAFF: [(&str, &str, bool); 4] = [
    ("agent", "dpo@ville-sevres.fr", true),
    ("stranger", "inconnu@ville-sevres.fr", true),
    ("unverified", "dpo@ville-sevres.fr", false),
    ("former", "ancien@ville-sevres.fr", true),
];

/// The service with `[auth.oidc]` at a provider behaving as said, which
/// knows the staff of `STAFF`; `adjust` changes the service's settings
/// further.
pub async fn staff_app(
    behaviour: Behaviour,
    adjust: impl FnOnce(&mut Settings) + 'static,
) -> (crate::common::TestApp, Provider) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let accounts: serde_json::Map<String, Value> = STAFF
        .iter()
        .map(|(login, email, verified)| {
            let claims =
                json!({"sub": format!("{login}-sub"), "email": email, "email_verified": verified});
            ((*login).to_owned(), claims)
        })
        .collect();
    let provider = Provider::start(
        &behaviour,
        vec![client(&base, None, behaviour.userinfo_alg)],
        Value::Object(accounts),
    )
    .await;
    let issuer = provider.issuer.clone();
    let app = crate::common::spawn_app_with(
        move |s| {
            on_port(s, port);
            s.auth.oidc = Some(OidcSettings {
                client_id: "guichet-staff".into(),
                scopes: vec!["openid".into(), "email".into()],
                acr_values: Vec::new(),
                ..franceconnect(&issuer, "staff")
            });
            adjust(s);
        },
        |_| {},
    )
    .await;
    (app, provider)
}

/// Settings for a service on `port`, whose public address is that port.
pub fn on_port(s: &mut Settings, port: u16) {
    s.server.bind = format!("127.0.0.1:{port}");
    s.server.public_url = format!("http://127.0.0.1:{port}");
}

/// A client that keeps cookies and follows redirects one by one, as a
/// browser without script: for the provider's bad answers, where a test
/// needs to replay an address or change it.
pub struct Walker {
    pub http: reqwest::Client,
    pub jar: BTreeMap<String, String>,
}

impl Default for Walker {
    fn default() -> Self {
        Self::new()
    }
}

impl Walker {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for value in res.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let gone = value.is_empty() || text.to_ascii_lowercase().contains("max-age=0");
            if gone {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    /// Sends `request` to `url` with the cookies, and keeps the new ones.
    async fn send(&mut self, url: &str, request: reqwest::RequestBuilder) -> reqwest::Response {
        let res = request
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        self.keep(&res);
        res
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        self.send(url, self.http.get(url)).await
    }

    pub async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.send(url, self.http.post(url).form(fields)).await
    }

    /// `POST url` with a multipart form, as the citizen's form is sent.
    pub async fn post_multipart(
        &mut self,
        url: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.send(url, self.http.post(url).multipart(form)).await
    }

    /// Follows the redirects from `res` (answered at `url`) to the first
    /// answer that is not one; returns it with its address.
    pub async fn follow(
        &mut self,
        url: &str,
        mut res: reqwest::Response,
    ) -> (String, reqwest::Response) {
        let mut at = url.to_owned();
        for _ in 0..20 {
            if !res.status().is_redirection() {
                return (at, res);
            }
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            at = reqwest::Url::parse(&at)
                .unwrap()
                .join(&location)
                .unwrap()
                .to_string();
            res = self.get(&at).await;
        }
        panic!("more than 20 redirects from {url}");
    }

    /// `GET url` and its redirects.
    pub async fn visit(&mut self, url: &str) -> (String, reqwest::Response) {
        let res = self.get(url).await;
        self.follow(url, res).await
    }

    /// At the provider's sign-in page (`at`, its HTML `page`): signs in as
    /// `login`; returns the first answer that is not a redirect within the
    /// provider, i.e. the redirect back to the relying party, unfollowed.
    pub async fn sign_in_at_provider(
        &mut self,
        at: &str,
        page: &str,
        login: &str,
    ) -> reqwest::Response {
        let action = between(page, "<form method=\"post\" action=\"", "\"");
        let url = reqwest::Url::parse(at)
            .unwrap()
            .join(&action)
            .unwrap()
            .to_string();
        let mut res = self.post_form(&url, &[("login", login)]).await;
        let origin = origin_of(at);
        let mut here = url;
        // Within the provider: its own redirects.
        while res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let next = reqwest::Url::parse(&here)
                .unwrap()
                .join(&location)
                .unwrap()
                .to_string();
            if origin_of(&next) != origin {
                return res;
            }
            here = next;
            res = self.get(&here).await;
        }
        panic!(
            "the provider did not send the browser back: {}",
            res.status()
        );
    }
}

fn origin_of(url: &str) -> String {
    let u = reqwest::Url::parse(url).unwrap();
    format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default())
        + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
}

/// The text between `start` and the next `end` in `text`, HTML entities
/// of `&amp;` undone.
pub fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    text[from..to].replace("&#x2f;", "/").replace("&amp;", "&")
}
