//! End to end in headless Chromium through WebDriver (chromedriver): a
//! citizen's erasure request with a PDF, the DPO's e-mail over real SMTP,
//! the console's sign-in, a request for an identity document, the upload
//! from the tracking page, the DPO told of it, the documents opened inline,
//! the identity decided, the closure, and what the citizen then sees; the
//! banner identifier the citizen names, and the DPO's export of it,
//! downloaded and then attached to an answer. With script on, the DPO's
//! message with its counter and its file, and the citizen downloading it.
//! A parent asking two rights at once for her child, and the DPO reading
//! the two requests linked, for whom they were made.
//! Screenshots of each step go to `target/screenshots/`.
//!
//! The browser runs with script disabled, as the pages must work without;
//! a second one, with script, shows a PDF inline (Chromium's PDF viewer
//! runs on script of its own; the document's sandbox allows none of its).
//! Heavy: ignored unless asked for (`cargo test -- --include-ignored`).
//! Needs `chromium` and `chromium-driver` (Debian); without them the test
//! fails as NOT RUN.
//!
//! (Over 400 lines: journeys through the pages, step after step, with the
//! few helpers that drive the browser and the files they upload; split, a
//! journey would be read in pieces.)

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::webdriver::{chromium_and_driver, chromium_args, screenshots_dir, Driver};
use crate::common::{create_staff, deliver, SmtpServer, TestApp, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use mail_parser::MessageParser;
use serde_json::json;

/// The identifier Sèvres's cookie banner gave the citizen's browser.
const SUBJECT: &str = "5d2e8f1a-7b3c-4e9d-a6f0-2c4b8e1d3a5f";

/// A one-page PDF, a blue page with a line of text, that a viewer shows.
pub(crate) fn blue_pdf() -> Vec<u8> {
    let content = b"0 0 1 rg 0 0 300 200 re f 1 1 1 rg BT /F1 24 Tf 40 90 Td (CARTE) Tj ET";
    let objects: [Vec<u8>; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R \
           /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(),
            content,
            b"\nendstream",
        ]
        .concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend(object);
        pdf.extend(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// A red PNG image, 120 × 80.
pub(crate) fn red_png() -> Vec<u8> {
    let (width, height) = (120u32, 80u32);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| [220u8, 0, 0]).collect();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// How many pixels of a screenshot are close to `rgb`.
fn pixels_like(screenshot: &[u8], rgb: [u8; 3]) -> usize {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(screenshot));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            p.len() >= 3 && (0..3).all(|i| (i32::from(p[i]) - i32::from(rgb[i])).abs() <= 24)
        })
        .count()
}

pub(crate) struct Browser {
    pub(crate) client: Client,
    shots: PathBuf,
    base: String,
    step: u32,
}

impl Browser {
    /// A browser with script off, as the pages must work without it.
    pub(crate) async fn open(driver: &Driver, chromium: &Path, profile: &Path, base: &str) -> Self {
        Self::open_with(driver, chromium, profile, base, false).await
    }

    pub(crate) async fn open_with(
        driver: &Driver,
        chromium: &Path,
        profile: &Path,
        base: &str,
        script: bool,
    ) -> Self {
        let mut args = chromium_args(profile);
        if !script {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&driver.url())
            .await
            .expect("a WebDriver session");
        let shots = screenshots_dir();
        Self {
            client,
            shots,
            base: base.to_owned(),
            step: 0,
        }
    }

    pub(crate) async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub(crate) async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.step)), png).unwrap();
    }

    pub(crate) async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Waits for an element of the next page and returns its text.
    pub(crate) async fn text_of(&self, css: &str) -> String {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Signs in to the console as `email`.
    pub(crate) async fn sign_in(&self, email: &str) {
        self.goto("/console/login").await;
        self.fill("f-email", email).await;
        self.fill("f-password", PASSWORD).await;
        self.click("form button[type=submit]").await;
        self.text_of("table.queue").await;
    }

    /// Waits until the window shows at least `n` pixels close to `rgb`,
    /// and keeps that screenshot as `name`.
    async fn shows(&mut self, name: &str, rgb: [u8; 3], n: usize) {
        let last = std::cell::RefCell::new(Vec::new());
        let client = &self.client;
        common::wait_until(
            &format!("{name}: {n} pixels like {rgb:?} on the screen"),
            std::time::Duration::from_secs(20),
            || {
                let last = &last;
                async move {
                    let png = client.screenshot().await.unwrap();
                    let found = pixels_like(&png, rgb);
                    *last.borrow_mut() = png;
                    found >= n
                }
            },
        )
        .await;
        self.step += 1;
        let file = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(file, last.into_inner()).unwrap();
    }

    pub(crate) async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }
}

