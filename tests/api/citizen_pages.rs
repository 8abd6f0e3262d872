//! The citizen's pages over plain HTTP, as a browser without JavaScript
//! gets them: the strict CSP and security headers, every right explained,
//! errors beside their fields with the input kept, the reference and the
//! tracking page.
//!
//! (Over 400 lines: one self-contained test per behaviour of the citizen's
//! pages, sharing `common::pages`.)

use crate::common;

use crate::common::pages::*;
use crate::common::SmtpServer;
use reqwest::multipart::{Form, Part};

#[tokio::test]
async fn the_form_names_the_tenant_and_explains_every_right_under_a_strict_policy() {
    let app = common::spawn_app().await;
    let res = app.get("/t/sevres/droits").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&res, "content-security-policy"), CSP);
    assert_eq!(header(&res, "x-frame-options"), "DENY");
    assert_eq!(header(&res, "referrer-policy"), "no-referrer");
    let html = page_of(res).await;
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains("Ville de Sèvres"), "the tenant's name");
    assert!(html.contains("mailto:"), "the DPO's contact");
    for label in [
        "Droit d'accès",
        "Droit de rectification",
        "Droit à l'effacement",
        "Droit à la limitation du traitement",
        "Droit d'opposition",
        "Droit à la portabilité",
        "Pourquoi une pièce d'identité ?",
        "un mois",
    ] {
        assert!(html.contains(&label.replace('\'', "&#x27;")), "{label}");
    }
    assert!(html.contains("enctype=\"multipart/form-data\""));
    assert_eq!(
        html.matches("type=\"file\"").count(),
        3,
        "one or two identity documents, and a mandate"
    );
    assert!(html.contains("Quels droits souhaitez-vous exercer ?"));
    assert_eq!(
        html.matches("type=\"checkbox\" name=\"kinds\"").count(),
        6,
        "each right may be ticked"
    );
    // Val Parisis does not offer portability: its form does not either.
    let other = page_of(app.get("/t/valparisis/droits").await).await;
    assert_eq!(
        other.matches("type=\"checkbox\" name=\"kinds\"").count(),
        5,
        "five rights offered"
    );
    assert!(
        !other.contains("value=\"portability\""),
        "portability not offered"
    );
    assert!(html.contains("Vous agissez pour le compte d&#x27;une autre personne ?"));
    assert!(html.contains("<select id=\"f-on_behalf_of.relation\" name=\"on_behalf_of.relation\">"));
    for relation in [
        "Mandataire",
        "Parent d&#x27;un enfant mineur",
        "Tuteur ou curateur",
    ] {
        assert!(html.contains(relation), "{relation}");
    }
    assert!(html.contains("Mandat signé ou justificatif de l&#x27;autorité parentale ou de la tutelle ; obligatoire pour un mandat"));
    assert!(html.contains("name=\"mandate\" accept=\"application/pdf,image/jpeg,image/png\" aria-describedby=\"f-mandate-hint\""));
    assert!(!html.contains("<script"), "no script at all");
    assert!(
        !html.contains("style="),
        "no inline style, as the CSP wants"
    );
    for attr in ["src=\"http", "href=\"//", "src=\"//"] {
        assert!(!html.contains(attr), "no third-party resource ({attr})");
    }
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/assets/guichet.css\">"));
    let css = app.get("/assets/guichet.css").await;
    assert_eq!(css.status(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));

    let res = app.get("/t/sevres/droits?lang=en").await;
    let cookie = set_cookie(&res, "guichet_lang").expect("the language is remembered");
    assert!(cookie.contains("guichet_lang=en"));
    let html = page_of(res).await;
    assert!(html.contains("<html lang=\"en\">") && html.contains("Right of access"));

    let res = app.get("/t/atlantis/droits").await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "content-security-policy"), CSP);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert!(page_of(res).await.contains("Page introuvable"));
}

