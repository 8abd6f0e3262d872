//! Staff signing in to the console through the instance's identity
//! provider (`[auth.oidc]`), a real one (`oidc-provider`, `tests/oidc/`):
//! in headless Chromium, the sign-in page offers it, the provider vouches
//! for the DPO's verified address, the console opens with the same session
//! as after a password, journaled, and signing out revokes its token. Then,
//! walked by a client that keeps cookies: an address no account has, one
//! the provider did not verify, a disabled account, a wrong `state`, a
//! provider that is down: each ends on the sign-in page saying so (never a
//! 5xx), without a session, and is journaled. And an instance whose staff
//! sign in only through the provider takes no password, on its pages or
//! its API.
//!
//! Heavy: ignored unless asked for; needs `node` and `npm ci` in
//! `tests/oidc`, `chromium` and `chromium-driver` (else NOT RUN).

use diesel::prelude::*;
use fantoccini::Locator;
use guichet::db::schema::audit_events as audit;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::common::oidc::{staff_app, Behaviour, Walker};
use crate::common::webdriver::{chromium_and_driver, Driver};
use crate::common::{self, create_staff, TestApp, PASSWORD};

const DPO: &str = "dpo@ville-sevres.fr";
const FORMER: &str = "ancien@ville-sevres.fr";
const FAILED: &str = "La connexion avec le compte de votre organisme n'a pas abouti";
const REFUSED: &str = "Aucun compte actif de ce guichet ne correspond";

