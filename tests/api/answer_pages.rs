//! The DPO's answers through the pages, over plain HTTP as a browser
//! without JavaScript sends them: the console's multipart forms with their
//! files and CSRF token, a refusal shown again with its summary and the
//! text kept, the answers listed with their files' SHA-256; the citizen's
//! tracking page delivering them, byte for byte, journaled.

use reqwest::multipart::{Form, Part};
use sha2::{Digest, Sha256};

use crate::common;
use crate::common::pages::*;
use crate::common::{create_staff, SmtpServer, PASSWORD};

const CSV: &[u8] = b"date;site;consentement\n2026-03-01;sevres.fr;accepte\n";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A console form as the page sends it: its CSRF token first (when given),
/// its text fields, then its files.
fn answer_form(csrf: Option<&str>, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> Form {
    let mut form = Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrf", csrf.to_owned());
    }
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (name, bytes) in files {
        form = form.part(
            "attachment",
            Part::bytes(bytes.to_vec()).file_name(name.to_string()),
        );
    }
    // The file input left empty, as a browser sends it.
    if files.is_empty() {
        form = form.part("attachment", Part::bytes(Vec::new()).file_name(""));
    }
    form
}

async fn post_answer(
    app: &common::TestApp,
    cookie: &str,
    path: &str,
    form: Form,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The answers kept for a request: (kind, body).
async fn kept(app: &common::TestApp, id: &str) -> Vec<(String, Option<String>)> {
    let id = id.to_owned();
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use guichet::db::schema::request_messages as messages;
            Ok(messages::table
                .filter(messages::request_id.eq(&id))
                .order(messages::id)
                .select((messages::kind, messages::body))
                .load(conn)?)
        })
        .await
        .unwrap()
}

