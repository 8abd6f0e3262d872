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
//! Heavy: ignored unless asked for (`cargo test -- --include-ignored`).
//! Needs `chromium`, `chromium-driver` and `tests/banner/node_modules`
//! (`npm ci` there); without them a test fails as NOT RUN.
//! Screenshots go to `target/screenshots/banner-*.png`.

mod rig;

use std::collections::BTreeMap;

use rig::{serve_page, Page, Rig, TENANT};
use serde_json::{json, Value};

/// Ports of the test pages' origins (this test's range: 18350-18399).
const ACCEPT_PORT: u16 = 18351;
const REFUSE_PORT: u16 = 18352;
const CUSTOM_PORT: u16 = 18353;
const ALLOWED_PORT: u16 = 18354;
const FOREIGN_PORT: u16 = 18355;

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
    page.wait_visible("#cc-main .cm").await;
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
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn accept_all_records_every_purpose_and_can_be_withdrawn() {
    let origin = format!("http://127.0.0.1:{ACCEPT_PORT}");
    let rig = Rig::start(&origin).await;
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
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn refuse_all_records_refusals_and_can_be_withdrawn() {
    let origin = format!("http://127.0.0.1:{REFUSE_PORT}");
    let rig = Rig::start(&origin).await;
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
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn a_custom_choice_and_a_later_change_are_each_recorded() {
    let origin = format!("http://127.0.0.1:{CUSTOM_PORT}");
    let rig = Rig::start(&origin).await;
    serve_page(CUSTOM_PORT);
    let policy = rig.policy().await;
    let mut page = rig.open(&origin, "custom").await;
    page.banner_shown().await;
    page.click("#cc-main .cm [data-role=show]").await;
    page.wait_visible("#cc-main .pm").await;
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
    page.wait_visible("#cc-main .pm").await;
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
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn the_same_page_from_a_foreign_origin_is_refused_by_cors() {
    let allowed = format!("http://127.0.0.1:{ALLOWED_PORT}");
    let foreign = format!("http://127.0.0.1:{FOREIGN_PORT}");
    let rig = Rig::start(&allowed).await;
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