/// The journal's sign-in entries, oldest first: kind and detail.
async fn sign_ins(app: &TestApp) -> Vec<(String, Value)> {
    let rows: Vec<(String, Option<String>)> = app
        .state
        .db
        .run(|conn| {
            Ok(audit::table
                .filter(audit::kind.like("login.%"))
                .order(audit::at.asc())
                .select((audit::kind, audit::detail))
                .load(conn)?)
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|(kind, detail)| {
            let detail = detail.map_or(Value::Null, |d| serde_json::from_str(&d).unwrap());
            (kind, detail)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs node, npm ci in tests/oidc, chromium; cargo test -- --include-ignored"]
async fn the_dpo_signs_in_through_the_identity_provider_in_a_browser() {
    let (chromium, chromedriver) = chromium_and_driver();
    let (app, _provider) = staff_app(Behaviour::default(), |_| {}).await;
    create_staff(&app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::open(&driver, &chromium, profile.path(), &app.address).await;

    // The sign-in page offers the provider beside the password.
    b.goto("/console/login?next=/console").await;
    let offer = b.text_of("#oidc-login").await;
    assert_eq!(offer, "Se connecter avec le compte de votre organisme");
    assert!(b.client.find(Locator::Id("f-password")).await.is_ok());
    b.shot("staff-oidc-login").await;

    // At the provider, then the console.
    b.click("#oidc-login").await;
    b.text_of("#login").await;
    b.fill("login", "agent").await;
    b.click("#continue").await;
    b.text_of("form.filters").await;
    assert_eq!(b.path().await, "/console");
    b.shot("staff-oidc-console").await;
    let token = b
        .client
        .get_named_cookie("guichet_console")
        .await
        .unwrap()
        .value()
        .to_owned();
    let res = common::get(&app, &token, "/v1/dpo/requests").await;
    assert_eq!(res.status(), 200, "the session's token works on the API");
    let journal = sign_ins(&app).await;
    assert_eq!(journal.len(), 1, "{journal:?}");
    assert_eq!(journal[0].0, "login.success");
    assert_eq!(journal[0].1["method"], "oidc");
    assert!(journal[0].1["jti"].is_string());

    // Signing out revokes the token, as after a password.
    b.click("form.logout button").await;
    b.text_of("#oidc-login").await;
    let res = common::get(&app, &token, "/v1/dpo/requests").await;
    assert_eq!(res.status(), 401, "revoked");
    b.client.close().await.unwrap();
}

/// Through the provider as `login`, back to the service: the answer.
async fn sign_in_as(app: &TestApp, login: &str) -> (Walker, u16, String) {
    let mut walker = Walker::new();
    let (at, res) = walker.visit(&app.url("/console/oidc/login")).await;
    assert_eq!(res.status(), 200, "the provider's sign-in page at {at}");
    let page = res.text().await.unwrap();
    let back = walker.sign_in_at_provider(&at, &page, login).await;
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let (_, res) = walker.visit(&callback).await;
    let status = res.status().as_u16();
    let html = common::pages::page_of(res).await.replace("&#x27;", "'");
    (walker, status, html)
}

/// The sign-in page saying `notice`, no session, and the journal's last
/// entry a failure for `reason`.
async fn refused(
    app: &TestApp,
    walker: &Walker,
    status: u16,
    html: &str,
    notice: &str,
    reason: &str,
) {
    assert_eq!(status, 401);
    assert!(html.contains(notice), "{notice}: {html}");
    assert!(html.contains("id=\"oidc-login\""), "offered again");
    assert!(!walker.jar.contains_key("guichet_console"), "no session");
    let journal = sign_ins(app).await;
    let last = journal.last().expect("journaled");
    assert_eq!(last.0, "login.failure");
    assert_eq!(last.1, json!({"reason": reason, "method": "oidc"}));
    assert!(!journal.iter().any(|(kind, _)| kind == "login.success"));
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn only_an_enabled_account_with_the_verified_address_signs_in() {
    let (app, _provider) = staff_app(Behaviour::default(), |_| {}).await;
    create_staff(&app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    let former = create_staff(&app, Some("sevres"), FORMER, "dpo", PASSWORD).await;
    app.state
        .db
        .run(move |conn| {
            use guichet::db::schema::staff_users as users;
            diesel::update(users::table.find(&former))
                .set(users::disabled.eq(true))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    for (login, reason) in [
        ("stranger", "unknown_account"),
        ("unverified", "email_not_verified"),
        ("former", "disabled"),
    ] {
        let (walker, status, html) = sign_in_as(&app, login).await;
        refused(&app, &walker, status, &html, REFUSED, reason).await;
    }
    let (walker, status, _) = sign_in_as(&app, "agent").await;
    assert_eq!(status, 200);
    assert!(walker.jar.contains_key("guichet_console"));

    // A provider that does not say addresses verified, trusted to have
    // checked them all (`require_email_verified = false`).
    let (app, _provider) = staff_app(Behaviour::default(), |s| {
        s.auth.oidc.as_mut().unwrap().require_email_verified = false;
    })
    .await;
    create_staff(&app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    let (walker, status, _) = sign_in_as(&app, "unverified").await;
    assert_eq!(status, 200);
    assert!(walker.jar.contains_key("guichet_console"));
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn a_bad_answer_or_a_provider_down_ends_on_the_sign_in_page_journaled() {
    // The ID token of another relying party.
    let audience = Behaviour {
        tamper: Some("audience"),
        ..Behaviour::default()
    };
    let (app, _provider) = staff_app(audience, |_| {}).await;
    create_staff(&app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    let (walker, status, html) = sign_in_as(&app, "agent").await;
    refused(&app, &walker, status, &html, FAILED, "invalid_id_token").await;

    // An answer without the flow this browser started.
    let mut walker = Walker::new();
    let (_, res) = walker
        .visit(&app.url("/console/oidc/callback?code=x&state=forged"))
        .await;
    let status = res.status().as_u16();
    let html = common::pages::page_of(res).await.replace("&#x27;", "'");
    refused(&app, &walker, status, &html, FAILED, "wrong_state").await;

    // Down.
    let (app, provider) = staff_app(Behaviour::default(), |_| {}).await;
    provider.stop().await;
    let mut walker = Walker::new();
    let (_, res) = walker.visit(&app.url("/console/oidc/login")).await;
    let status = res.status().as_u16();
    let html = common::pages::page_of(res).await.replace("&#x27;", "'");
    refused(&app, &walker, status, &html, FAILED, "provider_unreachable").await;
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn password_sign_in_switched_off_takes_no_password() {
    let (app, _provider) = staff_app(Behaviour::default(), |s| {
        s.auth.password_sign_in = false;
    })
    .await;
    create_staff(&app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    let res = app.get("/console/login").await;
    assert_eq!(res.status(), 200);
    let html = common::pages::page_of(res).await;
    assert!(html.contains("id=\"oidc-login\""));
    assert!(!html.contains("f-password"), "no password field");
    // The API refuses a password, the right one too.
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": DPO, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    common::assert_problem(res, 403, "password_sign_in_off").await;
    // The provider still signs the DPO in.
    let (walker, status, _) = sign_in_as(&app, "agent").await;
    assert_eq!(status, 200);
    assert!(walker.jar.contains_key("guichet_console"));
}