/// The first `href` of the page that starts with `prefix`.
fn link(html: &str, prefix: &str) -> String {
    let marker = format!("href=\"{prefix}");
    let start = html.find(&marker).expect("the link") + "href=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A request of `sevres` received, and a DPO signed in to the console.
async fn received(app: &common::TestApp) -> (String, String, Console) {
    create_staff(app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let token = submit(app, "sevres").await;
    let id = request_id(app, &token).await;
    let console = sign_in(app, "dpo@ville-sevres.fr").await;
    (token, id, console)
}

#[tokio::test]
async fn the_console_sends_a_message_with_its_files_as_a_multipart_form() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let (_, id, console) = received(&app).await;
    let page_path = format!("/console/requests/{id}");
    let html = page_of(console_get(&app, &console.cookie, &page_path).await).await;
    // The form of the message: multipart, files, a counter, no cut.
    let action = format!("action=\"/console/requests/{id}/message\" class=\"action answer\" enctype=\"multipart/form-data\"");
    assert!(html.contains(&action), "{html}");
    assert!(html.contains("name=\"attachment\" multiple"));
    assert!(!html.contains("maxlength=\"5000\""), "no silent cut");
    assert!(html.contains("0 / 50\u{202f}000 caractères"), "the counter");
    assert!(html.contains("data-max=\"50000\""));
    assert!(html.contains("<script src=\"/assets/console.js\" defer></script>"));
    let script = app.get("/assets/console.js").await;
    assert_eq!(script.status(), 200);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&script, "x-content-type-options"), "nosniff");
    assert!(script.text().await.unwrap().contains("data-counter"));

    // Without this session's token, nothing is kept.
    let path = format!("/console/requests/{id}/message");
    let text = "Madame,\r\nVoici l'extrait de vos consentements.";
    let files: &[(&str, &[u8])] = &[("extrait.csv", CSV)];
    let res = post_answer(
        &app,
        &console.cookie,
        &path,
        answer_form(None, &[("body", text)], files),
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = post_answer(
        &app,
        &console.cookie,
        &path,
        answer_form(Some("forged"), &[("body", text)], files),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(kept(&app, &id).await.is_empty(), "nothing kept");

    let res = post_answer(
        &app,
        &console.cookie,
        &path,
        answer_form(Some(&console.csrf), &[("body", text)], files),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    assert_eq!(
        header(&res, "location"),
        format!("/console/requests/{id}?done=message")
    );
    // Kept with its line break as the counter counts it.
    assert_eq!(
        kept(&app, &id).await,
        vec![(
            "message".to_owned(),
            Some("Madame,\nVoici l'extrait de vos consentements.".to_owned())
        )]
    );

    // The page lists it: its text, its file with size and SHA-256.
    let html = page_of(console_get(&app, &console.cookie, &page_path).await).await;
    assert!(html.contains("Réponses envoyées au demandeur"));
    assert!(html.contains("Voici l&#x27;extrait de vos consentements."));
    assert!(html.contains("extrait.csv"));
    assert!(html.contains(&sha256_hex(CSV)));
    assert!(html.contains("par <span class=\"actor\">dpo@ville-sevres.fr</span>"));
    let opened = html.matches("Document ouvert").count();
    let url = link(&html, &format!("/console/requests/{id}/attachments/"));
    let res = console_get(&app, &console.cookie, &url).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-disposition").starts_with("attachment"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), CSV, "byte for byte");
    // The opening is journaled.
    let html = page_of(console_get(&app, &console.cookie, &page_path).await).await;
    assert_eq!(html.matches("Document ouvert").count(), opened + 1);

    // A closing note carries its files too.
    let path = format!("/console/requests/{id}/transition");
    let res = post_answer(
        &app,
        &console.cookie,
        &path,
        answer_form(
            Some(&console.csrf),
            &[("to", "completed"), ("note", "Votre compte est effacé.")],
            &[("attestation.pdf", PDF)],
        ),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    assert_eq!(status_of(&app, &id).await, "completed");
    let html = page_of(console_get(&app, &console.cookie, &page_path).await).await;
    assert!(html.contains("Note de clôture") && html.contains("attestation.pdf"));
    assert!(html.contains(&sha256_hex(PDF)));
}

#[tokio::test]
async fn a_refused_answer_comes_back_with_its_summary_its_errors_and_its_text() {
    let app = common::spawn_app_with(
        |s| {
            s.requests.max_attachments = 2;
            s.requests.max_attachment_bytes = 4096;
        },
        |_| {},
    )
    .await;
    let (_, id, console) = received(&app).await;
    let path = format!("/console/requests/{id}/message");
    let send = |text: String, files: Vec<(&'static str, Vec<u8>)>| {
        let (app, console, path) = (&app, &console, &path);
        async move {
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
            post_answer(
                app,
                &console.cookie,
                path,
                answer_form(Some(&console.csrf), &[("body", &text)], &files),
            )
            .await
        }
    };

    // Too long: refused, never cut; the summary links to the field.
    let long = format!("{}FIN-DU-TEXTE", "é".repeat(50_000));
    let res = send(long.clone(), vec![("extrait.csv", CSV.to_vec())]).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("class=\"error-summary\" role=\"alert\" tabindex=\"-1\" autofocus"));
    assert!(
        html.contains("<a href=\"#message-body\">Message : Ce texte dépasse 50000 caractères.</a>"),
        "{html}"
    );
    assert!(html.contains("id=\"message-body-error\""));
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(
        html.contains(&format!(">{long}</textarea>")),
        "the text kept"
    );
    assert!(
        html.contains("50\u{202f}012 / 50\u{202f}000 caractères")
            || html.contains("50012 / 50\u{202f}000 caractères")
    );
    assert!(html.contains("joignez-les à nouveau"));
    assert!(kept(&app, &id).await.is_empty(), "nothing kept");

    let text = "Voici les pièces demandées.".to_owned();
    // Too many files.
    let three = vec![
        ("a.csv", CSV.to_vec()),
        ("b.csv", CSV.to_vec()),
        ("c.csv", CSV.to_vec()),
    ];
    let res = send(text.clone(), three).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains(
        "<a href=\"#message-attachment\">Pièces jointes : Joignez au plus 2 fichiers.</a>"
    ));
    assert!(html.contains("id=\"message-attachment-error\""));
    assert!(html.contains(&format!(">{}</textarea>", text.replace('\'', "&#x27;"))));
    // A web page.
    let page = b"<!DOCTYPE html><html><body>x</body></html>".to_vec();
    let res = send(text.clone(), vec![("lettre.html", page)]).await;
    assert_eq!(res.status(), 415);
    let html = page_of(res).await;
    assert!(html.contains("#message-attachment"));
    assert!(html.contains("un programme ou une page web"));
    assert!(html.contains("Voici les pièces demandées."));
    // Too large.
    let res = send(text.clone(), vec![("gros.csv", vec![b'x'; 5000])]).await;
    assert_eq!(res.status(), 413);
    let html = page_of(res).await;
    assert!(html.contains("Un des fichiers dépasse la taille permise."));
    assert!(html.contains("Voici les pièces demandées."));
    assert!(kept(&app, &id).await.is_empty(), "nothing kept");

    // In English, the same.
    let res = app
        .client
        .post(app.url(&format!("{path}?lang=en")))
        .header("cookie", &console.cookie)
        .multipart(answer_form(
            Some(&console.csrf),
            &[("body", "")],
            &[("a.csv", CSV), ("b.csv", CSV), ("c.csv", CSV)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("Attach at most 2 files."), "{html}");
}

#[tokio::test]
async fn the_tracking_page_delivers_the_answers_and_says_when_the_clock_is_paused() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let (token, id, console) = received(&app).await;
    let tracking = format!("/t/sevres/suivi/{token}");
    let html = page_of(app.get(&tracking).await).await;
    assert!(!html.contains("Délai suspendu"), "the clock runs");
    assert!(html.contains("id=\"due\">"));
    assert!(!html.contains("id=\"answers\""), "no answer yet");

    // An identity document asked for, with its reason: the clock stops.
    let res = post_answer(
        &app,
        &console.cookie,
        &format!("/console/requests/{id}/transition"),
        answer_form(
            Some(&console.csrf),
            &[
                ("to", "awaiting_identity"),
                ("note", "Copie illisible :\r\nmerci d'en envoyer une nette."),
            ],
            &[],
        ),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let html = page_of(app.get(&tracking).await).await;
    assert!(html.contains(
        "id=\"due\"><strong>Délai suspendu en attente de votre pièce d&#x27;identité</strong>"
    ));
    assert!(html.contains(
        "id=\"identity-reason\">Copie illisible :\nmerci d&#x27;en envoyer une nette.</p>"
    ));
    let html = page_of(app.get(&format!("{tracking}?lang=en")).await).await;
    assert!(html.contains("Deadline suspended until your identity document arrives"));

    // A message with a file, its markup shown as text, its lines kept.
    let res = post_answer(
        &app,
        &console.cookie,
        &format!("/console/requests/{id}/message"),
        answer_form(
            Some(&console.csrf),
            &[("body", "Bonjour,\r\n<b>voici</b> l'extrait.")],
            &[("extrait consentements.csv", CSV)],
        ),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let res = app.get(&format!("{tracking}?lang=fr")).await;
    assert_eq!(header(&res, "referrer-policy"), "no-referrer");
    let html = page_of(res).await;
    assert!(html.contains("Réponses à votre demande"));
    assert!(
        html.contains("<p class=\"pre\">Bonjour,\n&lt;b&gt;voici&lt;/b&gt; l&#x27;extrait.</p>"),
        "{html}"
    );
    assert!(html.contains("extrait consentements.csv</a> (1 Kio)"));
    let url = link(&html, &format!("{tracking}/pieces-jointes/"));

    // Another tenant's address, or another request's token, opens nothing.
    let attachment_id = url.rsplit('/').next().unwrap().to_owned();
    let other = submit(&app, "sevres").await;
    for path in [
        format!("/t/dunkerque/suivi/{token}/pieces-jointes/{attachment_id}"),
        format!("/t/sevres/suivi/{other}/pieces-jointes/{attachment_id}"),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert!(header(&res, "content-type").starts_with("text/html"));
    }

    let res = app.get(&url).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-disposition").starts_with("attachment"));
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(header(&res, "referrer-policy"), "no-referrer");
    assert_eq!(res.bytes().await.unwrap().as_ref(), CSV, "byte for byte");

    // The download is on the timeline, where the DPO sees it.
    let html =
        page_of(console_get(&app, &console.cookie, &format!("/console/requests/{id}")).await).await;
    assert!(html.contains("Pièce jointe téléchargée par le demandeur"));
    assert!(html.contains("extrait consentements.csv"));
    let detail = app
        .client
        .get(app.url(&format!("/v1/requests/track/{token}")))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(detail["messages"].as_array().unwrap().len(), 1);
    // The log names routes, never the token.
    assert!(!common::logs::logs().contains(&token));
}
