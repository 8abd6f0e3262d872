//! Every citizen and console page through axe-core (npm, `tests/axe/`,
//! installed by `.ci/run` with `npm ci`) in headless Chromium, at a
//! phone's width (375 px) and a desktop's (1280 px), with data on every
//! page: the form (and its errors), the confirmation, the tracking page of
//! two rights with its upload box and an answer with a file, a closed
//! request, the accessibility statement, the error pages; the console's
//! sign-in (and its error), queue, request pages, entry form (and its
//! errors), letters, statistics, annual report, retention sweeps and
//! audit log, as the DPO, as a referent and as an admin; through a real
//! OpenID Connect provider (`tests/oidc/`), FranceConnect on the form
//! (offered, then identified) and the sign-in offering the staff's
//! provider. axe runs
//! its default rules (WCAG 2 A and AA, best practices) and must find no
//! violation; at 375 px nothing may be wider than the window, 360 px
//! inside its scrollbar (no sideways scrolling, WCAG 1.4.10; a table may
//! scroll in a box of its own), the tracking page's upload box included. Screenshots go to `target/screenshots/axe-*.png`.
//!
//! axe is injected through WebDriver (the pages' Content-Security-Policy
//! allows no script but their own), so this browser runs with script on;
//! the other browser tests check that the pages work without.
//!
//! Heavy: ignored unless asked for (`cargo test -- --include-ignored`).
//! Needs `chromium`, `chromium-driver`, `tests/axe/node_modules` and
//! `tests/oidc/node_modules` (`npm ci` there); without them the test fails as NOT RUN.

mod checks;

use checks::{axe_source, send, visit, Checker, Step};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::browser::{red_png, Browser};
use crate::common::oidc::{franceconnect_app, staff_app, Behaviour};
use crate::common::pages::{request_id, submit, submit_with, TWO_RIGHTS_FOR_A_CHILD};
use crate::common::webdriver::{chromium_and_driver, screenshots_dir, Driver};
use crate::common::{self, create_staff, deliver, login, post, SmtpServer, TestApp, PASSWORD};

const DPO: &str = "dpo@ville-sevres.fr";
const REFERENT: &str = "etat-civil@ville-sevres.fr";
const ADMIN: &str = "admin@guichet.example";

/// What the pages show: requests in every state a page presents
/// differently, an answer with a file, consents, a retention sweep.
struct Seeded {
    /// The tracking token of two rights asked at once, an identity
    /// document asked for, and an answer with a file.
    waiting: String,
    waiting_id: String,
    /// The tracking token of a request completed.
    closed: String,
    closed_id: String,
    /// A letter received by post, no e-mail address, an identity
    /// document asked for.
    postal_id: String,
}

