//! FranceConnect on the citizen's form, through a real OpenID Connect
//! provider (`oidc-provider`, `tests/oidc/`, as FranceConnect answers:
//! one scope per claim, `acr` `eidas1`, user info as a signed JWT or as
//! JSON). In headless Chromium (script off, as the pages must work
//! without): the form offers the official button and its link, the flow
//! comes back with the identity, the form shows it and does not let it
//! change, the request needs no identity document and records the identity
//! verified by FranceConnect (the provider's `sub` only as a keyed hash),
//! the provider's session ends on the way out, the tracking page works.
//! Then, walked by a client that keeps cookies and sends what it likes:
//! names and an address sent in place of the identity are ignored, and
//! the citizen may leave FranceConnect without sending anything.
//!
//! Heavy: ignored unless asked for; needs `node` and `npm ci` in
//! `tests/oidc`, `chromium` and `chromium-driver` (else NOT RUN).

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::Browser;
use crate::common::oidc::{
    franceconnect_app, Behaviour, Provider, Walker, EMAIL, FAMILY_NAME, GIVEN_NAME, LOGIN, SUB,
};
use crate::common::webdriver::{chromium_and_driver, Driver};
use crate::common::{self, get, TestApp};

const TENANT: &str = "sevres";
const DPO: &str = "dpo@ville-sevres.fr";

async fn setup(behaviour: Behaviour) -> (TestApp, Provider) {
    franceconnect_app(behaviour, TENANT).await
}

/// The requests the DPO sees, read with `token`.
async fn requests_recorded(app: &TestApp, token: &str) -> Vec<Value> {
    let res = get(app, token, "/v1/dpo/requests").await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    list["items"].as_array().unwrap().clone()
}

/// The value of the form field `id`, and whether it is read-only.
async fn field(b: &Browser, id: &str) -> (String, bool) {
    let input = b.client.find(Locator::Id(id)).await.unwrap();
    let value = input.prop("value").await.unwrap().unwrap_or_default();
    let readonly = input.attr("readonly").await.unwrap().is_some();
    (value, readonly)
}

async fn citizen_journey(behaviour: Behaviour) {
    let (chromium, chromedriver) = chromium_and_driver();
    let (app, _provider) = setup(behaviour).await;
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::open(&driver, &chromium, profile.path(), &app.address).await;

    // The form offers FranceConnect: the official button and its link.
    b.goto(&format!("/t/{TENANT}/droits")).await;
    let offer = b.text_of("#franceconnect").await;
    assert!(offer.contains("S’identifier avec"), "{offer}");
    assert!(offer.contains("FranceConnect"), "{offer}");
    let what = b
        .client
        .find(Locator::LinkText("Qu’est-ce que FranceConnect ?"))
        .await
        .unwrap();
    assert_eq!(
        what.attr("href").await.unwrap().as_deref(),
        Some("https://franceconnect.gouv.fr/")
    );
    b.shot("franceconnect-form").await;

    // At the provider: signed in there, back to the form with the identity.
    b.click("a.fr-connect").await;
    b.text_of("#login").await;
    b.shot("franceconnect-provider").await;
    b.click("#continue").await;
    let notice = b.text_of("#franceconnect-identity").await;
    assert!(notice.contains("vérifiée par FranceConnect"), "{notice}");
    assert_eq!(b.path().await, format!("/t/{TENANT}/droits"));
    for (id, shown) in [
        ("f-first_name", GIVEN_NAME),
        ("f-last_name", FAMILY_NAME),
        ("f-email", EMAIL),
    ] {
        assert_eq!(field(&b, id).await, (shown.to_owned(), true), "{id}");
    }
    // Typing into them changes nothing.
    let first = b.client.find(Locator::Id("f-first_name")).await.unwrap();
    first.send_keys("Mallory").await.unwrap();
    assert_eq!(field(&b, "f-first_name").await.0, GIVEN_NAME);
    // No identity document is asked.
    assert!(b
        .client
        .find(Locator::Css("input[name=id_document]"))
        .await
        .is_err());
    let source = b.client.source().await.unwrap();
    assert!(!source.contains(SUB), "the provider's identifier stays out");
    b.shot("franceconnect-identified").await;

    // Sent without any document; then the provider's session ends, and
    // the confirmation.
    b.click("#f-kinds").await; // the first right: access
    b.fill(
        "f-details",
        "Je souhaite obtenir les données me concernant.",
    )
    .await;
    b.click("form button[type=submit]").await;
    b.text_of("#logout-yes").await;
    let at = b.client.current_url().await.unwrap();
    assert!(at.path().starts_with("/session/end"), "{at}");
    b.shot("franceconnect-provider-logout").await;
    b.click("#logout-yes").await;
    let reference = b.text_of("#reference").await;
    assert!(reference.starts_with("DR-"), "{reference}");
    let path = b.path().await;
    let tracking = path
        .strip_prefix(&format!("/t/{TENANT}/droits/confirmation/"))
        .unwrap_or_else(|| panic!("the confirmation after the logout, not {path}"))
        .to_owned();
    b.shot("franceconnect-confirmation").await;
    // The identity is forgotten: the form offers FranceConnect again.
    b.goto(&format!("/t/{TENANT}/droits")).await;
    b.text_of("#franceconnect").await;

    let token = common::dpo(&app, TENANT, DPO).await;
    let items = requests_recorded(&app, &token).await;
    assert_eq!(items.len(), 1);
    let id = items[0]["id"].as_str().unwrap();
    let res = get(&app, &token, &format!("/v1/dpo/requests/{id}")).await;
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["reference"], reference.as_str());
    assert_eq!(detail["first_name"], GIVEN_NAME, "{detail}");
    assert_eq!(detail["last_name"], FAMILY_NAME);
    assert_eq!(detail["email"], EMAIL);
    assert_eq!(detail["identity"]["outcome"], "verified", "{detail}");
    assert_eq!(detail["identity"]["method"], "franceconnect");
    assert_eq!(detail["identity"]["by"], "franceconnect");
    assert!(detail["identity"]["at"].is_string());
    assert_eq!(detail["documents"].as_array().map_or(0, Vec::len), 0);
    let text = detail.to_string();
    assert!(!text.contains(SUB), "the sub only as a keyed hash: {text}");
    let received = &detail["events"][0]["detail"]["identity"];
    assert_eq!(received["method"], "franceconnect", "{detail}");
    assert_eq!(received["subject_hash"].as_str().unwrap().len(), 32);

    // The tracking page, as for any request.
    b.goto(&format!("/t/{TENANT}/suivi/{tracking}")).await;
    assert_eq!(b.text_of("#status").await, "Reçue");
    assert!(b.text_of("main").await.contains(&reference));
    b.shot("franceconnect-tracking").await;
    b.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs node, npm ci in tests/oidc, chromium; cargo test -- --include-ignored"]
