//! The DPO's console over plain HTTP: the session cookie's flags, CSRF
//! refusals on every form, tenant isolation, the journaled documents, the
//! charts, the retention sweeps and the English version; the requests read
//! together (a case, the same person's others) and for whom.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use crate::common::pages::*;
use crate::common::{create_staff, SmtpServer, PASSWORD};

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
    assert!(html.contains(
        "aria-describedby=\"rejected-reason-hint rejected-reason-error rejected-reason-count\""
    ));
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

    assert!(html.contains("href=\"/console/stats/export?from=2026-02-01&amp;to=2026-03-02\""));
    let res = console_get(
        &app,
        &console.cookie,
        "/console/stats/export?from=2026-03-01&to=2026-03-02",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    assert_eq!(
        csv.lines().count(),
        2,
        "a header and the one consent: {csv}"
    );

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

    // Thirteen months on, the scheduled sweep removes the consent record.
    app.clock.advance(chrono::Duration::days(400));
    let scheduler = app.state.retention.clone();
    let tick = tokio::task::spawn_blocking(move || scheduler.tick().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(tick, guichet::retention::scheduler::Tick::Ran(_)),
        "{tick:?}"
    );
    let console = sign_in(&app, "dpo@ville-sevres.fr").await;
    let html = page_of(console_get(&app, &console.cookie, "/console/retention").await).await;
    assert!(html.contains("terminée"), "{html}");
    assert!(html.contains("planifiée"), "{html}");
    assert!(html.contains("consentements : 1"), "{html}");
    assert!(!html.contains("Aucune purge"));
}

#[tokio::test]
async fn the_console_sign_in_locks_an_account_after_five_failures() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            let res = app.get("/console/login").await;
            let nonce = pair(&set_cookie(&res, "guichet_login").unwrap());
            let csrf = hidden(&page_of(res).await, "csrf");
            app.client
                .post(app.url("/console/login"))
                .header("cookie", nonce)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "dpo@ville-sevres.fr"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("not the password at all").await.status(), 401);
    }
    let res = attempt(PASSWORD).await;
    assert_eq!(res.status(), 429, "locked, even with the right password");
    assert!(!header(&res, "retry-after").is_empty());
    assert!(set_cookie(&res, "guichet_console").is_none());
    let html = page_of(res).await;
    assert!(html.contains("Ce compte est verrouillé"), "{html}");
    assert!(
        html.contains("value=\"dpo@ville-sevres.fr\""),
        "the address is kept"
    );
}

