//! The DPO's console over plain HTTP: the session cookie's flags, CSRF
//! refusals on every form, tenant isolation, the journaled documents, the
//! charts, the retention sweeps and the English version.

mod common;
mod pages_common;

use common::{create_staff, SmtpServer, PASSWORD};
use pages_common::*;

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