async fn a_citizen_identified_by_franceconnect_sends_a_request_without_a_document() {
    citizen_journey(Behaviour::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs node, npm ci in tests/oidc, chromium; cargo test -- --include-ignored"]
async fn user_info_answered_as_plain_json_is_read_too() {
    citizen_journey(Behaviour {
        userinfo_alg: None,
        ..Behaviour::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs node, npm ci in tests/oidc, chromium; cargo test -- --include-ignored"]
async fn user_info_signed_with_an_elliptic_curve_key_is_read_too() {
    // FranceConnect v2 signs in ES256 or RS256, as the service chose.
    citizen_journey(Behaviour {
        userinfo_alg: Some("ES256"),
        ..Behaviour::default()
    })
    .await;
}

/// From the form's button to the provider and back: the form, identified.
async fn identified(app: &TestApp, walker: &mut Walker) {
    let (at, res) = walker
        .visit(&app.url(&format!("/t/{TENANT}/franceconnect/login")))
        .await;
    let page = res.text().await.unwrap();
    let back = walker.sign_in_at_provider(&at, &page, LOGIN).await;
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let (at, res) = walker.visit(&callback).await;
    assert_eq!(at, app.url(&format!("/t/{TENANT}/droits")));
    assert!(common::pages::page_of(res)
        .await
        .contains("franceconnect-identity"));
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn names_sent_in_place_of_the_identity_are_ignored_and_the_citizen_may_sign_out() {
    let (app, _provider) = setup(Behaviour::default()).await;
    let mut walker = Walker::new();
    identified(&app, &mut walker).await;
    let form = reqwest::multipart::Form::new()
        .text("kinds", "access")
        .text("first_name", "Mallory")
        .text("last_name", "Usurpateur")
        .text("email", "mallory@example.org")
        .text("details", "Je souhaite obtenir les données me concernant.");
    let url = app.url(&format!("/t/{TENANT}/droits"));
    let res = walker.post_multipart(&url, form).await;
    assert_eq!(res.status(), 303, "sent without a document");
    let token = common::dpo(&app, TENANT, DPO).await;
    let items = requests_recorded(&app, &token).await;
    assert_eq!(items.len(), 1);
    let id = items[0]["id"].as_str().unwrap();
    let detail: Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["first_name"], GIVEN_NAME, "{detail}");
    assert_eq!(detail["last_name"], FAMILY_NAME);
    assert_eq!(detail["email"], EMAIL);

    // Identified again, the citizen signs out of FranceConnect from the
    // form: through the provider's logout, back to the form, unidentified.
    let mut walker = Walker::new();
    identified(&app, &mut walker).await;
    let (at, res) = walker
        .visit(&app.url(&format!("/t/{TENANT}/franceconnect/logout")))
        .await;
    assert_eq!(at, app.url(&format!("/t/{TENANT}/franceconnect/logout")));
    let html = res.text().await.unwrap();
    let end = crate::common::oidc::between(&html, "id=\"continue\" href=\"", "\"");
    assert!(
        end.contains("/session/end?") && end.contains("id_token_hint="),
        "{end}"
    );
    let (at, res) = walker.visit(&end).await;
    let page = res.text().await.unwrap();
    let action = crate::common::oidc::between(&page, "method=\"post\" action=\"", "\"");
    let xsrf = crate::common::oidc::between(&page, "name=\"xsrf\" value=\"", "\"");
    let confirm = reqwest::Url::parse(&at).unwrap().join(&action).unwrap();
    let res = walker
        .post_form(confirm.as_str(), &[("xsrf", &xsrf), ("logout", "yes")])
        .await;
    let (at, res) = walker.follow(confirm.as_str(), res).await;
    assert_eq!(at, app.url(&format!("/t/{TENANT}/droits")));
    let html = common::pages::page_of(res).await;
    assert!(!html.contains("franceconnect-identity"), "signed out");
    assert!(html.contains("class=\"fr-connect\""), "offered again");
    assert!(!walker.jar.contains_key("guichet_franceconnect"));
}