#[tokio::test]
async fn validation_errors_are_shown_beside_their_fields_with_the_input_kept() {
    let app = common::spawn_app().await;
    let fields = [
        ("kinds", "opposition"),
        ("scope", "processing"),
        ("first_name", "Zoé"),
        ("last_name", ""),
        ("email", "zoe@"),
        (
            "details",
            "Je m'oppose à l'usage de mes données <b>vraiment</b>.",
        ),
    ];
    let res = app
        .client
        .post(app.url("/t/sevres/droits"))
        .multipart(citizen_form(&fields, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(header(&res, "content-security-policy"), CSP);
    let html = page_of(res).await;
    assert!(html.contains("role=\"alert\""), "an error summary");
    assert!(
        html.contains("<a href=\"#f-email\">"),
        "the summary links to the field"
    );
    assert!(html.contains("aria-describedby=\"f-email-hint f-email-error\" aria-invalid=\"true\""));
    assert!(html.contains("id=\"f-email-error\""));
    assert!(html.contains("Saisissez une adresse e-mail valide"));
    assert!(html.contains("id=\"f-last_name-error\""));
    assert!(
        html.contains("id=\"f-grounds-error\""),
        "grounds for an opposition"
    );
    assert!(
        html.contains("id=\"f-id_document-error\""),
        "the tenant wants an ID"
    );
    assert!(html.contains("value=\"Zoé\""), "the input is kept");
    assert!(html.contains("value=\"zoe@\""));
    assert!(html.contains("value=\"opposition\" aria-describedby=\"kind-opposition-help\" checked"));
    assert!(
        html.contains("&lt;b&gt;vraiment&lt;/b&gt;"),
        "kept and escaped"
    );
    assert!(!html.contains("<b>vraiment</b>"));

    // The opposition's fields, filled in for another kind, do not count.
    let fields = [
        ("kinds", "access"),
        ("scope", "prospection"),
        ("grounds", "sans objet"),
        ("first_name", "Zoé"),
        ("last_name", "Lefèvre"),
        ("email", "zoe@example.org"),
        ("details", "Copie de mes données"),
    ];
    let res = app
        .client
        .post(app.url("/t/sevres/droits"))
        .multipart(citizen_form(&fields, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // A document that is not one: beside the document field.
    let form = Form::new()
        .text("kinds", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", "zoe@example.org")
        .text("details", "Copie de mes données")
        .part(
            "id_document",
            Part::bytes(b"<html>not an id</html>".to_vec()).file_name("cni.pdf"),
        );
    let res = app
        .client
        .post(app.url("/t/sevres/droits"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"f-id_document-error\""));
    assert!(html.contains("n&#x27;est pas un PDF"));
    assert!(html.contains("value=\"zoe@example.org\""));
}

#[tokio::test]
async fn without_a_document_the_confirmation_says_one_may_be_asked() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let res = post_citizen_form(&app, "valparisis", ERASURE, 0).await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let location = header(&res, "location");
    let html = page_of(app.get(&location).await).await;
    assert!(html.contains("Votre demande a bien été envoyée"), "{html}");
    assert!(
        html.contains("S&#x27;il a besoin d&#x27;une pièce d&#x27;identité"),
        "{html}"
    );
    assert!(!html.contains("a bien été reçue"), "{html}");
}

#[tokio::test]
async fn a_submission_leads_to_its_reference_and_its_tracking_page() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let token = submit(&app, "sevres").await;
    let res = app
        .get(&format!("/t/sevres/droits/confirmation/{token}"))
        .await;
    assert_eq!(res.status(), 200);
    let html = page_of(res).await;
    assert!(html.contains("Votre demande a bien été envoyée"));
    assert!(html.contains("<strong id=\"reference\">DR-"));
    assert!(html.contains("2 avril 2026"), "the due date");
    assert!(html.contains(&format!("href=\"/t/sevres/suivi/{token}\"")));
    // The document just sent is said received, not that one may be asked.
    assert!(
        html.contains("Votre pièce d&#x27;identité a bien été reçue"),
        "{html}"
    );
    assert!(!html.contains("S&#x27;il a besoin d&#x27;une pièce d&#x27;identité"));

    let res = app.get(&format!("/t/sevres/suivi/{token}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-security-policy"), CSP);
    let html = page_of(res).await;
    assert!(html.contains("Reçue"));
    assert!(html.contains("<ol class=\"timeline\">"));
    assert!(
        !html.contains("type=\"file\""),
        "no upload until one is asked"
    );
    assert!(!html.contains("zoe@example.org"), "no personal data");
    assert!(
        !common::logs().contains("zoe@example.org"),
        "nor in the logs"
    );
    assert!(!common::logs().contains(&token), "nor the tracking token");

    // The tracking page is the tenant's only.
    let res = app.get(&format!("/t/dunkerque/suivi/{token}")).await;
    assert_eq!(res.status(), 404);
    // The e-mailed address opens the page in a browser, JSON otherwise.
    let res = app
        .client
        .get(app.url(&format!("/v1/requests/track/{token}")))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), format!("/t/sevres/suivi/{token}"));
    let res = app.get(&format!("/v1/requests/track/{token}")).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("application/json"));

    // No document is awaited yet: the page says so.
    let form = Form::new().part(
        "id_document",
        Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
    );
    let res = app
        .client
        .post(app.url(&format!("/t/sevres/suivi/{token}/document")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert!(page_of(res)
        .await
        .contains("Aucun document n&#x27;est attendu"));
}

/// The requests of the form's submissions, for nothing half stored.
async fn stored(app: &common::TestApp) -> i64 {
    use diesel::prelude::*;
    use guichet::db::schema::rights_requests as requests;
    app.state
        .db
        .run(|conn| Ok(requests::table.count().get_result::<i64>(conn)?))
        .await
        .unwrap()
}

#[tokio::test]
async fn two_rights_ticked_are_two_references_on_the_confirmation_and_the_tracking_page() {
    let app = common::spawn_app().await;
    let res = post_citizen_form(&app, "sevres", TWO_RIGHTS_FOR_A_CHILD, 1).await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let location = header(&res, "location");
    let token = location
        .strip_prefix("/t/sevres/droits/confirmation/")
        .expect("the confirmation")
        .to_owned();
    let tracked: serde_json::Value = app
        .get(&format!("/v1/requests/track/{token}"))
        .await
        .json()
        .await
        .unwrap();
    let references: Vec<String> = tracked["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(references.len(), 2, "{tracked}");

    let html = page_of(app.get(&location).await).await;
    assert!(
        html.contains("Vos demandes ont bien été envoyées"),
        "{html}"
    );
    assert_eq!(
        case_references(&html),
        references,
        "both, in the order ticked"
    );
    for words in [
        "Droit d&#x27;accès",
        "Droit à l&#x27;effacement",
        "Reçue",
        "2 avril 2026",
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
    // The one document serves both: said received, not that one may be asked.
    assert!(
        html.contains("Votre pièce d&#x27;identité a bien été reçue"),
        "{html}"
    );
    assert!(!html.contains("S&#x27;il a besoin d&#x27;une pièce d&#x27;identité"));
    assert!(html.contains("Suivre mes demandes"));
    assert!(!html.contains("Louise"), "no one's name on the page");

    // The tracking page follows the first in detail, and lists both.
    let html = page_of(app.get(&format!("/t/sevres/suivi/{token}")).await).await;
    assert!(html.contains("Vos demandes envoyées ensemble"), "{html}");
    assert_eq!(case_references(&html), references);
    assert!(html.contains(&format!("{}</span> (cette page)", references[0])));

    // One request alone lists none.
    let res = post_citizen_form(&app, "valparisis", ERASURE, 0).await;
    let html = page_of(app.get(&header(&res, "location")).await).await;
    assert!(html.contains("Votre demande a bien été envoyée"));
    assert!(case_references(&html).is_empty(), "{html}");
}

#[tokio::test]
async fn a_mandate_missing_is_told_beside_its_field_with_every_box_still_ticked() {
    let app = common::spawn_app().await;
    let mut fields = TWO_RIGHTS_FOR_A_CHILD.to_vec();
    fields.retain(|(k, _)| *k != "on_behalf_of.relation");
    fields.push(("on_behalf_of.relation", "mandate"));
    let res = post_citizen_form(&app, "sevres", &fields, 1).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("<a href=\"#f-mandate\">"), "in the summary");
    let beside = error_beside(&html, "mandate").expect("an error beside the mandate");
    assert!(beside.starts_with("Joignez le mandat signé"), "{beside}");
    assert!(
        html.contains("aria-describedby=\"f-mandate-hint f-mandate-error\" aria-invalid=\"true\"")
    );
    assert_eq!(error_beside(&html, "id_document"), None, "the ID was sent");
    // Kept: the boxes ticked, the names, the relation chosen.
    assert!(html
        .contains("id=\"f-kinds\" value=\"access\" aria-describedby=\"kind-access-help\" checked"));
    assert!(html.contains("value=\"erasure\" aria-describedby=\"kind-erasure-help\" checked"));
    assert!(!html
        .contains("value=\"rectification\" aria-describedby=\"kind-rectification-help\" checked"));
    assert!(html.contains("name=\"on_behalf_of.first_name\" value=\"Louise\""));
    assert!(html.contains("<option value=\"mandate\" selected>"));
    assert!(html.contains("joignez à nouveau votre pièce d&#x27;identité"));
    assert_eq!(stored(&app).await, 0, "nothing half stored");

    // No right ticked, an unknown relation: each beside its own field, at
    // once; a mandate that is not a PDF is refused beside the mandate.
    let mut fields = TWO_RIGHTS_FOR_A_CHILD.to_vec();
    fields.retain(|(k, _)| *k != "kinds" && *k != "on_behalf_of.relation");
    fields.push(("on_behalf_of.relation", "cousin"));
    let res = post_citizen_form(&app, "sevres", &fields, 1).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert_eq!(
        error_beside(&html, "kinds").as_deref(),
        Some("Cochez au moins un droit.")
    );
    assert!(html.contains("aria-describedby=\"f-kinds-hint f-kinds-error\""));
    let relation = error_beside(&html, "on_behalf_of.relation").expect("beside the relation");
    assert!(
        relation.contains("mandataire, parent ou tuteur"),
        "{relation}"
    );
    assert!(html.contains("<a href=\"#f-kinds\">"));
    assert!(html.contains("<a href=\"#f-on_behalf_of.relation\">"));

    let form = citizen_form(&fields, 1).part(
        "mandate",
        Part::bytes(b"<html>not a mandate</html>".to_vec()).file_name("mandat.pdf"),
    );
    let html = page_of(post_citizen_multipart(&app, "sevres", form).await).await;
    let beside = error_beside(&html, "mandate").expect("the file refused beside the mandate");
    assert!(beside.contains("n&#x27;est pas un PDF"), "{beside}");
    assert_eq!(
        error_beside(&html, "id_document"),
        None,
        "not beside the ID"
    );
    assert_eq!(stored(&app).await, 0);
}

#[tokio::test]
async fn a_document_asked_for_another_request_of_the_submission_is_sent_from_the_tracking_page() {
    let app = common::spawn_app().await;
    let token = submit_with(&app, "sevres", TWO_RIGHTS_FOR_A_CHILD, 1).await;
    let case = case_of(&app, &token).await;
    let dpo = common::dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let res = common::post(
        &app,
        &dpo,
        &format!("/v1/dpo/requests/{}/transitions", case[1].0),
        serde_json::json!({"to": "awaiting_identity", "note": "La copie est illisible."}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // The token opens the first request, which awaits nothing; the second
    // does, and the page offers the upload for it.
    let page = format!("/t/sevres/suivi/{token}");
    let html = page_of(app.get(&page).await).await;
    assert!(
        html.contains("Une pièce d&#x27;identité vous est demandée"),
        "{html}"
    );
    assert!(html.contains(&format!(
        "Demande(s) concernée(s) : <span class=\"reference\">{}</span>",
        case[1].1
    )));
    assert!(html.contains(&format!("action=\"{page}/document?lang=fr\"")));
    let form = Form::new().part(
        "id_document",
        Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
    );
    let res = app
        .client
        .post(app.url(&format!("{page}/document")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    assert_eq!(status_of(&app, &case[1].0).await, "received");
    let html = page_of(app.get(&page).await).await;
    assert!(!html.contains("type=\"file\""), "nothing awaited any more");
}

#[tokio::test]
async fn the_pages_state_the_tenants_own_periods() {
    let app = common::spawn_app_with(
        |s| {
            let sevres = &mut s.tenants.get_mut("sevres").unwrap().retention;
            sevres.requester_data = Some("18 months".parse().unwrap());
            sevres.id_documents = Some("6 months".parse().unwrap());
        },
        |_| {},
    )
    .await;
    let html = page_of(app.get("/t/sevres/droits").await).await;
    assert!(
        html.contains("conservées 18 mois après sa clôture"),
        "the tenant's own period"
    );
    assert!(html.contains("détruite 6 mois après la clôture"), "{html}");
    assert!(
        !html.contains("deux ans après sa clôture"),
        "no period written in the text"
    );
    let other = page_of(app.get("/t/dunkerque/droits").await).await;
    assert!(other.contains("conservées deux ans après sa clôture (trois ans pour une opposition)"));
    assert!(other.contains("détruite un an après la clôture"));
}

#[tokio::test]
async fn each_tenant_states_its_accessibility_linked_from_every_page() {
    let app = common::spawn_app().await;
    let res = app.get("/t/nimes/accessibilite").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-security-policy"), CSP);
    let html = page_of(res).await;
    for said in [
        "Déclaration d&#x27;accessibilité",
        "Nîmes Métropole",
        "non conformes",
        "dpo@ampmetropole.fr",
        "Défenseur des droits",
        "https://formulaire.defenseurdesdroits.fr/",
        "Libre réponse 71120",
    ] {
        assert!(html.contains(said), "{said}");
    }
    for path in ["/t/sevres/droits", "/t/nimes/accessibilite"] {
        let page = page_of(app.get(path).await).await;
        let slug = path.split('/').nth(2).unwrap();
        assert!(
            page.contains(&format!(
                "<a href=\"/t/{slug}/accessibilite\">Accessibilité : non conforme</a>"
            )),
            "{path}"
        );
    }
    assert_eq!(app.get("/t/nulle-part/accessibilite").await.status(), 404);
}
