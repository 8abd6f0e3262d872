//! The pages over plain HTTP: what a browser without JavaScript gets, the
//! security headers and cookies, CSRF refusals, tenant isolation, and
//! validation errors shown beside the fields.

mod common;

use common::{create_staff, SmtpServer, TestApp, PASSWORD};
use reqwest::multipart::{Form, Part};
use reqwest::Response;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `Set-Cookie` header of `name`, whole (value and attributes).
fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// `name=value` of a `Set-Cookie` header, for a `Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_owned()
}

/// A page's HTML, with the slashes that autoescaping writes `&#x2f;` back
/// to themselves (as a browser reads them), for the assertions.
async fn page_of(res: Response) -> String {
    res.text().await.unwrap().replace("&#x2f;", "/")
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn citizen_form(fields: &[(&'static str, &str)], documents: usize) -> Form {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(*k, v.to_string());
    }
    for _ in 0..documents {
        form = form.part(
            "id_document",
            Part::bytes(PDF.to_vec())
                .file_name("cni.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    }
    // The second file input, left empty, as a browser sends it.
    form.part("id_document", Part::bytes(Vec::new()).file_name(""))
}

const ERASURE: &[(&str, &str)] = &[
    ("kind", "erasure"),
    ("first_name", "Zoé"),
    ("last_name", "Lefèvre"),
    ("email", "zoe@example.org"),
    ("details", "Merci d'effacer mon compte famille."),
];

/// Submits the citizen's form; returns the tracking token from the
/// confirmation address.
async fn submit(app: &TestApp, tenant: &str) -> String {
    let res = app
        .client
        .post(app.url(&format!("/t/{tenant}/droits")))
        .multipart(citizen_form(ERASURE, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let location = header(&res, "location");
    let prefix = format!("/t/{tenant}/droits/confirmation/");
    assert!(location.starts_with(&prefix), "{location}");
    location[prefix.len()..].to_owned()
}

async fn request_id(app: &TestApp, token: &str) -> String {
    let hash = guichet::requests::store::token_hash(token);
    app.state
        .db
        .run(move |conn| Ok(guichet::requests::store::find_by_tracking(conn, &hash)?))
        .await
        .unwrap()
        .expect("the request")
        .id
}

/// A signed-in console: its cookie header and the CSRF token of its forms.
struct Console {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp, email: &str) -> Console {
    let res = app.get("/console/login").await;
    assert_eq!(res.status(), 200);
    let nonce = pair(&set_cookie(&res, "guichet_login").expect("the sign-in nonce"));
    let html = page_of(res).await;
    let res = app
        .client
        .post(app.url("/console/login"))
        .header("cookie", &nonce)
        .form(&[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("next", "/console"),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let cookie = pair(&set_cookie(&res, "guichet_console").expect("the session cookie"));
    let page = console_get(app, &cookie, "/console").await;
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    Console { cookie, csrf }
}

async fn console_get(app: &TestApp, cookie: &str, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn console_post(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let id = id.to_owned();
    app.state
        .db
        .run(move |conn| Ok(guichet::requests::store::find(conn, &id)?))
        .await
        .unwrap()
        .unwrap()
        .status
}

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

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_behind_https() {
    let app = common::spawn_app_with(
        |s| s.server.public_url = "https://guichet.example.fr".into(),
        |_| {},
    )
    .await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let res = app.get("/console").await;
    assert_eq!(res.status(), 303, "to the sign-in page");
    assert_eq!(header(&res, "location"), "/console/login?next=%2Fconsole");

    let res = app.get("/console/login").await;
    let nonce = set_cookie(&res, "guichet_login").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(nonce.contains(attr), "{nonce} has {attr}");
    }
    let html = page_of(res).await;
    let csrf = hidden(&html, "csrf");
    let login = |password: &'static str, cookie: String, csrf: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/console/login"))
                .header("cookie", cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("next", "/console/stats"),
                    ("email", "dpo@ville-sevres.fr"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let res = login("wrong password, surely", pair(&nonce), csrf.clone()).await;
    assert_eq!(res.status(), 401);
    assert!(set_cookie(&res, "guichet_console").is_none());
    assert!(page_of(res)
        .await
        .contains("Adresse e-mail ou mot de passe incorrect."));
    // The sign-in form without its nonce cookie is refused.
    let res = login(PASSWORD, String::new(), csrf.clone()).await;
    assert_eq!(res.status(), 403);

    let res = login(PASSWORD, pair(&nonce), csrf).await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/console/stats");
    let session = set_cookie(&res, "guichet_console").unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/console",
        "Max-Age=3600",
    ] {
        assert!(session.contains(attr), "{session} has {attr}");
    }
    // The journal has both attempts.
    let res = console_get(&app, &pair(&session), "/console/audit").await;
    assert_eq!(res.status(), 200);
    let html = page_of(res).await;
    assert!(html.contains("Connexion réussie") && html.contains("Échec de connexion"));

    // Over plain http (the tests' default), no Secure flag.
    let app = common::spawn_app().await;
    let res = app.get("/console/login").await;
    assert!(!set_cookie(&res, "guichet_login")
        .unwrap()
        .contains("Secure"));
}

#[tokio::test]
async fn every_console_form_needs_the_token_of_its_session() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let token = submit(&app, "sevres").await;
    let id = request_id(&app, &token).await;
    let console = sign_in(&app, "dpo@ville-sevres.fr").await;
    let path = format!("/console/requests/{id}/transition");

    let res = console_post(&app, &console.cookie, &path, &[("to", "in_progress")]).await;
    assert_eq!(res.status(), 403);
    assert!(header(&res, "content-type").starts_with("text/html"));
    let res = console_post(
        &app,
        &console.cookie,
        &path,
        &[("to", "in_progress"), ("csrf", "forged")],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(status_of(&app, &id).await, "received", "nothing moved");
    // Another session's token is no good either.
    let other = sign_in(&app, "dpo@ville-sevres.fr").await;
    assert_ne!(other.csrf, console.csrf);
    let res = console_post(
        &app,
        &console.cookie,
        &path,
        &[("to", "in_progress"), ("csrf", other.csrf.as_str())],
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = console_post(&app, &console.cookie, "/console/logout", &[]).await;
    assert_eq!(res.status(), 403);

    let res = console_post(
        &app,
        &console.cookie,
        &path,
        &[("to", "in_progress"), ("csrf", console.csrf.as_str())],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        header(&res, "location"),
        format!("/console/requests/{id}?done=in_progress")
    );
    assert_eq!(status_of(&app, &id).await, "in_progress");

    // A rejection without a reason: the form again, the error beside it.
    let res = console_post(
        &app,
        &console.cookie,
        &path,
        &[
            ("to", "rejected"),
            ("reason", " "),
            ("csrf", console.csrf.as_str()),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"rejected-reason-error\""));
    assert!(html.contains("aria-describedby=\"rejected-reason-hint rejected-reason-error\""));
    assert_eq!(status_of(&app, &id).await, "in_progress");
    // A move the life cycle forbids is said, not done.
    let res = console_post(
        &app,
        &console.cookie,
        &path,
        &[("to", "received"), ("csrf", console.csrf.as_str())],
    )
    .await;
    assert_eq!(res.status(), 409);

    // Without a session, a form goes to the sign-in page.
    let res = console_post(&app, "", &path, &[("to", "completed")]).await;
    assert_eq!(res.status(), 303);
    assert!(header(&res, "location").starts_with("/console/login"));

    let res = console_post(
        &app,
        &console.cookie,
        "/console/logout",
        &[("csrf", console.csrf.as_str())],
    )
    .await;
    assert_eq!(res.status(), 303);
    let cleared = set_cookie(&res, "guichet_console").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn a_dpo_cannot_open_another_tenants_request_page() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    create_staff(&app, Some("dunkerque"), "dpo@cud.fr", "dpo", PASSWORD).await;
    let token = submit(&app, "dunkerque").await;
    let id = request_id(&app, &token).await;
    let sevres = sign_in(&app, "dpo@ville-sevres.fr").await;
    let dunkerque = sign_in(&app, "dpo@cud.fr").await;

    let res = console_get(&app, &dunkerque.cookie, &format!("/console/requests/{id}")).await;
    assert_eq!(res.status(), 200);
    let html = page_of(res).await;
    assert!(html.contains("Zoé") && html.contains("cni.pdf"));
    let document = {
        let start = html.find("/documents/").unwrap();
        html[start..].split('"').next().unwrap().to_owned()
    };

    let res = console_get(&app, &sevres.cookie, &format!("/console/requests/{id}")).await;
    assert_eq!(res.status(), 404);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert!(!page_of(res).await.contains("Zoé"));
    let res = console_get(
        &app,
        &sevres.cookie,
        &format!("/console/requests/{id}{document}"),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = console_post(
        &app,
        &sevres.cookie,
        &format!("/console/requests/{id}/transition"),
        &[("to", "in_progress"), ("csrf", sevres.csrf.as_str())],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(status_of(&app, &id).await, "received");
    let queue = console_get(&app, &sevres.cookie, "/console").await;
    let queue = page_of(queue).await;
    assert!(!queue.contains(&id), "not in the other tenant's queue");
    let queue = console_get(&app, &dunkerque.cookie, "/console").await;
    let queue = page_of(queue).await;
    assert!(queue.contains(&format!("/console/requests/{id}")));

    // The document opens through the journaled path.
    let res = console_get(
        &app,
        &dunkerque.cookie,
        &format!("/console/requests/{id}{document}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/pdf");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
    let page =
        page_of(console_get(&app, &dunkerque.cookie, &format!("/console/requests/{id}")).await)
            .await;
    assert!(page.contains("Document ouvert"), "on the timeline");
    let audit =
        page_of(console_get(&app, &dunkerque.cookie, "/console/audit?kind=document").await).await;
    assert!(audit.contains("Document ouvert"));
}

#[tokio::test]
async fn the_console_shows_charts_retention_and_an_english_version() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(&serde_json::json!({"policy_version": app.state.tenants.get("sevres").unwrap().config.consent.policy_version, "choices": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", page_of(res).await);
    let console = sign_in(&app, "dpo@ville-sevres.fr").await;

    let res = console_get(&app, &console.cookie, "/console/stats").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-security-policy"), CSP);
    let html = page_of(res).await;
    assert!(html.contains("<svg class=\"chart\""), "a chart per purpose");
    assert!(html.contains("<polyline class=\"series refused\""));
    assert!(!html.contains("<script"));

    let res = console_get(&app, &console.cookie, "/console/retention").await;
    assert_eq!(res.status(), 200);
    assert!(page_of(res)
        .await
        .contains("Aucune purge enregistrée pour l&#x27;instant."));

    let res = console_get(&app, &console.cookie, "/console?lang=en").await;
    assert!(set_cookie(&res, "guichet_lang").is_some());
    let html = page_of(res).await;
    assert!(html.contains("Rights requests") && html.contains("Sign out"));
    let res = console_get(
        &app,
        &format!("{}; guichet_lang=en", console.cookie),
        "/console/retention",
    )
    .await;
    assert!(page_of(res).await.contains("No sweep recorded yet."));
}
