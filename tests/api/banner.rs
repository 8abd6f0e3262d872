//! The four stock cookie banners French portals use, each connected to
//! Guichet by one tag (`consent.js`), in headless Chromium: tarteaucitron.js,
//! Orejime, Klaro and vanilla-cookieconsent from npm (`tests/banner/`,
//! installed by `.ci/run` with `npm ci`), each on a test page holding only
//! the library, its look-and-feel options and the script tag, pinned with
//! the `integrity` README.md's recipe computes. For each banner, in one
//! browser: a first visit asks, "accept all" is one POST and one event; a
//! reload restores the choice from Guichet without showing the banner (the
//! banner's own cookie deleted); a change of mind from the page's button;
//! the banner's reset withdraws; "refuse all"; a custom choice after
//! `Guichet.withdraw()`; the receipt shown to the visitor verifies against
//! the JWKS alone; a new policy version makes the banner ask again; a
//! browser sending `Sec-GPC: 1` is recorded so; from an origin the tenant
//! does not allow, CORS keeps the script and the API out and nothing is
//! written. What is checked is what Guichet recorded (database, API,
//! metrics), not only the page.
//!
//! Heavy: ignored unless asked for (`cargo test -- --include-ignored`).
//! Needs `chromium`, `chromium-driver`, `curl`, `openssl` and
//! `tests/banner/node_modules` (`npm ci` there); without them a test fails
//! as NOT RUN. Screenshots go to `target/screenshots/banner-*.png`.

mod rig;

use std::collections::BTreeMap;

use rig::{Page, Rig, TENANT};
use serde_json::{json, Value};

/// How a banner is driven: its page, its buttons, how it shows.
struct Ui {
    name: &'static str,
    /// The allowed origin's port; the next one is a foreign origin (this
    /// test's range: 18350-18399).
    port: u16,
    /// Script: the banner asks (its first layer is shown).
    shown: &'static str,
    accept_all: &'static str,
    refuse_all: &'static str,
    /// From the first layer to the per-purpose choices.
    customise: &'static str,
    /// Saves the per-purpose choices (tarteaucitron applies each at once:
    /// its "Save" only refuses what is left undecided).
    save: &'static str,
    /// Script: the banner holds purpose `ID` (of category `CAT`) accepted.
    holds: &'static str,
}

const TARTEAUCITRON: Ui = Ui {
    name: "tarteaucitron",
    port: 18361,
    // The alert, and every service consent.js declared in its panel: a
    // click before tarteaucitron has taken them in answers for none.
    shown: "(e => !!e && getComputedStyle(e).display === 'block')(document.getElementById('tarteaucitronAlertBig')) && ['audience', 'twitter', 'facebook', 'linkedin'].every(k => !!document.getElementById('guichet_' + k + 'Line'))",
    accept_all: "#tarteaucitronPersonalize2",
    refuse_all: "#tarteaucitronAllDenied2",
    customise: "#tarteaucitronCloseAlert",
    save: "#tarteaucitronSaveButton",
    holds: "tarteaucitron.state['guichet_ID'] === true",
};

const OREJIME: Ui = Ui {
    name: "orejime",
    port: 18363,
    shown: "!!document.querySelector('.orejime-Banner')",
    accept_all: "[data-testid=orejime-banner-accept]",
    refuse_all: "[data-testid=orejime-banner-decline]",
    customise: "[data-testid=orejime-banner-configure]",
    save: "[data-testid=orejime-modal-save]",
    holds: "orejime.manager.getConsent('ID') === true",
};

const KLARO: Ui = Ui {
    name: "klaro",
    port: 18365,
    shown: "!!document.querySelector('#klaro .cookie-notice')",
    accept_all: "#klaro .cookie-notice .cm-btn-success",
    refuse_all: "#klaro .cookie-notice .cn-decline",
    customise: "#klaro .cookie-notice .cn-learn-more",
    save: "#klaro .cm-btn-accept",
    holds: "klaro.getManager().getConsent('ID') === true",
};

