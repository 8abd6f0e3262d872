//! FranceConnect's bad answers, from a real provider (`oidc-provider`,
//! `tests/oidc/`) set to misbehave: a wrong `state`, a replayed code, an ID
//! token with a bad signature, another audience or issuer, expired, or
//! without `acr`, a provider that is down. Each ends on the citizen's
//! form with a notice (never a 5xx), no identity kept, nothing recorded,
//! and the logs name no one. Walked by a client that keeps cookies and
//! follows redirects as a browser without script, since a test must
//! replay or change an address.
//!
//! Heavy: ignored unless asked for; needs `node` and `npm ci` in
//! `tests/oidc` (else NOT RUN).

use diesel::prelude::*;
use guichet::db::schema::rights_requests as requests;

use crate::common::oidc::{
    franceconnect_app, Behaviour, Provider, Walker, EMAIL, FAMILY_NAME, LOGIN, SUB,
};
use crate::common::{self, TestApp};

const TENANT: &str = "sevres";
const FAILED: &str = "L'identification avec FranceConnect n'a pas abouti";
const UNREACHABLE: &str = "FranceConnect ne répond pas pour le moment";

async fn setup(behaviour: Behaviour) -> (TestApp, Provider) {
    franceconnect_app(behaviour, TENANT).await
}

/// From the form's button to the provider, signed in there: the address
/// the provider sends the browser back to (not yet visited).
async fn to_callback(app: &TestApp, walker: &mut Walker) -> String {
    let (at, res) = walker
        .visit(&app.url(&format!("/t/{TENANT}/franceconnect/login")))
        .await;
    assert_eq!(res.status(), 200, "the provider's sign-in page at {at}");
    let page = res.text().await.unwrap();
    let back = walker.sign_in_at_provider(&at, &page, LOGIN).await;
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&app.url(&format!("/t/{TENANT}/franceconnect/callback?"))),
        "{callback}"
    );
    callback
}

/// Visits `url`: it must end on the form with `notice`, FranceConnect
/// offered again, no identity kept, no request recorded, nothing of the
/// person in the logs.
async fn ends_on_the_form(app: &TestApp, walker: &mut Walker, url: &str, notice: &str) {
    let (at, res) = walker.visit(url).await;
    assert!(
        at.starts_with(&app.url(&format!("/t/{TENANT}/droits?franceconnect="))),
        "{at}"
    );
    assert_eq!(res.status(), 200);
    let html = common::pages::page_of(res).await.replace("&#x27;", "'");
    assert!(html.contains(notice), "{notice}: {html}");
    assert!(html.contains("class=\"fr-connect\""), "offered again");
    assert!(!html.contains("franceconnect-identity"), "no identity kept");
    assert!(!html.contains(FAMILY_NAME) && !html.contains(EMAIL));
    assert!(!walker.jar.contains_key("guichet_franceconnect"));
    let recorded: i64 = app
        .state
        .db
        .run(|conn| Ok(requests::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(recorded, 0, "nothing recorded");
    let logs = common::logs::logs();
    assert!(!logs.contains(SUB) && !logs.contains(EMAIL));
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn a_wrong_state_or_a_replayed_code_is_refused() {
    let (app, _provider) = setup(Behaviour::default()).await;
    let mut walker = Walker::new();

    // The answer of another sign-in than the one this browser started.
    let callback = to_callback(&app, &mut walker).await;
    let mut url = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "forged".into() } else { v };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    ends_on_the_form(&app, &mut walker, url.as_str(), FAILED).await;

    // A code used once, replayed with the same browser's flow.
    let mut walker = Walker::new();
    let callback = to_callback(&app, &mut walker).await;
    let flow = walker.jar.clone();
    let (at, res) = walker.visit(&callback).await;
    assert_eq!(at, app.url(&format!("/t/{TENANT}/droits")));
    assert!(common::pages::page_of(res)
        .await
        .contains("franceconnect-identity"));
    walker.jar = flow;
    ends_on_the_form(&app, &mut walker, &callback, FAILED).await;
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn an_id_token_with_a_bad_signature_audience_or_issuer_is_refused() {
    for tamper in ["signature", "audience", "issuer"] {
        let (app, _provider) = setup(Behaviour {
            tamper: Some(tamper),
            ..Behaviour::default()
        })
        .await;
        let mut walker = Walker::new();
        let callback = to_callback(&app, &mut walker).await;
        ends_on_the_form(&app, &mut walker, &callback, FAILED).await;
    }
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn an_expired_id_token_or_one_without_acr_is_refused() {
    // Valid a minute, read five minutes later; or without any level said.
    let expiring = Behaviour {
        id_token_ttl: 60,
        ..Behaviour::default()
    };
    let no_acr = Behaviour {
        acr: None,
        ..Behaviour::default()
    };
    for (behaviour, late) in [(expiring, 5), (no_acr, 0)] {
        let (app, _provider) = setup(behaviour).await;
        app.clock.set(chrono::Utc::now());
        let mut walker = Walker::new();
        let callback = to_callback(&app, &mut walker).await;
        app.clock.advance(chrono::Duration::minutes(late));
        ends_on_the_form(&app, &mut walker, &callback, FAILED).await;
    }
}

#[tokio::test]
#[ignore = "heavy: needs node and npm ci in tests/oidc; cargo test -- --include-ignored"]
async fn a_provider_that_is_down_leaves_the_form_usable() {
    // Down before the citizen leaves for it.
    let (app, provider) = setup(Behaviour::default()).await;
    provider.stop().await;
    let mut walker = Walker::new();
    let login = app.url(&format!("/t/{TENANT}/franceconnect/login"));
    ends_on_the_form(&app, &mut walker, &login, UNREACHABLE).await;

    // Down while the citizen is there.
    let (app, provider) = setup(Behaviour::default()).await;
    let mut walker = Walker::new();
    let callback = to_callback(&app, &mut walker).await;
    provider.stop().await;
    ends_on_the_form(&app, &mut walker, &callback, UNREACHABLE).await;
}