#[tokio::test]
async fn identity_extension_and_message_go_through_the_pages() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let token = submit(&app, "sevres").await;
    let id = request_id(&app, &token).await;
    let console = sign_in(&app, "dpo@ville-sevres.fr").await;
    let act = |action: &'static str, fields: Vec<(&'static str, &'static str)>| {
        let (app, console, id) = (&app, &console, id.clone());
        async move {
            let mut form = fields;
            form.push(("csrf", console.csrf.as_str()));
            console_post(
                app,
                &console.cookie,
                &format!("/console/requests/{id}/{action}"),
                &form,
            )
            .await
        }
    };

    let res = act(
        "transition",
        vec![("to", "awaiting_identity"), ("note", "Copie illisible.")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(status_of(&app, &id).await, "awaiting_identity");

    // The tracking page now asks for the document; an empty form is refused.
    let page = page_of(app.get(&format!("/t/sevres/suivi/{token}")).await).await;
    assert!(page.contains("Une pièce d&#x27;identité vous est demandée"));
    assert!(page.contains(&format!("action=\"/t/sevres/suivi/{token}/document")));
    let upload = |documents: usize| {
        let app = &app;
        let url = app.url(&format!("/t/sevres/suivi/{token}/document"));
        async move {
            let mut form = reqwest::multipart::Form::new();
            for _ in 0..documents {
                form = form.part(
                    "id_document",
                    reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
                );
            }
            form = form.part(
                "id_document",
                reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
            );
            app.client.post(url).multipart(form).send().await.unwrap()
        }
    };
    let res = upload(0).await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(html.contains("id=\"f-id_document-error\""));
    assert!(html.contains("aria-describedby=\"f-id_document-hint f-id_document-error\""));
    let res = upload(1).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        header(&res, "location"),
        format!("/t/sevres/suivi/{token}?document=ok")
    );
    assert_eq!(status_of(&app, &id).await, "received");

    // One extension, with its reason; a second is refused.
    let res = act("extension", vec![("reason", "")]).await;
    assert_eq!(res.status(), 422);
    assert!(page_of(res).await.contains("id=\"extension-reason-error\""));
    let res = act(
        "extension",
        vec![("reason", "Recherche dans les archives.")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let page = page_of(
        console_get(
            &app,
            &console.cookie,
            &format!("/console/requests/{id}?done=extension"),
        )
        .await,
    )
    .await;
    assert!(page.contains("Le délai est prolongé de deux mois"));
    assert!(page.contains("Recherche dans les archives."));
    assert!(!page.contains("id=\"action-extend\""), "once only");
    let res = act("extension", vec![("reason", "Encore.")]).await;
    assert_eq!(res.status(), 409);

    let res = act(
        "message",
        vec![("body", "Nous revenons vers vous sous peu.")],
    )
    .await;
    assert_eq!(res.status(), 303);
    common::deliver(&app).await;
    let texts: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    // The message is kept; its e-mail only says that it waits.
    assert!(!texts.iter().any(|t| t.contains("Nous revenons vers vous")));
    assert!(texts
        .iter()
        .any(|t| t.contains("Recherche dans les archives")));
    let kept: Vec<Option<String>> = app
        .state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use guichet::db::schema::request_messages as messages;
            Ok(messages::table
                .filter(messages::request_id.eq(&id))
                .select(messages::body)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        kept,
        vec![Some("Nous revenons vers vous sous peu.".to_owned())]
    );
}

/// The section of a page from `heading` on.
fn section<'a>(html: &'a str, heading: &str) -> &'a str {
    let start = html
        .find(heading)
        .unwrap_or_else(|| panic!("« {heading} » in {html}"));
    html[start..].split("</section>").next().unwrap()
}

/// Zoé's erasure, then her two rights for her daughter in one submission,
/// and Karim's request: `(earlier, [access, erasure])` as `(id, reference)`.
async fn one_person_three_requests(
    app: &common::TestApp,
) -> ((String, String), Vec<(String, String)>) {
    let earlier = submit(app, "sevres").await;
    let earlier = case_of(app, &earlier).await.remove(0);
    let token = submit_with(app, "sevres", TWO_RIGHTS_FOR_A_CHILD, 1).await;
    let case = case_of(app, &token).await;
    assert_eq!(case.len(), 2);
    let karim = [
        ("kinds", "access"),
        ("first_name", "Karim"),
        ("last_name", "Benali"),
        ("email", "karim.benali@example.org"),
        ("details", "Copie de mes données."),
    ];
    let res = post_citizen_form(app, "sevres", &karim, 1).await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    (earlier, case)
}