const COOKIECONSENT: Ui = Ui {
    name: "vanilla-cookieconsent",
    port: 18367,
    shown: "(e => !!e && getComputedStyle(e).visibility === 'visible')(document.querySelector('#cc-main .cm'))",
    accept_all: "#cc-main .cm [data-role=all]",
    refuse_all: "#cc-main .cm [data-role=necessary]",
    customise: "#cc-main .cm [data-role=show]",
    save: "#cc-main .pm [data-role=save]",
    holds: "CookieConsent.acceptedService('ID', 'CAT')",
};

/// A purpose of the tenant's policy.
struct Purpose {
    id: String,
    category: String,
    essential: bool,
}

fn purposes(policy: &Value) -> Vec<Purpose> {
    policy["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let essential = p["essential"] == true;
            Purpose {
                id: p["id"].as_str().unwrap().to_owned(),
                category: p["category"]
                    .as_str()
                    .unwrap_or(if essential { "essential" } else { "other" })
                    .to_owned(),
                essential,
            }
        })
        .collect()
}

/// What the choices must be: the essential purposes accepted, the others
/// as `accepted` says.
fn want(all: &[Purpose], accepted: &[&str]) -> BTreeMap<String, bool> {
    all.iter()
        .map(|p| {
            (
                p.id.clone(),
                p.essential || accepted.contains(&p.id.as_str()),
            )
        })
        .collect()
}

/// Sets one purpose in the banner's per-purpose choices (opened).
async fn set(ui: &Ui, page: &Page, p: &Purpose, on: bool) {
    let id = &p.id;
    match ui.name {
        "tarteaucitron" => {
            let button = if on { "Allowed" } else { "Denied" };
            page.click(&format!("#guichet_{id}{button}")).await;
        }
        "orejime" => {
            let input = format!("[data-testid=orejime-purpose-{id}]");
            if page
                .js(&format!("return document.querySelector('{input}').checked"))
                .await
                != on
            {
                page.click(&input).await;
            }
        }
        "klaro" => {
            let caret = format!("#purpose-item-{} ~ .cm-services .cm-caret a", p.category);
            if page
                .js(&format!(
                    "return document.querySelector('{caret}').getAttribute('aria-expanded')"
                ))
                .await
                == "false"
            {
                page.click(&caret).await;
            }
            if page
                .js(&format!(
                    "return document.getElementById('service-item-{id}').checked"
                ))
                .await
                != on
            {
                page.click(&format!("label[for=service-item-{id}]")).await;
            }
        }
        _ => {
            let section = format!("#cc-main .pm button[aria-controls={}-desc]", p.category);
            if page
                .js(&format!(
                    "return document.querySelector('{section}').getAttribute('aria-expanded')"
                ))
                .await
                == "false"
            {
                page.click(&section).await;
            }
            let input = format!(
                "#cc-main .pm input.section__toggle[data-category={}][value={id}]",
                p.category
            );
            if page
                .js(&format!("return document.querySelector('{input}').checked"))
                .await
                != on
            {
                page.click(&input).await;
            }
        }
    }
}

/// The purposes the banner holds accepted, as the page's own scripts see
/// them.
async fn held(ui: &Ui, page: &Page, all: &[Purpose]) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for p in all {
        let script = ui.holds.replace("ID", &p.id).replace("CAT", &p.category);
        let v = page.js(&format!("return !!({script})")).await;
        out.insert(p.id.clone(), p.essential || v == true);
    }
    out
}

