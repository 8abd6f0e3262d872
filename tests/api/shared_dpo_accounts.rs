//! Accounts of several tenants, made and changed through the admin API and
//! the command line; an unknown tenant refused, naming the field, and
//! nothing made; a referent of several tenants.

use serde_json::{json, Value};

use crate::common;
use crate::common::{
    assert_problem, create_staff, get, guichet_cli, login, post, TestDatabase, PASSWORD,
};
use crate::shared_dpo::{json_of, request_to, SHARED};

#[tokio::test]
async fn the_admin_api_gives_an_account_several_tenants_and_refuses_unknown_ones() {
    let app = common::spawn_app().await;
    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    let admin = login(&app, "admin@guichet.fr", PASSWORD).await;
    let account = |extra: Value| {
        let mut body = json!({"email": SHARED, "role": "dpo", "password": PASSWORD});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let create = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move { post(app, admin, "/v1/admin/users", body).await }
    };

    // Refused, naming the field, and nothing created.
    for (extra, field) in [
        (json!({"tenants": ["sevres", "nowhere"]}), "tenants[1]"),
        (json!({"tenants": []}), "tenants"),
        (json!({"tenant": "nimes", "tenants": ["sevres"]}), "tenant"),
        (json!({"tenant": "nowhere"}), "tenant"),
        (json!({}), "tenant"),
    ] {
        let problem = assert_problem(
            create(account(extra.clone())).await,
            422,
            "validation_failed",
        )
        .await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{extra}: {problem}");
    }
    let listed = json_of(&app, &admin, "/v1/admin/users").await;
    assert_eq!(listed["total"], 1, "only the admin: {listed}");

    let res = create(account(
        json!({"tenants": ["sevres", "dunkerque", "sevres"]}),
    ))
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["tenant"], "sevres", "the first is the primary");
    assert_eq!(created["tenants"], json!(["sevres", "dunkerque"]));
    let id = created["id"].as_str().unwrap().to_owned();
    let of_dunkerque = json_of(&app, &admin, "/v1/admin/users?tenant=dunkerque").await;
    assert_eq!(of_dunkerque["items"][0]["email"], SHARED);
    assert_eq!(
        of_dunkerque["items"][0]["tenants"],
        json!(["sevres", "dunkerque"])
    );

    // The single `tenant` of old still makes a one-tenant account.
    let res = post(
        &app,
        &admin,
        "/v1/admin/users",
        json!({"email": "dpo@nimes.fr", "role": "dpo", "tenant": "nimes", "password": PASSWORD}),
    )
    .await;
    let one: Value = res.json().await.unwrap();
    assert_eq!(
        (&one["tenant"], &one["tenants"]),
        (&json!("nimes"), &json!(["nimes"]))
    );

    // Changing its tenants: at once, refused whole on an unknown one.
    let token = login(&app, SHARED, PASSWORD).await;
    let path = format!("/v1/admin/users/{id}/tenants");
    let put = |path: String, token: String, body: Value| {
        let app = &app;
        async move {
            app.client
                .put(app.url(&path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = put(
        path.clone(),
        admin.clone(),
        json!({"tenants": ["sevres", "nowhere"]}),
    )
    .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "tenants[1]");
    let res = put(path.clone(), admin.clone(), json!({"tenants": []})).await;
    assert_problem(res, 422, "validation_failed").await;
    let res = put(path.clone(), token.clone(), json!({"tenants": ["nimes"]})).await;
    assert_problem(res, 403, "forbidden").await;
    let nobody = format!("/v1/admin/users/{}/tenants", uuid::Uuid::now_v7());
    let res = put(nobody, admin.clone(), json!({"tenants": ["nimes"]})).await;
    assert_problem(res, 404, "not_found").await;

    let (nimes, _) = request_to(&app, "nimes").await;
    assert_problem(
        get(&app, &token, &format!("/v1/dpo/requests/{nimes}")).await,
        404,
        "not_found",
    )
    .await;
    let res = put(
        path.clone(),
        admin.clone(),
        json!({"tenants": ["sevres", "nimes"]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["tenants"], json!(["sevres", "nimes"]));
    // The same primary tenant: its session goes on, and sees Nîmes now.
    let detail = json_of(&app, &token, &format!("/v1/dpo/requests/{nimes}")).await;
    assert_eq!(detail["tenant"], "nimes");
    let audit = json_of(&app, &admin, "/v1/dpo/audit?kind=user.tenants_changed").await;
    assert_eq!(
        audit["items"][0]["detail"]["tenants"],
        json!(["sevres", "nimes"])
    );
}

fn cli(dir: &std::path::Path, db: &TestDatabase, args: &[&str]) -> (bool, String, String) {
    let out = guichet_cli(dir, db, args, Some(&format!("{PASSWORD}\n")));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_line_adds_and_changes_an_account_of_several_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let add = |tenants: &[&str], email: &str| {
        let mut args = vec!["users", "add"];
        for t in tenants {
            args.extend(["--tenant", t]);
        }
        args.extend(["--email", email, "--role", "dpo", "--password-stdin"]);
        cli(dir.path(), &db, &args)
    };

    let (ok, _, stderr) = add(&["sevres", "nowhere"], SHARED);
    assert!(!ok);
    let refusals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("guichet:"))
        .collect();
    assert_eq!(
        refusals,
        ["guichet: --tenant: no tenant is named `nowhere`"],
        "{stderr}"
    );
    let (ok, _, stderr) = add(&[], SHARED);
    assert!(!ok);
    assert!(
        stderr.contains("--tenant: must name at least one tenant"),
        "{stderr}"
    );
    let (_, listed, _) = cli(dir.path(), &db, &["users", "list"]);
    assert!(!listed.contains(SHARED), "nothing created: {listed}");

    let (ok, stdout, stderr) = add(&["sevres", "dunkerque"], SHARED);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with(&format!("created dpo {SHARED}")),
        "{stdout}"
    );
    let (_, listed, _) = cli(dir.path(), &db, &["users", "list", "--tenant", "dunkerque"]);
    assert!(
        listed.contains(SHARED) && listed.contains("sevres,dunkerque"),
        "{listed}"
    );

    let set = |tenants: &[&str]| {
        let mut args = vec!["users", "set-tenants", "--email", SHARED];
        for t in tenants {
            args.extend(["--tenant", t]);
        }
        cli(dir.path(), &db, &args)
    };
    let (ok, _, stderr) = set(&["nimes", "nowhere"]);
    assert!(!ok && stderr.contains("`nowhere`"), "{stderr}");
    let (ok, stdout, stderr) = set(&["nimes", "sevres"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("now serves nimes,sevres"), "{stdout}");
    let (_, listed, _) = cli(dir.path(), &db, &["users", "list", "--tenant", "dunkerque"]);
    assert!(!listed.contains(SHARED), "{listed}");
}

#[tokio::test]
async fn a_referent_of_several_tenants_takes_requests_of_each_and_of_no_other() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("dunkerque"), "dpo@cud.fr", "dpo", PASSWORD).await;
    create_staff(&app, Some("nimes"), "dpo@nimes.fr", "dpo", PASSWORD).await;
    let referent = "urbanisme@agglo.fr";
    crate::common::create_staff_of(
        &app,
        &["sevres", "dunkerque"],
        referent,
        "referent",
        PASSWORD,
    )
    .await;
    let assign = |token: String, id: String| {
        let app = &app;
        async move {
            let path = format!("/v1/dpo/requests/{id}/assignments");
            let body = json!({"referent_email": referent, "due_at": "2026-03-20T12:00:00Z"});
            post(app, &token, &path, body).await
        }
    };
    let (dunkerque, _) = request_to(&app, "dunkerque").await;
    let res = assign(login(&app, "dpo@cud.fr", PASSWORD).await, dunkerque).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let (nimes, _) = request_to(&app, "nimes").await;
    let res = assign(login(&app, "dpo@nimes.fr", PASSWORD).await, nimes).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "referent_email", "{problem}");
}
