//! A letter received at the town hall, typed in by the DPO in headless
//! Chromium (script off, as the pages must work without it): from the
//! queue to the form, two rights asked for, no e-mail address, the scanned
//! letter attached; on to the request's page with its linked request and
//! its letters, and the acknowledgement of receipt ready to print with the
//! town hall's postal address. Screenshots of each step go to
//! `target/screenshots/`.
//!
//! Heavy: ignored unless asked for (`cargo test -- --include-ignored`).
//! Needs `chromium` and `chromium-driver`; without them the test fails as
//! NOT RUN.

use crate::common;

use crate::browser::{blue_pdf, Browser};
use crate::common::pages::submit;
use crate::common::webdriver::{chromium_and_driver, Driver};
use crate::common::{create_staff, deliver, SmtpServer, PASSWORD};
use diesel::prelude::*;
use fantoccini::Locator;
use guichet::db::schema::rights_requests as requests;

const SEVRES_DPO: &str = "dpo@ville-sevres.fr";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium and chromedriver; cargo test -- --include-ignored"]
async fn the_dpo_enters_a_letter_received_by_post_and_prints_its_acknowledgement_in_a_browser() {
    let (chromium, chromedriver) = chromium_and_driver();
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let address = app
        .state
        .tenants
        .get("sevres")
        .unwrap()
        .config
        .postal_address
        .clone();
    create_staff(&app, Some("sevres"), SEVRES_DPO, "dpo", PASSWORD).await;
    // A request from the web already waits in the queue.
    submit(&app, "sevres").await;
    deliver(&app).await;
    let before = smtp.messages().len();

    let files = tempfile::tempdir().unwrap();
    let scan = files.path().join("courrier-recu-en-mairie.pdf");
    std::fs::write(&scan, blue_pdf()).unwrap();
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::open(&driver, &chromium, profile.path(), &app.address).await;

    // From the queue to the form.
    b.sign_in(SEVRES_DPO).await;
    b.shot("intake-queue").await;
    b.click("#new-request").await;
    assert_eq!(
        b.text_of("h1").await,
        "Saisir une demande reçue par courrier, au guichet ou par téléphone"
    );
    assert_eq!(b.path().await, "/console/requests/new");
    b.shot("intake-form").await;

    // A letter received five days before the service's clock (2 March).
    b.click("#f-channel option[value=post]").await;
    let date = b.client.find(Locator::Id("f-received_date")).await.unwrap();
    assert_eq!(
        date.prop("value").await.unwrap().as_deref(),
        Some("2026-03-02")
    );
    // Typed as the date control takes it: its order of day and month
    // follows the browser's locale, which headless Chromium may not take
    // from `--lang`.
    for keys in ["25022026", "02252026"] {
        date.clear().await.unwrap();
        date.send_keys(keys).await.unwrap();
        if date.prop("value").await.unwrap().as_deref() == Some("2026-02-25") {
            break;
        }
    }
    assert_eq!(
        date.prop("value").await.unwrap().as_deref(),
        Some("2026-02-25")
    );
    b.click("#f-kinds").await;
    b.click("#f-kinds-erasure").await;
    b.fill("f-first_name", "Camille").await;
    b.fill("f-last_name", "Benali").await;
    b.fill("f-postal_address", "12 rue de la Paix\n92310 Sèvres")
        .await;
    b.fill(
        "f-details",
        "Lettre reçue en mairie : une copie de mes données, puis leur effacement.",
    )
    .await;
    let letter = b.client.find(Locator::Id("f-letter")).await.unwrap();
    letter.send_keys(&scan.display().to_string()).await.unwrap();
    b.shot("intake-form-filled").await;
    b.click("#entry-submit").await;

    // The request's page: the first of its case, the other named, the
    // letters offered since there is no e-mail address.
    let reference = b.text_of("h1 .reference").await;
    assert!(reference.starts_with("DR-"), "{reference}");
    let path = b.path().await;
    assert!(path.starts_with("/console/requests/"), "{path}");
    let references: Vec<String> = app
        .state
        .db
        .run(|conn| {
            Ok(requests::table
                .filter(requests::channel.eq(guichet::rights::arrival::Channel::Post))
                .order(requests::id.asc())
                .select(requests::reference)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(references.len(), 2);
    assert_eq!(references[0], reference);
    let other = &references[1];
    let page = b.text_of("main").await;
    assert!(
        page.contains("Demandes liées") || page.contains(other.as_str()),
        "the other request of the case: {page}"
    );
    assert!(b
        .text_of("#letters-no-email")
        .await
        .contains("Pas d'adresse électronique : imprimez les courriers"));
    assert!(
        page.contains("courrier-recu-en-mairie.pdf"),
        "the scanned letter"
    );
    b.shot("intake-request-page").await;

    // The acknowledgement of receipt, ready to print.
    b.click("#letter-acknowledgement").await;
    let sheet = b.text_of("#letter").await;
    assert!(sheet.contains(address.as_str()), "{sheet}");
    assert!(sheet.contains(&reference) && sheet.contains(other.as_str()));
    assert!(
        sheet.contains("25 février 2026"),
        "the day of receipt: {sheet}"
    );
    assert!(sheet.contains("25 mars 2026"), "a month later: {sheet}");
    assert!(sheet.contains("CNIL"));
    let window = b.text_of("#letter-recipient").await;
    assert!(window.contains("Camille Benali") && window.contains("92310 Sèvres"));
    b.shot("intake-acknowledgement-letter").await;

    // Back to the request; nothing was e-mailed.
    b.click(".letter-bar a").await;
    assert_eq!(b.text_of("h1 .reference").await, reference);
    deliver(&app).await;
    assert_eq!(
        smtp.messages().len(),
        before,
        "no e-mail for a postal request"
    );
    b.client.close().await.unwrap();
}