/// The subject's last event is the decision `choices`, given under
/// `version`, with the receipt the page holds when it still has it.
async fn check_given(
    rig: &Rig,
    subject: &str,
    events: usize,
    choices: &BTreeMap<String, bool>,
    version: &str,
    gpc: bool,
) -> String {
    let event = rig.wait_events(subject, events).await.pop().unwrap();
    assert_eq!(event.event, "given");
    assert_eq!(&event.choices(), choices, "the stored choices");
    assert_eq!(event.policy_version, version);
    assert_eq!(event.gpc, gpc, "Sec-GPC recorded");
    let receipt = event.receipt.unwrap();
    let claims = rig.verify(&receipt).await;
    assert_eq!(claims["sub"], subject);
    assert_eq!(claims["jti"], event.id.as_str());
    assert_eq!(claims["tenant"], TENANT);
    assert_eq!(claims["choices"], json!(choices));
    assert_eq!(claims["gpc"], gpc);
    let current: Value = rig
        .get(&format!("/v1/tenants/{TENANT}/consents/{subject}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["consent_id"], event.id.as_str());
    event.id
}

/// A reload: consent.js restores the choice from Guichet into the banner,
/// which stays hidden, though the banner's own cookie is gone.
async fn reload_restores(
    ui: &Ui,
    page: &Page,
    url: &str,
    all: &[Purpose],
    choices: &BTreeMap<String, bool>,
) {
    page.client.delete_all_cookies().await.unwrap();
    page.goto(url).await;
    page.wait_status("restored").await;
    assert_eq!(
        page.js(&format!("return {}", ui.shown)).await,
        false,
        "no banner"
    );
    assert_eq!(
        &held(ui, page, all).await,
        choices,
        "the banner holds the choice"
    );
    let consent = page.js("return Guichet.consent()").await;
    assert_eq!(consent["choices"], json!(choices));
}

async fn exercise(ui: &Ui) {
    let mut rig = Rig::start(ui.port).await;
    let mut page = rig.browser(ui.name).await;
    let url = format!("{}/{}.html", rig.origin, ui.name);
    let policy: Value = rig
        .get(&format!("/v1/tenants/{TENANT}/consent-policy"))
        .await
        .json()
        .await
        .unwrap();
    let all = purposes(&policy);
    let optional: Vec<&str> = all
        .iter()
        .filter(|p| !p.essential)
        .map(|p| p.id.as_str())
        .collect();
    let purpose = |id: &str| all.iter().find(|p| p.id == id).unwrap();

    // A first visit: the banner asks; "accept all" is one decision.
    page.fresh(&url).await;
    page.wait_status("asking").await;
    page.wait_for(ui.shown).await;
    page.shot("asks").await;
    let subject = page.subject().await;
    assert_eq!(
        uuid::Uuid::parse_str(&subject).unwrap().get_version_num(),
        4
    );
    page.click(ui.accept_all).await;
    let everything = want(&all, &optional);
    let first = check_given(&rig, &subject, 1, &everything, "2026-01", false).await;
    page.wait_for(&format!(
        "G.status() === 'recorded' && G.consent().consent_id === '{first}'"
    ))
    .await;
    assert_eq!(
        page.js("return Guichet.receipt()").await,
        rig.events(&subject).await[0]
            .receipt
            .clone()
            .unwrap()
            .as_str()
    );
    rig.wait_posts(1).await;

    // The next visit: no banner, the choice restored from Guichet.
    reload_restores(ui, &page, &url, &all, &everything).await;
    page.shot("restored").await;

    // A change of mind, from the page's own button.
    page.click("#preferences").await;
    set(ui, &page, purpose("audience"), false).await;
    if ui.name != "tarteaucitron" {
        page.click(ui.save).await;
    }
    let changed = want(
        &all,
        &optional
            .iter()
            .copied()
            .filter(|id| *id != "audience")
            .collect::<Vec<_>>(),
    );
    check_given(&rig, &subject, 2, &changed, "2026-01", false).await;
    rig.wait_posts(2).await;
    reload_restores(ui, &page, &url, &all, &changed).await;

    // The banner's reset (the page's button) withdraws; the banner asks.
    // Once the page has the answer (until then a read may still see the
    // consent: the withdrawal is not done), none is in force.
    page.click("#withdraw").await;
    page.wait_status("withdrawn").await;
    let events = rig.wait_events(&subject, 3).await;
    assert_eq!(events[2].event, "withdrawn");
    let res = rig
        .get(&format!("/v1/tenants/{TENANT}/consents/{subject}"))
        .await;
    assert_eq!(res.status(), 404);
    page.wait_for(ui.shown).await;
    page.shot("withdrawn").await;

    // "Refuse all" (tarteaucitron reloads the page when it refuses what it
    // had started: the decision leaves with the page).
    page.click(ui.refuse_all).await;
    let nothing = want(&all, &[]);
    check_given(&rig, &subject, 4, &nothing, "2026-01", false).await;
    rig.wait_posts(3).await;
    reload_restores(ui, &page, &url, &all, &nothing).await;

    // A custom choice after Guichet's own withdrawal.
    page.js("Guichet.withdraw()").await;
    assert_eq!(rig.wait_events(&subject, 5).await[4].event, "withdrawn");
    page.wait_status("withdrawn").await;
    page.wait_for(ui.shown).await;
    page.click(ui.customise).await;
    set(ui, &page, purpose("audience"), true).await;
    set(ui, &page, purpose("linkedin"), true).await;
    page.shot("custom").await;
    page.click(ui.save).await;
    let custom = want(&all, &["audience", "linkedin"]);
    let last = check_given(&rig, &subject, 6, &custom, "2026-01", false).await;
    rig.wait_posts(4).await;
    reload_restores(ui, &page, &url, &all, &custom).await;

    // The visitor sees what to quote in a rights request.
    page.click("#receipt").await;
    page.wait_for("!!document.querySelector('dialog.guichet-receipt[open]')")
        .await;
    let shown = page
        .js("return document.querySelector('dialog.guichet-receipt').textContent")
        .await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains(&subject) && shown.contains(&last), "{shown}");
    let receipt = rig.events(&subject).await[5].receipt.clone().unwrap();
    assert!(shown.contains(&receipt), "the signed receipt is shown");
    page.shot("receipt").await;
    page.click("dialog.guichet-receipt form button").await;

    // The tenant's purposes change: a new policy version; the banner asks
    // again, and the new decision is recorded under it.
    rig.restart_with_policy("2026-02").await;
    page.goto(&url).await;
    page.wait_status("asking").await;
    page.wait_for(ui.shown).await;
    page.shot("new-policy").await;
    page.click(ui.accept_all).await;
    check_given(&rig, &subject, 7, &everything, "2026-02", false).await;
    rig.wait_posts(1).await;

    // A new visitor whose browser sends Global Privacy Control.
    page.gpc(true).await;
    page.fresh(&url).await;
    page.wait_status("asking").await;
    let visitor = page.subject().await;
    assert_ne!(visitor, subject);
    page.click(ui.accept_all).await;
    check_given(&rig, &visitor, 1, &everything, "2026-02", true).await;
    page.gpc(false).await;

    // The same page from an origin the tenant does not allow: CORS keeps
    // the script out (it is fetched in CORS mode, for its integrity), the
    // API too, and nothing is written.
    let before = rig.count_events().await;
    let foreign = format!("{}/{}.html", rig.foreign, ui.name);
    page.fresh(&foreign).await;
    page.wait_for("document.readyState === 'complete'").await;
    assert_eq!(page.js("return typeof window.Guichet").await, "undefined");
    let api = rig.url(&format!(
        "/v1/tenants/{TENANT}/consent-state?subject_id={visitor}"
    ));
    let answers = page
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             Promise.all([fetch(arguments[0]).then(r => r.status, e => e.name),\
                          fetch(arguments[0], {mode: 'no-cors'}).then(r => r.type, e => e.name)])\
               .then(done);",
            vec![json!(api)],
        )
        .await
        .unwrap();
    assert_eq!(
        answers,
        json!(["TypeError", "opaque"]),
        "refused by CORS, though reachable"
    );
    page.shot("foreign").await;
    assert_eq!(rig.count_events().await, before, "nothing is written");
    page.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn tarteaucitron_connected_by_one_tag() {
    exercise(&TARTEAUCITRON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn orejime_connected_by_one_tag() {
    exercise(&OREJIME).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn klaro_connected_by_one_tag() {
    exercise(&KLARO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium, chromedriver and npm ci in tests/banner; cargo test -- --include-ignored"]
async fn vanilla_cookieconsent_connected_by_one_tag() {
    exercise(&COOKIECONSENT).await;
}