#[tokio::test]
async fn the_request_page_links_its_case_and_the_persons_other_requests_and_says_for_whom() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let (earlier, case) = one_person_three_requests(&app).await;
    let console = sign_in(&app, "dpo@ville-sevres.fr").await;
    let (access, erasure) = (&case[0], &case[1]);

    let html = console_page(
        &app,
        &console.cookie,
        &format!("/console/requests/{}", access.0),
    )
    .await;
    assert!(
        html.contains("<dd id=\"channel\">Reçue en ligne</dd>"),
        "{html}"
    );
    assert!(html.contains("Pour le compte de"));
    assert!(
        html.contains("<strong>Louise Lefèvre</strong> (parent)"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"tag role-id_document\">Pièce d&#x27;identité</span> cni.pdf"),
        "the document's role: {html}"
    );
    let linked = section(&html, "Demandes liées</h2>");
    assert!(
        linked.contains(&format!("<a href=\"/console/requests/{}\">{}</a> — Droit à l&#x27;effacement — <span class=\"status status-received\">Reçue</span>", erasure.0, erasure.1)),
        "{linked}"
    );
    assert!(
        !linked.contains(&access.1) && !linked.contains(&earlier.1),
        "{linked}"
    );
    let others = section(&html, "Autres demandes de cette personne</h2>");
    assert!(
        others.contains(&format!(
            "<a href=\"/console/requests/{}\">{}</a>",
            earlier.0, earlier.1
        )),
        "{others}"
    );
    assert!(
        !others.contains(&erasure.1),
        "the case is listed above: {others}"
    );
    assert!(others.contains(&format!("href=\"/console?same_person_as={}\"", access.0)));

    // The earlier request stands alone: no case, the other two as the
    // person's others, and no one it was made for.
    let html = console_page(
        &app,
        &console.cookie,
        &format!("/console/requests/{}", earlier.0),
    )
    .await;
    assert!(!html.contains("Demandes liées"), "{html}");
    assert!(!html.contains("Pour le compte de"));
    let others = section(&html, "Autres demandes de cette personne</h2>");
    assert!(
        others.contains(&access.1) && others.contains(&erasure.1),
        "{others}"
    );

    // English.
    let html = console_page(
        &app,
        &console.cookie,
        &format!("/console/requests/{}?lang=en", access.0),
    )
    .await;
    assert!(
        html.contains("Linked requests") && html.contains("Received online"),
        "{html}"
    );
    assert!(html.contains("Louise Lefèvre</strong> (parent)"));
}

#[tokio::test]
async fn the_queue_links_a_persons_other_requests_and_filters_on_them() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    create_staff(&app, Some("dunkerque"), "dpo@cud.fr", "dpo", PASSWORD).await;
    let (earlier, case) = one_person_three_requests(&app).await;
    let console = sign_in(&app, "dpo@ville-sevres.fr").await;

    let html = console_page(&app, &console.cookie, "/console").await;
    assert!(
        !html.contains("Demandes de la même personne"),
        "no filter yet"
    );
    assert_eq!(
        html.matches("class=\"others\"").count(),
        3,
        "Zoé's three rows, not Karim's: {html}"
    );
    for (id, _) in [&earlier, &case[0], &case[1]] {
        assert!(
            html.contains(&format!("<a class=\"others\" href=\"/console?same_person_as={id}\" aria-label=\"+2 autres demandes de Zoé Lefèvre\">+2 autres demandes</a>")),
            "{html}"
        );
    }
    assert!(
        html.contains("Karim Benali</td>"),
        "no link on Karim's row: {html}"
    );

    let filtered = format!("/console?same_person_as={}", case[1].0);
    let html = console_page(&app, &console.cookie, &filtered).await;
    let note = html
        .split("id=\"same-person-filter\"")
        .nth(1)
        .expect("the filter said at the top");
    assert!(note.contains("Demandes de la même personne"), "{note}");
    assert!(
        note.contains("<a href=\"/console\">Afficher toutes les demandes</a>"),
        "{note}"
    );
    assert!(html.contains("3 demande(s)"), "{html}");
    for (_, reference) in [&earlier, &case[0], &case[1]] {
        assert!(html.contains(reference.as_str()), "{reference}");
    }
    assert!(!html.contains("Karim"), "only Zoé's");
    assert!(
        html.contains(&format!(
            "<input type=\"hidden\" name=\"same_person_as\" value=\"{}\">",
            case[1].0
        )),
        "kept by the other filters"
    );
    // With another filter too.
    let html = console_page(&app, &console.cookie, &format!("{filtered}&kind=erasure")).await;
    assert!(html.contains("2 demande(s)"), "{html}");
    assert!(!html.contains(&case[0].1));

    // Another tenant's request is no filter of this DPO's queue.
    let dunkerque = sign_in(&app, "dpo@cud.fr").await;
    let res = console_get(&app, &dunkerque.cookie, &filtered).await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/console");
}
