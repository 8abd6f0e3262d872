//! The citizen's pages over plain HTTP, as a browser without JavaScript
//! gets them: the strict CSP and security headers, every right explained,
//! errors beside their fields with the input kept, the reference and the
//! tracking page.

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
        2,
        "one or two documents"
    );
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
        ("kind", "opposition"),
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
        ("kind", "access"),
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
        .text("kind", "access")
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
