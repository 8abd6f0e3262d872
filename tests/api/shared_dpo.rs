//! One DPO for several tenants (a centre de gestion, a syndicat
//! informatique): its readings cover them all, each row naming its tenant,
//! `?tenant=` narrows to one of them, a third tenant is unknown to it; one
//! digest e-mail per address, a section per tenant; the console. Its
//! accounts: `shared_dpo_accounts`.

use crate::common;

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::common::pages::{console_page, sign_in, PDF};
use crate::common::{
    assert_problem, create_staff, create_staff_of, deliver, get, login, post, submit_form,
    SmtpServer, TestApp, PASSWORD,
};

pub const SHARED: &str = "dpo@cdg92.fr";

/// A request to `tenant` with its identity document: (id, reference).
pub async fn request_to(app: &TestApp, tenant: &str) -> (String, String) {
    let form = Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", format!("zoe.{tenant}@example.org"))
        .text("details", "Mes données.")
        .part(
            "id_document",
            Part::bytes(PDF.to_vec())
                .file_name("cni.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let body = submit_form(app, tenant, form).await;
    let text = |k: &str| body[k].as_str().unwrap().to_owned();
    (text("id"), text("reference"))
}

fn tenants_of(list: &Value) -> Vec<String> {
    let mut all: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tenant"].as_str().unwrap_or("-").to_owned())
        .collect();
    all.sort();
    all.dedup();
    all
}

pub async fn json_of(app: &TestApp, token: &str, path: &str) -> Value {
    let res = get(app, token, path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

/// Takes the request on (`in_progress`).
async fn take_on(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    let path = format!("/v1/dpo/requests/{id}/transitions");
    post(app, token, &path, json!({"to": "in_progress"})).await
}

#[tokio::test]
async fn a_dpo_of_two_tenants_reads_both_and_nothing_of_a_third() {
    let app = common::spawn_app().await;
    create_staff_of(&app, &["sevres", "dunkerque"], SHARED, "dpo", PASSWORD).await;
    let token = login(&app, SHARED, PASSWORD).await;
    let (sevres, _) = request_to(&app, "sevres").await;
    let (dunkerque, _) = request_to(&app, "dunkerque").await;
    let (nimes, _) = request_to(&app, "nimes").await;

    // The queue: both tenants, each row naming its own; `?tenant=` narrows.
    let queue = json_of(&app, &token, "/v1/dpo/requests").await;
    assert_eq!(queue["total"], 2);
    assert_eq!(tenants_of(&queue), ["dunkerque", "sevres"]);
    let narrowed = json_of(&app, &token, "/v1/dpo/requests?tenant=sevres").await;
    assert_eq!(narrowed["total"], 1);
    assert_eq!(narrowed["items"][0]["id"], sevres.as_str());
    let received = json_of(
        &app,
        &token,
        "/v1/dpo/requests?tenant=dunkerque&status=received",
    )
    .await;
    assert_eq!(received["items"][0]["id"], dunkerque.as_str());
    // A third tenant, or none at all, is unknown to this account.
    for path in [
        "/v1/dpo/requests?tenant=nimes",
        "/v1/dpo/requests?tenant=nowhere",
        "/v1/dpo/reports/requests?tenant=nimes",
        "/v1/dpo/audit?tenant=nimes",
        "/v1/dpo/consents/stats?tenant=nimes",
        "/v1/dpo/retention/runs?tenant=nimes",
    ] {
        assert_problem(get(&app, &token, path).await, 404, "not_found").await;
    }

    // The detail of each, with its tenant; Nîmes' is none of its business.
    for (id, tenant) in [(&sevres, "sevres"), (&dunkerque, "dunkerque")] {
        let detail = json_of(&app, &token, &format!("/v1/dpo/requests/{id}")).await;
        assert_eq!(detail["tenant"], tenant);
        assert_eq!(take_on(&app, &token, id).await.status(), 200, "{tenant}");
    }
    let res = get(&app, &token, &format!("/v1/dpo/requests/{nimes}")).await;
    assert_problem(res, 404, "not_found").await;
    assert_problem(take_on(&app, &token, &nimes).await, 404, "not_found").await;

    // The report: a row per tenant it serves, none of Nîmes.
    let report = json_of(&app, &token, "/v1/dpo/reports/requests").await;
    let mut rows: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tenant"].as_str().unwrap())
        .collect();
    rows.sort();
    assert_eq!(rows, ["dunkerque", "sevres"]);

    // The audit log: both moves, each naming its tenant.
    let audit = json_of(&app, &token, "/v1/dpo/audit?kind=request").await;
    assert_eq!(audit["total"], 2);
    assert_eq!(tenants_of(&audit), ["dunkerque", "sevres"]);
    let audit = json_of(&app, &token, "/v1/dpo/audit?kind=request&tenant=dunkerque").await;
    assert_eq!(tenants_of(&audit), ["dunkerque"]);

    // The suppression list is one tenant's: it must say which.
    let res = get(
        &app,
        &token,
        "/v1/dpo/suppression/check?email=a@example.org",
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "tenant");
    let check = "/v1/dpo/suppression/check?email=a@example.org&tenant=sevres";
    assert_eq!(json_of(&app, &token, check).await["listed"], false);
    let check = "/v1/dpo/suppression/check?email=a@example.org&tenant=nimes";
    assert_problem(get(&app, &token, check).await, 404, "not_found").await;

    // A request it enters must name one of its tenants.
    let entry = json!({
        "kind": "access", "first_name": "Jean", "last_name": "Martin",
        "details": "Par courrier.", "channel": "post",
        "received_at": "2026-03-01T10:00:00Z",
    });
    let res = post(&app, &token, "/v1/dpo/requests", entry.clone()).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "tenant", "{problem}");
    let mut to_nimes = entry.clone();
    to_nimes["tenant"] = "nimes".into();
    let res = post(&app, &token, "/v1/dpo/requests", to_nimes).await;
    assert_problem(res, 404, "not_found").await;
    let mut to_dunkerque = entry;
    to_dunkerque["tenant"] = "dunkerque".into();
    let res = post(&app, &token, "/v1/dpo/requests", to_dunkerque).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

async fn consent(app: &TestApp, tenant: &str) {
    let res = app
        .client
        .post(app.url(&format!("/v1/tenants/{tenant}/consents")))
        .json(&json!({"policy_version": "2026-01", "choices": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn its_consent_statistics_and_export_cover_its_tenants_only() {
    let app = common::spawn_app().await;
    create_staff_of(&app, &["sevres", "dunkerque"], SHARED, "dpo", PASSWORD).await;
    let token = login(&app, SHARED, PASSWORD).await;
    for tenant in ["sevres", "dunkerque", "nimes"] {
        consent(&app, tenant).await;
    }
    let range = "from=2026-03-01&to=2026-03-31";
    let stats = json_of(&app, &token, &format!("/v1/dpo/consents/stats?{range}")).await;
    assert_eq!(tenants_of(&stats), ["dunkerque", "sevres"]);
    let stats = json_of(
        &app,
        &token,
        &format!("/v1/dpo/consents/stats?{range}&tenant=sevres"),
    )
    .await;
    assert_eq!(tenants_of(&stats), ["sevres"]);

    let res = get(&app, &token, &format!("/v1/dpo/consents/export?{range}")).await;
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    let mut tenants: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["dunkerque", "sevres"], "{csv}");
}

/// Runs the digest as the mail worker's chore does.
async fn digest(app: &TestApp) -> guichet::rights::digest::DigestRun {
    let digest = app.state.digest.clone();
    tokio::task::spawn_blocking(move || digest.run_due())
        .await
        .unwrap()
        .unwrap()
        .expect("the day's digest runs")
}

#[tokio::test]
async fn one_digest_per_address_with_a_section_per_tenant() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    // A shared DPO; another whose address is Val Parisis's configured one,
    // who also serves Nîmes; a disabled one.
    create_staff_of(&app, &["sevres", "dunkerque"], SHARED, "dpo", PASSWORD).await;
    create_staff_of(
        &app,
        &["valparisis", "nimes"],
        "dpo@valparisis.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    let gone = create_staff_of(
        &app,
        &["guadeloupe", "sevres"],
        "gone@cdg92.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    let admin = login(&app, "admin@guichet.fr", PASSWORD).await;
    let res = post(
        &app,
        &admin,
        &format!("/v1/admin/users/{gone}/disable"),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut references = std::collections::HashMap::new();
    for tenant in ["sevres", "dunkerque", "nimes", "valparisis", "guadeloupe"] {
        references.insert(tenant, request_to(&app, tenant).await.1);
    }
    deliver(&app).await;
    let before = smtp.letters().len();

    // Six days before they are due, at 08:00 in Paris.
    app.clock.set("2026-03-27T07:00:00Z".parse().unwrap());
    let run = digest(&app).await;
    deliver(&app).await;
    let letters: Vec<_> = smtp.letters().into_iter().skip(before).collect();
    let mut to: Vec<&str> = letters.iter().map(|l| l.0.as_str()).collect();
    to.sort();
    // The shared DPO once for both; Val Parisis's address once for its two
    // (its account and its configuration); each configured address of a
    // tenant still gets its own; the disabled account nothing.
    assert_eq!(
        to,
        [
            "dpo@ampmetropole.fr",
            "dpo@cdg92.fr",
            "dpo@cr-guadeloupe.fr",
            "dpo@valparisis.fr",
            "dpo@ville-sevres.fr",
            "protection.donnees@cud.fr",
        ]
    );
    assert_eq!(run.sent, 6);

    let letter = |address: &str| letters.iter().find(|l| l.0 == address).unwrap().clone();
    let (_, subject, text, html) = letter(SHARED);
    assert!(subject.starts_with("[2 collectivités]"), "{subject}");
    assert!(subject.contains("0 en retard, 2 à échéance"), "{subject}");
    for (tenant, name) in [
        ("sevres", "Ville de Sèvres"),
        ("dunkerque", "Communauté Urbaine de Dunkerque"),
    ] {
        assert!(text.contains(&format!("== {name} ==")), "{text}");
        assert!(text.contains(&references[tenant]), "{text}");
        assert!(
            html.contains(&format!("{name}</h2>")) || html.contains(name),
            "{html}"
        );
    }
    // Sections by the communes' names, each with its own requests.
    let (cud, sevres) = (
        text.find("Communauté Urbaine").unwrap(),
        text.find("== Ville de Sèvres").unwrap(),
    );
    assert!(cud < sevres);
    assert!(text[cud..sevres].contains(&references["dunkerque"]));
    assert!(text[sevres..].contains(&references["sevres"]));
    for other in ["nimes", "valparisis", "guadeloupe"] {
        assert!(!text.contains(&references[other]), "{other} in {text}");
    }

    let (_, subject, text, _) = letter("dpo@valparisis.fr");
    assert!(subject.starts_with("[2 collectivités]"), "{subject}");
    assert!(text.contains(&references["nimes"]) && text.contains(&references["valparisis"]));
    // One tenant: its letter as before, in its name.
    let (_, subject, text, _) = letter("dpo@ville-sevres.fr");
    assert!(subject.starts_with("[Ville de Sèvres]"), "{subject}");
    assert!(
        text.contains(&references["sevres"]) && !text.contains("=="),
        "{text}"
    );
}

#[tokio::test]
async fn the_console_of_a_shared_dpo_names_each_commune_and_filters_by_tenant() {
    let app = common::spawn_app().await;
    create_staff_of(&app, &["sevres", "dunkerque"], SHARED, "dpo", PASSWORD).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let (sevres, sevres_ref) = request_to(&app, "sevres").await;
    let (_, dunkerque_ref) = request_to(&app, "dunkerque").await;
    let (_, nimes_ref) = request_to(&app, "nimes").await;

    let shared = sign_in(&app, SHARED).await;
    let html = console_page(&app, &shared.cookie, "/console").await;
    for shown in [
        sevres_ref.as_str(),
        dunkerque_ref.as_str(),
        "<span class=\"tag tenant\">Ville de Sèvres</span>",
        "<span class=\"tag tenant\">Communauté Urbaine de Dunkerque</span>",
        "<select id=\"tenant\" name=\"tenant\">",
        "<option value=\"sevres\">Ville de Sèvres</option>",
        "<option value=\"dunkerque\">Communauté Urbaine de Dunkerque</option>",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }
    assert!(!html.contains(&nimes_ref) && !html.contains("value=\"nimes\""));

    let html = console_page(&app, &shared.cookie, "/console?tenant=sevres").await;
    assert!(html.contains(&sevres_ref) && !html.contains(&dunkerque_ref));
    assert!(
        html.contains("<option value=\"sevres\" selected>"),
        "{html}"
    );
    let html = console_page(&app, &shared.cookie, &format!("/console/requests/{sevres}")).await;
    assert!(
        html.contains("<dd id=\"tenant\">Ville de Sèvres</dd>"),
        "{html}"
    );
    // A request it enters is for one of its tenants, which it chooses.
    let html = console_page(&app, &shared.cookie, "/console/requests/new").await;
    assert!(
        html.contains("<select id=\"f-tenant\" name=\"tenant\""),
        "{html}"
    );
    assert!(html.contains("<option value=\"dunkerque\">") && !html.contains("value=\"nimes\""));

    // An account of one tenant has no choice to make, but each row still
    // names its commune.
    let own = sign_in(&app, "dpo@ville-sevres.fr").await;
    let html = console_page(&app, &own.cookie, "/console").await;
    assert!(!html.contains("<select id=\"tenant\""));
    assert!(html.contains("<span class=\"tag tenant\">Ville de Sèvres</span>"));
    assert!(html.contains(&sevres_ref) && !html.contains(&dunkerque_ref));
}