/// The DPO moves request `id` along its life cycle.
async fn moves(app: &TestApp, token: &str, id: &str, body: Value) {
    let path = format!("/v1/dpo/requests/{id}/transitions");
    let res = post(app, token, &path, body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn seed(app: &TestApp) -> Seeded {
    create_staff(app, Some("sevres"), DPO, "dpo", PASSWORD).await;
    create_staff(app, Some("sevres"), REFERENT, "referent", PASSWORD).await;
    create_staff(app, None, ADMIN, "admin", PASSWORD).await;
    let mut token = login(app, DPO, PASSWORD).await;
    let tenant = app.state.tenants.get("sevres").unwrap();
    let policy = tenant.config.consent.policy_version.clone();
    for n in 0..6 {
        let res = app
            .client
            .post(app.url("/v1/tenants/sevres/consents"))
            .json(&json!({"policy_version": policy, "choices": {"audience": n % 2 == 0}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    // A request answered and closed, over a month ago.
    let closed = submit(app, "sevres").await;
    let closed_id = request_id(app, &closed).await;
    let done = json!({"to": "completed", "note": "Votre compte famille a été effacé."});
    moves(app, &token, &closed_id, done).await;

    // A letter received by post, typed in; an identity document asked for
    // on paper.
    let res = post(
        app,
        &token,
        "/v1/dpo/requests",
        json!({
            "channel": "post",
            "received_at": "2026-02-25T10:00:00Z",
            "kinds": ["access", "erasure"],
            "first_name": "Camille",
            "last_name": "Benali",
            "postal_address": "12 rue de la Paix\n92310 Sèvres",
            "details": "Lettre reçue en mairie : une copie de mes données, puis leur effacement.",
        }),
    )
    .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{body}");
    let postal_id = body["id"].as_str().unwrap().to_owned();
    let ask = json!({"to": "awaiting_identity", "note": "Merci de joindre la copie d'une pièce d'identité."});
    moves(app, &token, &postal_id, ask).await;
    app.clock.advance(chrono::Duration::days(12));
    token = login(app, DPO, PASSWORD).await;

    // Two rights for a child; an identity document asked for, an answer
    // with a file.
    let waiting = submit_with(app, "sevres", TWO_RIGHTS_FOR_A_CHILD, 1).await;
    let waiting_id = request_id(app, &waiting).await;
    let ask = json!({"to": "awaiting_identity", "note": "La copie jointe est illisible : merci d'en déposer une nouvelle."});
    moves(app, &token, &waiting_id, ask).await;
    let form = Form::new()
        .text(
            "body",
            "Bonjour,\nvoici l'extrait de vos consentements, à conserver.",
        )
        .part(
            "attachment",
            Part::bytes(b"date;consentement\n2026-03-01;accepte\n".to_vec())
                .file_name("extrait-consentements.csv"),
        );
    let res = app
        .client
        .post(app.url(&format!("/v1/dpo/requests/{waiting_id}/messages")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    // Both assigned to a service's referent, with a note; the referent
    // answers one, the other's due date passes.
    let due = (app.clock.now() + chrono::Duration::days(3)).to_rfc3339();
    for id in [&waiting_id, &postal_id] {
        let path = format!("/v1/dpo/requests/{id}/assignments");
        let note = "Merci de vérifier le dossier au service de l'état civil.";
        let body = json!({"referent_email": REFERENT, "due_at": due, "note": note});
        let res = post(app, &token, &path, body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let referent = login(app, REFERENT, PASSWORD).await;
    let path = format!("/v1/dpo/requests/{postal_id}/notes");
    let body = json!({"body": "Dossier vérifié : acte de naissance retrouvé."});
    let res = post(app, &referent, &path, body).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    // More in the queue, some past their month.
    for _ in 0..3 {
        submit(app, "sevres").await;
        app.clock.advance(chrono::Duration::days(9));
    }
    app.clock.advance(chrono::Duration::days(14));
    // A retention sweep, for its page.
    common::sweep_with(app, app.clock.now(), false, None).await;
    deliver(app).await;
    Seeded {
        waiting,
        waiting_id,
        closed,
        closed_id,
        postal_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium, chromedriver and tests/axe; cargo test -- --include-ignored"]
async fn every_page_passes_axe_at_a_phone_and_a_desktop_width() {
    let (chromium, chromedriver) = chromium_and_driver();
    let axe = axe_source();
    let smtp = SmtpServer::start();
    // Sèvres with a logo, besides its accent colour.
    let logos = tempfile::tempdir().unwrap();
    let logo = logos.path().join("sevres.png");
    std::fs::write(&logo, red_png()).unwrap();
    let app = common::spawn_app_with_smtp(&smtp, |s| {
        s.tenants.get_mut("sevres").unwrap().theme.logo = Some(logo);
    })
    .await;
    let s = seed(&app).await;

    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let b = Browser::open_with(&driver, &chromium, profile.path(), &app.address, true).await;
    let mut c = Checker {
        b,
        axe,
        shots: screenshots_dir(),
        failures: Vec::new(),
        pages: 0,
    };

    // The citizen's pages; the form of every tenant.
    let mut slugs: Vec<String> = app.state.tenants.iter().map(|t| t.slug.clone()).collect();
    slugs.sort();
    let mut citizen: Vec<Step> = slugs
        .iter()
        .map(|slug| visit(format!("/t/{slug}/droits"), &format!("citizen-form-{slug}")))
        .collect();
    citizen.extend([
        visit("/t/sevres/droits", "citizen-form"),
        send("form button[type=submit]", "citizen-form-errors"),
        visit(
            format!("/t/sevres/droits/confirmation/{}", s.closed),
            "citizen-confirmation",
        ),
        visit(
            format!("/t/sevres/droits/confirmation/{}", s.waiting),
            "citizen-confirmation-two-rights",
        ),
        visit(
            format!("/t/sevres/suivi/{}", s.waiting),
            "citizen-tracking-upload",
        ),
        send(
            "section.action button[type=submit]",
            "citizen-tracking-upload-error",
        ),
        visit(
            format!("/t/sevres/suivi/{}", s.closed),
            "citizen-tracking-closed",
        ),
        visit("/t/sevres/accessibilite", "citizen-accessibility"),
        visit("/t/sevres/nulle-part", "citizen-not-found"),
        visit("/t/nulle-part/droits", "citizen-unknown-tenant"),
        // The console's sign-in, refused.
        visit("/console/login", "console-login"),
    ]);
    for step in citizen {
        c.step(step).await;
    }
    c.b.fill("f-email", DPO).await;
    c.b.fill("f-password", "not the password").await;
    c.step(send("form button[type=submit]", "console-login-error"))
        .await;

    // The console, as the DPO.
    let request = |id: &str| format!("/console/requests/{id}");
    let mut console = vec![
        visit("/console", "console-queue"),
        visit("/console?status=rejected", "console-queue-empty"),
        visit(
            format!("/console?same_person_as={}", s.waiting_id),
            "console-queue-same-person",
        ),
        visit("/console/requests/new", "console-entry"),
        send("#entry-submit", "console-entry-errors"),
        visit(request(&s.waiting_id), "console-request-waiting"),
        send("#action-reject", "console-request-errors"),
        visit(request(&s.closed_id), "console-request-closed"),
        visit(request(&s.postal_id), "console-request-postal"),
    ];
    console.extend(["acknowledgement", "identity", "answer"].map(|letter| {
        visit(
            format!("{}/letters/{letter}", request(&s.postal_id)),
            &format!("console-letter-{letter}"),
        )
    }));
    console.extend([
        visit("/console/stats", "console-stats"),
        visit("/console/reports", "console-reports"),
        visit("/console/reports?from=2026-02-30", "console-reports-errors"),
        visit("/console/retention", "console-retention"),
        visit("/console/audit", "console-audit"),
        visit("/console/nulle-part", "console-not-found"),
    ]);
    c.signed_in(DPO, console).await;

    // A service's referent: its queue, a request assigned to it.
    let referent = vec![
        visit("/console", "console-referent-queue"),
        visit(request(&s.waiting_id), "console-referent-request"),
    ];
    c.signed_in(REFERENT, referent).await;

    // An admin, who sees every tenant; then the English version.
    let admin = vec![
        visit("/console", "console-admin-queue"),
        visit("/console/requests/new", "console-admin-entry"),
        visit("/console/reports", "console-admin-reports"),
        visit("/console?lang=en", "console-queue-en"),
        visit(request(&s.waiting_id), "console-request-en"),
        visit(
            format!("/t/sevres/suivi/{}", s.waiting),
            "citizen-tracking-en",
        ),
    ];
    c.signed_in(ADMIN, admin).await;
    c.b.client.close().await.unwrap();

    assert!(
        c.failures.is_empty(),
        "{} pages checked; what axe and the widths found:\n{}",
        c.pages,
        c.failures.join("\n")
    );
}

/// FranceConnect on the citizen's form, offered and then identified, and
/// the console's sign-in offering the staff's identity provider, each
/// through a real provider (`tests/oidc/`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium, npm ci in tests/axe and tests/oidc; cargo test -- --include-ignored"]
async fn the_identity_providers_pages_pass_axe() {
    let (chromium, chromedriver) = chromium_and_driver();
    let axe = axe_source();
    let (app, _franceconnect) = franceconnect_app(Behaviour::default(), "sevres").await;
    let (staff, _provider) = staff_app(Behaviour::default(), |_| {}).await;
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let b = Browser::open_with(&driver, &chromium, profile.path(), &app.address, true).await;
    let mut c = Checker {
        b,
        axe,
        shots: screenshots_dir(),
        failures: Vec::new(),
        pages: 0,
    };
    c.step(visit("/t/sevres/droits", "franceconnect-offered"))
        .await;
    c.b.click("a.fr-connect").await;
    c.b.text_of("#login").await;
    c.b.click("#continue").await;
    c.b.text_of("#franceconnect-identity").await;
    c.step(Step::Here("franceconnect-identified".into())).await;
    c.b.client.goto(&staff.url("/console/login")).await.unwrap();
    c.b.text_of("#oidc-login").await;
    c.step(Step::Here("console-login-oidc".into())).await;
    c.b.client.close().await.unwrap();
    assert!(
        c.failures.is_empty(),
        "{} pages checked; what axe and the widths found:\n{}",
        c.pages,
        c.failures.join("\n")
    );
}
