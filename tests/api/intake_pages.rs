//! The console's page for a request received by post, at the counter or
//! by telephone, and the letters printed for a requester without e-mail,
//! over plain HTTP with a signed-in session: the entry recorded and on to
//! its page, nothing e-mailed; a bad day of receipt said beside its field
//! with what was typed kept, nothing stored; the acknowledgement's legal
//! mentions; the letters closed to another tenant's DPO.
//!
//! (Over 400 lines: the console's entry of a request step by step, its
//! refusals, and its printed letters, one test each.)

use crate::common;

use crate::common::pages::*;
use crate::common::{create_staff, deliver, SmtpServer, TestApp, PASSWORD};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use guichet::db::schema::{
    mail_outbox as outbox, request_documents as docs, rights_requests as requests,
};
use guichet::rights::arrival::Channel;
use guichet::rights::lifecycle::Kind;
use reqwest::multipart::{Form, Part};

const SEVRES_DPO: &str = "dpo@ville-sevres.fr";

/// What the DPO types from a letter received on `date`: two rights, no
/// e-mail address, the scanned letter.
fn letter_received(date: &str) -> Vec<(&'static str, String)> {
    [
        ("channel", "post"),
        ("received_date", date),
        ("received_time", ""),
        ("kinds", "access"),
        ("kinds", "erasure"),
        ("first_name", "Camille"),
        ("last_name", "Benali"),
        ("email", ""),
        ("postal_address", "12 rue de la Paix\n92310 Sèvres"),
        (
            "details",
            "Lettre reçue en mairie : copie puis effacement. SECRET-DETAILS",
        ),
        ("on_behalf_of.first_name", ""),
        ("on_behalf_of.last_name", ""),
        ("on_behalf_of.relation", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// Posts the entry form as a browser does: the session's token first, the
/// fields, then the file inputs (the scanned letter, the others empty).
async fn post_entry(
    app: &TestApp,
    console: &Console,
    csrf: Option<&str>,
    fields: &[(&'static str, String)],
) -> reqwest::Response {
    let mut form = Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrf", csrf.to_owned());
    }
    for (k, v) in fields {
        form = form.text(*k, v.clone());
    }
    let empty = || Part::bytes(Vec::new()).file_name("");
    let scan = Part::bytes(PDF.to_vec())
        .file_name("courrier.pdf")
        .mime_str("application/pdf")
        .unwrap();
    form = form
        .part("mandate", empty())
        .part("letter", scan)
        .part("id_document", empty());
    app.client
        .post(app.url("/console/requests/new"))
        .header("cookie", &console.cookie)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// A request's letter, printed by `console`.
async fn letter_of(app: &TestApp, console: &Console, id: &str, letter: &str) -> String {
    let path = format!("/console/requests/{id}/letters/{letter}");
    let res = console_get(app, &console.cookie, &path).await;
    assert_eq!(res.status(), 200, "{path}");
    page_of(res).await
}

/// Sèvres's postal address, as configured: its letters carry it.
fn sevres_address(app: &TestApp) -> String {
    app.state
        .tenants
        .get("sevres")
        .unwrap()
        .config
        .postal_address
        .clone()
}

async fn stored(app: &TestApp) -> (i64, i64) {
    app.state
        .db
        .run(|conn| {
            Ok((
                requests::table.count().get_result(conn)?,
                docs::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_letter_received_by_post_is_entered_through_the_console_and_its_letters_print() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let address = sevres_address(&app);
    create_staff(&app, Some("sevres"), SEVRES_DPO, "dpo", PASSWORD).await;
    let console = sign_in(&app, SEVRES_DPO).await;

    // The queue leads to the form, received today by post; a DPO serves
    // one tenant and is not asked which.
    let queue = page_of(console_get(&app, &console.cookie, "/console").await).await;
    assert!(queue.contains("href=\"/console/requests/new\""), "{queue}");
    assert!(queue.contains("Saisir une demande reçue…"));
    let res = console_get(&app, &console.cookie, "/console/requests/new").await;
    assert_eq!(res.status(), 200);
    let form = page_of(res).await;
    assert!(form.contains("Saisir une demande reçue par courrier, au guichet ou par téléphone"));
    assert!(form.contains("name=\"received_date\" value=\"2026-03-02\""));
    assert!(form.contains("<option value=\"post\" selected>"));
    assert!(!form.contains("name=\"tenant\""));
    assert!(
        form.contains("facultative"),
        "the e-mail is optional, and says so"
    );

    // Received ten days before the service's clock (2 March 2026).
    let res = post_entry(
        &app,
        &console,
        Some(&console.csrf),
        &letter_received("2026-02-20"),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let location = header(&res, "location");
    let id = location
        .strip_prefix("/console/requests/")
        .expect("the request's page")
        .to_owned();

    // Two requests of one case, by post, from the day of receipt in Paris,
    // without e-mail; the request shown is the first of them.
    type Row = (String, String, Channel, Option<String>, NaiveDateTime, Kind);
    let rows: Vec<Row> = app
        .state
        .db
        .run(|conn| {
            Ok(requests::table
                .order(requests::id.asc())
                .select((
                    requests::id,
                    requests::reference,
                    requests::channel,
                    requests::email,
                    requests::received_at,
                    requests::kind,
                ))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, id);
    assert_eq!((rows[0].5, rows[1].5), (Kind::Access, Kind::Erasure));
    for row in &rows {
        assert_eq!((row.2, row.3.as_deref()), (Channel::Post, None));
        assert_eq!(row.4.and_utc().to_rfc3339(), "2026-02-19T23:00:00+00:00");
    }
    let (reference, other) = (rows[0].1.clone(), rows[1].1.clone());

    // Its page says how it came and offers the letters, prominently.
    let res = console_get(&app, &console.cookie, &location).await;
    assert_eq!(res.status(), 200);
    let page = page_of(res).await;
    assert!(page.contains(&reference));
    assert!(
        page.contains("<dd id=\"channel\">Reçue par courrier</dd>"),
        "{page}"
    );
    assert!(page.contains("Pas d&#x27;adresse électronique : imprimez les courriers"));
    for letter in ["acknowledgement", "identity", "answer"] {
        assert!(page.contains(&format!("href=\"/console/requests/{id}/letters/{letter}\"")));
    }
    assert!(page.contains("Camille") && page.contains("12 rue de la Paix"));
    assert!(!page.contains("ont été effacées"), "not taken for erased");
    assert!(
        page.contains("le demandeur n&#x27;est pas prévenu : imprimez la réponse")
            && !page.contains("Le demandeur est prévenu par e-mail."),
        "closing it tells no one: the answer is printed"
    );

    // Nothing was e-mailed: neither to the requester, who has no address,
    // nor to the DPO, who typed it.
    deliver(&app).await;
    assert!(smtp.messages().is_empty());
    let queued: i64 = app
        .state
        .db
        .run(|conn| Ok(outbox::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(queued, 0);

    // The acknowledgement of receipt, with CRPA L112-11's mentions.
    let url = format!("/console/requests/{id}/letters/acknowledgement");
    let res = console_get(&app, &console.cookie, &url).await;
    assert_eq!(header(&res, "content-security-policy"), CSP);
    let letter = letter_of(&app, &console, &id, "acknowledgement").await;
    assert!(letter.contains(address.as_str()), "{letter}");
    assert!(letter.contains(&reference) && letter.contains(&other));
    assert!(letter.contains("Nous avons bien reçu, le 20 février 2026"));
    // One month after the day of receipt.
    assert!(letter.contains("<dd id=\"letter-due\">20 mars 2026</dd>"));
    assert!(letter.contains("CNIL") && letter.contains("https://www.cnil.fr/fr/plaintes"));
    assert!(letter.contains("Camille Benali"));
    assert!(letter.contains("12 rue de la Paix\n92310 Sèvres"));
    assert!(letter.contains("dpo@ville-sevres.fr"));
    assert!(letter.contains("Le 2 mars 2026"), "dated today");
    assert!(
        !letter.contains("class=\"console-nav\""),
        "no console chrome"
    );

    // The request for an identity document, and the answer once given.
    let letter = letter_of(&app, &console, &id, "identity").await;
    assert!(letter.contains("article 12, paragraphe 6"));
    assert!(letter.contains("suspendu jusqu&#x27;à la réception"));
    assert!(
        letter.contains("Elle sera conservée pendant "),
        "the tenant's period"
    );
    assert!(letter.contains(address.as_str()));
    let res = console_post(
        &app,
        &console.cookie,
        &format!("/console/requests/{id}/transition"),
        &[("to", "in_progress"), ("csrf", console.csrf.as_str())],
    )
    .await;
    assert_eq!(res.status(), 303);
    let close = Form::new()
        .text("csrf", console.csrf.clone())
        .text("to", "completed")
        .text("note", "Veuillez trouver ci-joint la copie de vos données.");
    let res = app
        .client
        .post(app.url(&format!("/console/requests/{id}/transition")))
        .header("cookie", &console.cookie)
        .multipart(close)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let letter = letter_of(&app, &console, &id, "answer").await;
    assert!(letter.contains("Veuillez trouver ci-joint la copie de vos données."));
    assert!(letter.contains("Votre demande a été traitée le 2 mars 2026."));
    assert!(letter.contains("https://www.cnil.fr/fr/plaintes"));
    assert!(!letter.contains("id=\"letter-no-answer\""));
    deliver(&app).await;
    assert!(smtp.messages().is_empty(), "still nothing e-mailed");
}

#[tokio::test]
async fn a_bad_day_of_receipt_is_said_beside_its_field_and_nothing_is_stored() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), SEVRES_DPO, "dpo", PASSWORD).await;
    let console = sign_in(&app, SEVRES_DPO).await;

    let mut fields = letter_received("31/02/2026");
    fields.retain(|(k, v)| !(*k == "kinds" && v == "access"));
    let res = post_entry(&app, &console, Some(&console.csrf), &fields).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"f-received_date-error\""), "{html}");
    assert!(html.contains("Saisissez une date valide, par exemple 25/02/2026."));
    assert!(html.contains("aria-describedby=\"f-received_date-hint f-received_date-error\""));
    assert!(html.contains("href=\"#f-received_date\""), "in the summary");
    // What was typed is kept; the files are to be chosen again.
    assert!(html.contains("name=\"received_date\" value=\"31/02/2026\""));
    assert!(html.contains("name=\"first_name\" value=\"Camille\""));
    assert!(html.contains("12 rue de la Paix\n92310 Sèvres</textarea>"));
    assert!(html.contains("value=\"erasure\" checked"));
    assert!(!html.contains("value=\"access\" checked"));
    assert!(html.contains("<option value=\"post\" selected>"));
    assert!(html.contains("choisissez-les à nouveau"));
    assert_eq!(stored(&app).await, (0, 0), "nothing stored");

    // A day in the future, or too long ago; no right ticked: each said.
    let mut fields = letter_received("2026-03-05");
    fields.retain(|(k, _)| *k != "kinds");
    let res = post_entry(&app, &console, Some(&console.csrf), &fields).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("La date de réception ne peut pas être dans le futur."));
    assert!(html.contains("id=\"f-kinds-error\""));
    assert!(html.contains("Cochez au moins un droit."));
    let res = post_entry(
        &app,
        &console,
        Some(&console.csrf),
        &letter_received("2025-11-20"),
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(page_of(res)
        .await
        .contains("La date de réception doit dater de moins de trois mois."));
    // Under a mandate, the mandate is required.
    let mut fields = letter_received("2026-02-20");
    for (k, v) in fields.iter_mut() {
        match *k {
            "on_behalf_of.first_name" => *v = "Léon".into(),
            "on_behalf_of.last_name" => *v = "Benali".into(),
            "on_behalf_of.relation" => *v = "mandate".into(),
            _ => {}
        }
    }
    let res = post_entry(&app, &console, Some(&console.csrf), &fields).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"f-mandate-error\""));
    assert!(html.contains("<option value=\"mandate\" selected>"));
    assert!(html.contains("name=\"on_behalf_of.first_name\" value=\"Léon\""));
    assert_eq!(stored(&app).await, (0, 0));

    // A field the form does not have is named, and nothing stored.
    let mut fields = letter_received("2026-02-20");
    fields.push(("subject", "x".into()));
    let res = post_entry(&app, &console, Some(&console.csrf), &fields).await;
    assert_eq!(res.status(), 422);
    assert!(page_of(res)
        .await
        .contains("subject : is not a field of this form"));
    assert_eq!(stored(&app).await, (0, 0));

    // A form without the session's token records nothing, says nothing.
    let res = post_entry(&app, &console, None, &letter_received("2026-02-20")).await;
    assert_eq!(res.status(), 403);
    assert!(!page_of(res).await.contains("Camille"));
    let res = post_entry(
        &app,
        &console,
        Some("forged"),
        &letter_received("2026-02-20"),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(stored(&app).await, (0, 0));
}

#[tokio::test]
async fn an_admin_chooses_the_tenant_and_letters_stay_within_it() {
    let app = common::spawn_app().await;
    let address = sevres_address(&app);
    create_staff(&app, Some("sevres"), SEVRES_DPO, "dpo", PASSWORD).await;
    create_staff(&app, Some("dunkerque"), "dpo@cud.fr", "dpo", PASSWORD).await;
    create_staff(&app, None, "admin@guichet.example", "admin", PASSWORD).await;
    let admin = sign_in(&app, "admin@guichet.example").await;

    let form = page_of(console_get(&app, &admin.cookie, "/console/requests/new").await).await;
    assert!(form.contains("<select id=\"f-tenant\" name=\"tenant\">"));
    assert!(form.contains("<option value=\"sevres\">"));
    let res = post_entry(
        &app,
        &admin,
        Some(&admin.csrf),
        &letter_received("2026-02-20"),
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"f-tenant-error\""), "{html}");
    assert_eq!(stored(&app).await, (0, 0));
    // Val Parisis does not offer portability: said beside the rights.
    let mut fields = letter_received("2026-02-20");
    fields.push(("tenant", "valparisis".into()));
    fields.push(("kinds", "portability".into()));
    let res = post_entry(&app, &admin, Some(&admin.csrf), &fields).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"f-kinds-error\""), "{html}");
    assert!(html.contains("n&#x27;offre pas l&#x27;un des droits cochés"));
    assert_eq!(stored(&app).await, (0, 0));
    let mut fields = letter_received("2026-02-20");
    fields.push(("tenant", "sevres".into()));
    let res = post_entry(&app, &admin, Some(&admin.csrf), &fields).await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let location = header(&res, "location");
    let letter = format!("{location}/letters/acknowledgement");

    // A DPO is offered only the rights their tenant offers.
    create_staff(
        &app,
        Some("valparisis"),
        "dpo@valparisis.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    let valparisis = sign_in(&app, "dpo@valparisis.fr").await;
    let form = page_of(console_get(&app, &valparisis.cookie, "/console/requests/new").await).await;
    assert!(form.contains("value=\"erasure\""));
    assert!(!form.contains("value=\"portability\""));

    // Sèvres's DPO prints it; Dunkerque's is told it does not exist.
    let sevres = sign_in(&app, SEVRES_DPO).await;
    let res = console_get(&app, &sevres.cookie, &letter).await;
    assert_eq!(res.status(), 200);
    assert!(page_of(res).await.contains(address.as_str()));
    let dunkerque = sign_in(&app, "dpo@cud.fr").await;
    for path in [
        letter.clone(),
        format!("{location}/letters/answer"),
        location.clone(),
    ] {
        let res = console_get(&app, &dunkerque.cookie, &path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert!(header(&res, "content-type").starts_with("text/html"));
        let html = page_of(res).await;
        assert!(!html.contains("Camille") && !html.contains(address.as_str()));
    }
    // A letter that does not exist, and no session at all.
    let res = console_get(&app, &sevres.cookie, &format!("{location}/letters/menace")).await;
    assert_eq!(res.status(), 404);
    let res = console_get(&app, "", &letter).await;
    assert_eq!(res.status(), 303);
    assert!(header(&res, "location").starts_with("/console/login"));
}