/// The address in a link of an e-mail to `to`, from `marker` on, made
/// relative to the app (the e-mails carry the configured public address).
fn link_in_mail(smtp: &SmtpServer, to: &str, marker: &str) -> Option<String> {
    smtp.messages().iter().rev().find_map(|raw| {
        let m = MessageParser::default().parse(raw)?;
        let addressed = m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .is_some_and(|a| a == to);
        let text = m.body_text(0)?.into_owned();
        let start = text.find(marker).filter(|_| addressed)?;
        Some(
            text[start..]
                .split(|c: char| c.is_whitespace() || c == '>' || c == ')')
                .next()?
                .to_owned(),
        )
    })
}

/// Earlier requests, so that the queue has more than one line (and some
/// past their due date, in red).
async fn seed_queue(app: &TestApp) {
    let people = [
        (
            "access",
            "Camille",
            "Martin",
            "camille.martin@example.org",
            None,
        ),
        (
            "opposition",
            "Karim",
            "Benali",
            "karim.benali@example.org",
            Some("prospection"),
        ),
        (
            "rectification",
            "Léa",
            "Dubois",
            "lea.dubois@example.org",
            None,
        ),
    ];
    for (i, (kind, first, last, email, scope)) in people.into_iter().enumerate() {
        let mut form = reqwest::multipart::Form::new()
            .text("kind", kind)
            .text("first_name", first)
            .text("last_name", last)
            .text("email", email)
            .text(
                "details",
                "Demande déposée par courrier, saisie par l'accueil.",
            )
            .part(
                "id_document",
                reqwest::multipart::Part::bytes(blue_pdf()).file_name("cni.pdf"),
            );
        if let Some(scope) = scope {
            form = form.text("scope", scope);
        }
        let res = app
            .client
            .post(app.url("/v1/tenants/sevres/requests"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        // Visitors' cookie choices along the way, for the statistics.
        for n in 0..(4 + 3 * i) {
            let choices = json!({"audience": n % 3 != 0, "twitter": n % 4 == 0});
            let res = app
                .client
                .post(app.url("/v1/tenants/sevres/consents"))
                .json(&json!({"policy_version": "2026-01", "choices": choices}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        }
        app.clock
            .advance(chrono::Duration::days(if i == 0 { 12 } else { 9 }));
    }
    // The first two are now past their month.
    app.clock.advance(chrono::Duration::days(14));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium and chromedriver; cargo test -- --include-ignored"]
async fn a_citizen_and_the_dpo_see_an_erasure_request_through_in_a_browser() {
    let (chromium, chromedriver) = chromium_and_driver();
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    seed_queue(&app).await;
    deliver(&app).await;

    let files = tempfile::tempdir().unwrap();
    let pdf = files.path().join("carte-identite.pdf");
    std::fs::write(&pdf, blue_pdf()).unwrap();
    let image = files.path().join("carte-verso.png");
    std::fs::write(&image, red_png()).unwrap();
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::open(&driver, &chromium, profile.path(), &app.address).await;

    // Script is off in this browser: the pages must work without it.
    b.client
        .goto("data:text/html,<noscript><p id=off>no script</p></noscript>")
        .await
        .unwrap();
    assert_eq!(b.text_of("#off").await, "no script");

    // The citizen's browser chose its cookies on Sèvres's portal.
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(&json!({"subject_id": SUBJECT, "policy_version": "2026-01", "choices": {"audience": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // The citizen fills in the form.
    b.goto("/t/sevres/droits").await;
    assert!(b.text_of("h1").await.contains("Exercer vos droits"));
    b.shot("citizen-form").await;
    b.click("#f-kinds-erasure").await;
    b.fill("f-first_name", "Zoé").await;
    b.fill("f-last_name", "Lefèvre").await;
    b.fill("f-email", "zoe.lefevre@example.org").await;
    b.fill(
        "f-details",
        "Je souhaite l'effacement de mon compte sur le portail famille.",
    )
    .await;
    b.fill("f-subject_ids", SUBJECT).await;
    let upload = b.client.find(Locator::Id("f-id_document")).await.unwrap();
    upload.send_keys(&pdf.display().to_string()).await.unwrap();
    b.click("form button[type=submit]").await;
    let reference = b.text_of("#reference").await;
    assert!(reference.starts_with("DR-"), "{reference}");
    b.shot("citizen-confirmation").await;

    // The DPO is told by e-mail, and follows its link to the console.
    deliver(&app).await;
    let link = link_in_mail(&smtp, "dpo@ville-sevres.fr", "/console/requests/")
        .expect("the DPO's e-mail links to the request");
    b.goto(&link).await;
    b.text_of("#f-password").await;
    assert!(b.path().await.starts_with("/console/login?next="));
    b.fill("f-email", "dpo@ville-sevres.fr").await;
    b.fill("f-password", PASSWORD).await;
    b.shot("console-sign-in").await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.text_of("h1 .reference").await, reference);
    assert_eq!(b.path().await, link, "back to the e-mailed request");

    // The banner identifier is on the request; the export holds its consent.
    assert!(b.text_of("ul.subject-ids").await.contains(SUBJECT));
    let export = b
        .client
        .find(Locator::Id("action-export"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("the export link");
    let session = b.client.get_named_cookie("guichet_console").await.unwrap();
    let res = app
        .client
        .get(app.url(&export))
        .header("cookie", format!("guichet_console={}", session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let zip = res.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let consents: serde_json::Value =
        serde_json::from_reader(archive.by_name("consents.json").unwrap()).unwrap();
    assert_eq!(consents["events"][0]["subject_id"], SUBJECT);
    b.goto(&link).await;
    assert!(b.text_of("ol.timeline").await.contains("Données exportées"));

    b.goto("/console").await;
    let queue = b.text_of("table.queue").await;
    assert!(queue.contains(&reference) && queue.contains("Zoé Lefèvre"));
    let late = b.client.find_all(Locator::Css("tr.overdue")).await.unwrap();
    assert_eq!(late.len(), 2, "the overdue ones are marked");
    // The queue fits a smaller window (the README shows this one).
    b.client.set_window_size(1280, 760).await.unwrap();
    b.shot("console-queue").await;
    b.client.set_window_size(1280, 1500).await.unwrap();

    b.goto(&link).await;
    b.fill(
        "awaiting_identity-note",
        "La copie jointe est illisible : merci d'en déposer une nouvelle.",
    )
    .await;
    b.click("#action-ask-id").await;
    assert!(b.text_of(".success").await.contains("délai est suspendu"));
    assert_eq!(b.text_of("#status").await, "Pièce d'identité demandée");
    b.shot("console-identity-asked").await;

    // The citizen uploads the document from the e-mailed link.
    deliver(&app).await;
    let track = link_in_mail(&smtp, "zoe.lefevre@example.org", "/v1/requests/track/")
        .expect("the citizen's e-mail links to the request");
    b.goto(&track).await;
    assert_eq!(b.text_of("#status").await, "Pièce d'identité demandée");
    assert!(b.path().await.starts_with("/t/sevres/suivi/"));
    b.shot("citizen-tracking-upload").await;
    let upload = b.client.find(Locator::Id("f-id_document")).await.unwrap();
    upload
        .send_keys(&image.display().to_string())
        .await
        .unwrap();
    b.click("form button[type=submit]").await;
    assert!(b.text_of(".success").await.contains("bien été reçu"));
    // Not « Reçue » again, as if the request had started over.
    assert_eq!(
        b.text_of("#status").await,
        "De nouveau en cours d'instruction"
    );
    let resumed = b.text_of("#resumed").await;
    assert!(
        resumed.contains("Pièce d'identité reçue le")
            && resumed.contains("Réponse au plus tard le"),
        "{resumed}"
    );
    let tracking_page = b.path().await.replace("?document=ok", "");
    b.shot("citizen-uploaded").await;

    // The DPO is told by e-mail, and the queue marks the request.
    deliver(&app).await;
    let notice = smtp
        .messages()
        .iter()
        .filter_map(|raw| MessageParser::default().parse(raw))
        .filter(|m| {
            m.subject()
                .is_some_and(|s| s.contains("Pièce d'identité reçue"))
        })
        .count();
    assert_eq!(notice, 1, "the DPO's notice of the document");
    assert_eq!(
        link_in_mail(&smtp, "dpo@ville-sevres.fr", "/console/requests/").as_deref(),
        Some(link.as_str())
    );
    b.goto("/console").await;
    let flagged = b.text_of("tr .new-document").await;
    assert_eq!(flagged, "Nouvelle pièce");
    let flagged_rows = b
        .client
        .find_all(Locator::Css("tr .new-document"))
        .await
        .unwrap();
    assert_eq!(flagged_rows.len(), 1);
    b.shot("console-queue-new-document").await;

    b.goto(&link).await;
    assert_eq!(b.text_of("#status").await, "Reçue");
    assert!(b.text_of("#new-document").await.contains("Nouvelle pièce"));
    let documents = b
        .client
        .find_all(Locator::Css(".documents li"))
        .await
        .unwrap();
    assert_eq!(documents.len(), 2, "both documents listed");
    b.shot("console-new-document").await;

    // « Ouvrir » shows the image in a new tab, inline.
    let open = b
        .client
        .find(Locator::Css(".documents li:nth-child(2) a.open"))
        .await
        .unwrap();
    assert_eq!(
        open.attr("target").await.unwrap().as_deref(),
        Some("_blank")
    );
    let image_url = open.attr("href").await.unwrap().unwrap();
    assert!(image_url.ends_with("?disposition=inline"), "{image_url}");
    let console_tab = b.client.window().await.unwrap();
    open.click().await.unwrap();
    let tabs = b.client.windows().await.unwrap();
    assert_eq!(tabs.len(), 2, "a new tab");
    let new_tab = tabs.into_iter().find(|w| *w != console_tab).unwrap();
    b.client.switch_to_window(new_tab).await.unwrap();
    b.shows("console-document-inline-image", [220, 0, 0], 5000)
        .await;
    assert!(b.path().await.ends_with("?disposition=inline"));
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(console_tab).await.unwrap();
    let download = b
        .client
        .find(Locator::Css(".documents li:nth-child(2) a.download"))
        .await
        .unwrap();
    assert_eq!(
        download.attr("href").await.unwrap().as_deref(),
        image_url.strip_suffix("?disposition=inline")
    );
    let pdf_url = b
        .client
        .find(Locator::Css(".documents li:nth-child(1) a.open"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();

    // A PDF shows in Chromium's own viewer, which runs on script of its
    // own: a browser with script, signed in as the same DPO.
    let profile2 = tempfile::tempdir().unwrap();
    let mut viewer =
        Browser::open_with(&driver, &chromium, profile2.path(), &app.address, true).await;
    viewer.step = b.step;
    viewer.sign_in("dpo@ville-sevres.fr").await;
    viewer.goto(&pdf_url).await;
    viewer
        .shows("console-document-inline-pdf", [0, 0, 255], 5000)
        .await;
    b.step = viewer.step;
    viewer.client.close().await.unwrap();

    // The DPO decides on the identity, on the request's page.
    b.goto(&link).await;
    b.click("#identity-outcome-verified").await;
    b.click("#identity-method option[value=in_person]").await;
    b.fill("identity-note", "Carte présentée à l'accueil de la mairie.")
        .await;
    b.click("#action-identity").await;
    assert!(b
        .text_of(".success")
        .await
        .contains("La décision sur l'identité est enregistrée"));
    assert_eq!(b.text_of("#identity-outcome").await, "Identité vérifiée");
    assert!(b.text_of("#identity").await.contains("En personne"));
    b.shot("console-identity-decided").await;

    b.goto(&link).await;
    // The export goes to the citizen with the answer, in one action (the
    // message's text is the one the form proposes).
    b.click("#action-attach-export").await;
    assert!(b
        .text_of(".success")
        .await
        .contains("export en pièce jointe"));
    let timeline = b.text_of("ol.timeline").await;
    assert_eq!(
        timeline.matches("Données exportées").count(),
        2,
        "{timeline}"
    );

    // The DPO completes it.
    b.goto(&link).await;
    b.fill(
        "completed-note",
        "Votre compte et les données associées ont été effacés.",
    )
    .await;
    b.click("#action-complete").await;
    assert!(b.text_of(".success").await.contains("clôturée"));
    assert_eq!(b.text_of("#status").await, "Traitée");
    b.shot("console-completed").await;

    // The citizen's page shows it.
    b.goto(&tracking_page).await;
    assert_eq!(b.text_of("#status").await, "Traitée");
    let timeline = b.text_of("ol.timeline").await;
    assert!(timeline.contains("Pièce d'identité demandée") && timeline.contains("Traitée"));
    assert!(timeline.contains("Pièce d'identité reçue"), "{timeline}");
    b.shot("citizen-completed").await;

    deliver(&app).await;
    let to_citizen = smtp
        .messages()
        .iter()
        .filter_map(|raw| MessageParser::default().parse(raw))
        .filter(|m| {
            m.to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a == "zoe.lefevre@example.org")
        })
        .count();
    assert_eq!(
        to_citizen, 4,
        "acknowledged, asked for an ID, answered with the export, told it is done"
    );

    // The DPO's readings.
    b.goto("/console/stats").await;
    assert!(b.text_of("section.chart-box h2").await.len() > 1);
    b.shot("console-stats").await;
    b.goto("/console/audit").await;
    let audit = b.text_of("table.audit").await;
    assert!(audit.contains("Connexion réussie") && audit.contains("Demande : changement d'état"));
    assert!(audit.contains("Demande : données exportées") && audit.contains(&reference));
    b.shot("console-audit").await;
    b.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium and chromedriver; cargo test -- --include-ignored"]
async fn the_dpo_answers_with_a_file_and_the_citizen_downloads_it_in_a_browser() {
    let (chromium, chromedriver) = chromium_and_driver();
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let token = crate::common::pages::submit(&app, "sevres").await;
    let id = crate::common::pages::request_id(&app, &token).await;
    const CSV: &[u8] = b"date;site;consentement\n2026-03-01;sevres.fr;accepte\n";
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("extrait-consentements.csv");
    std::fs::write(&csv, CSV).unwrap();
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::open_with(&driver, &chromium, profile.path(), &app.address, true).await;

    b.goto(&format!("/console/requests/{id}")).await;
    b.text_of("#f-password").await;
    b.fill("f-email", "dpo@ville-sevres.fr").await;
    b.fill("f-password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.text_of("h1 .reference").await;

    // The counter follows what is typed, as the server counts it.
    assert_eq!(
        b.text_of("#message-body-count").await,
        "0 / 50\u{202f}000 caractères"
    );
    let text = "Bonjour,\nvoici l'extrait de vos consentements, à conserver.";
    b.fill("message-body", text).await;
    let counted = format!("{} / 50\u{202f}000 caractères", text.chars().count());
    assert_eq!(b.text_of("#message-body-count").await, counted);
    let attach = b
        .client
        .find(Locator::Id("message-attachment"))
        .await
        .unwrap();
    attach.send_keys(&csv.display().to_string()).await.unwrap();
    b.shot("console-message-typed").await;
    b.click("#action-message").await;
    assert!(b
        .text_of(".success")
        .await
        .contains("Le message est envoyé au demandeur."));
    let answers = b.text_of("#answers").await;
    assert!(
        answers.contains("voici l'extrait") && answers.contains("extrait-consentements.csv"),
        "{answers}"
    );
    b.shot("console-message-sent").await;

    // The citizen's tracking page shows it; the file downloads whole.
    b.goto(&format!("/t/sevres/suivi/{token}")).await;
    let answers = b.text_of("#answers").await;
    assert!(
        answers.contains("voici l'extrait de vos consentements"),
        "{answers}"
    );
    b.shot("citizen-answer").await;
    let href = b
        .client
        .find(Locator::Css("#answers a[download]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("the file's link");
    let res = app.client.get(app.url(&href)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), CSV);
    b.goto(&format!("/console/requests/{id}")).await;
    assert!(b
        .text_of("ol.timeline")
        .await
        .contains("Pièce jointe téléchargée par le demandeur"));
    b.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs chromium and chromedriver; cargo test -- --include-ignored"]
async fn a_parent_asks_two_rights_for_her_child_and_the_dpo_sees_them_linked_in_a_browser() {
    let (chromium, chromedriver) = chromium_and_driver();
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let files = tempfile::tempdir().unwrap();
    let pdf = files.path().join("carte-identite.pdf");
    std::fs::write(&pdf, blue_pdf()).unwrap();
    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::open(&driver, &chromium, profile.path(), &app.address).await;

    // Script off: the opposition's fields stay on screen, the rights are
    // plain checkboxes.
    b.goto("/t/sevres/droits").await;
    assert!(b
        .text_of("legend")
        .await
        .contains("Quels droits souhaitez-vous exercer ?"));
    b.click("#f-kinds").await;
    b.click("#f-kinds-erasure").await;
    b.fill("f-first_name", "Zoé").await;
    b.fill("f-last_name", "Lefèvre").await;
    b.fill("f-email", "zoe.lefevre@example.org").await;
    b.fill("f-on_behalf_of.first_name", "Louise").await;
    b.fill("f-on_behalf_of.last_name", "Lefèvre").await;
    b.click("[id='f-on_behalf_of.relation'] option[value=parent]")
        .await;
    b.fill(
        "f-details",
        "Les données de ma fille sur le portail famille : une copie, puis leur effacement.",
    )
    .await;
    let upload = b.client.find(Locator::Id("f-id_document")).await.unwrap();
    upload.send_keys(&pdf.display().to_string()).await.unwrap();
    b.shot("case-citizen-form").await;
    b.click("form button[type=submit]").await;

    // Both references, one per right, and the document said received.
    let table = b.text_of("table.case").await;
    assert!(
        table.contains("Droit d'accès") && table.contains("Droit à l'effacement"),
        "{table}"
    );
    let mut shown = Vec::new();
    for cell in b
        .client
        .find_all(Locator::Css("table.case .reference"))
        .await
        .unwrap()
    {
        shown.push(cell.text().await.unwrap());
    }
    let token = b.path().await.rsplit('/').next().unwrap().to_owned();
    let case = crate::common::pages::case_of(&app, &token).await;
    let references: Vec<String> = case.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(shown, references);
    assert!(b
        .text_of("#identity")
        .await
        .contains("Votre pièce d'identité a bien été reçue"));
    b.shot("case-citizen-confirmation").await;

    // The DPO: each row says there is one more, and opens the request.
    b.sign_in("dpo@ville-sevres.fr").await;
    let others = b.client.find_all(Locator::Css("a.others")).await.unwrap();
    assert_eq!(others.len(), 2);
    assert_eq!(others[0].text().await.unwrap(), "+1 autre demande");
    b.shot("case-console-queue").await;
    b.goto(&format!("/console/requests/{}", case[0].0)).await;
    assert_eq!(b.text_of("h1 .reference").await, references[0]);
    let linked = b.text_of("#case").await;
    assert!(
        linked.contains("Demandes liées") && linked.contains(&references[1]),
        "{linked}"
    );
    assert_eq!(b.text_of("#on-behalf").await, "Louise Lefèvre (parent)");
    let page = b.text_of("dl.facts").await;
    assert!(
        page.contains("Pour le compte de") && page.contains("Reçue en ligne"),
        "{page}"
    );
    assert!(b
        .text_of(".documents li")
        .await
        .starts_with("Pièce d'identité carte-identite.pdf"));
    b.shot("case-console-request").await;

    // The linked request, one click away, links back.
    b.click(&format!("#case a[href='/console/requests/{}']", case[1].0))
        .await;
    b.client
        .wait()
        .for_url(
            &url::Url::parse(&format!("{}/console/requests/{}", app.address, case[1].0)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(b.text_of("h1 .reference").await, references[1]);
    assert!(b.text_of("#case").await.contains(&references[0]));

    // The person's requests, from the request's own link.
    b.click("#same-person-queue").await;
    assert!(b
        .text_of("#same-person-filter")
        .await
        .contains("Demandes de la même personne"));
    let rows = b
        .client
        .find_all(Locator::Css("table.queue tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    b.shot("case-console-same-person").await;
    b.client.close().await.unwrap();
}
