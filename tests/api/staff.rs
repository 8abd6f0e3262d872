//! Staff accounts: sign-in, tokens, roles, locks, rate limits, the journal.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use std::time::Instant;

use crate::common::{
    assert_problem, create_staff, login, spawn_app, spawn_app_with, TestApp, PASSWORD,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

async fn attempt(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn get_auth(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn login_returns_a_bearer_token_with_user_tenant_role_and_id() {
    let app = spawn_app().await;
    let id = create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let res = attempt(&app, "DPO@Ville-Sevres.fr", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    let c = claims(token);
    assert_eq!(c["sub"], id);
    assert_eq!(c["tenant"], "sevres");
    assert_eq!(c["role"], "dpo");
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(c["iat"].as_i64().unwrap(), app.clock.now().timestamp());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer_in_about_the_same_time() {
    let app = spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    // The two cases alternate, and the fastest attempt of each is compared:
    // a time slice lost to another test falls on one attempt, not on a case.
    // Four wrong passwords stay below the lockout threshold of five.
    let cases = [
        ("nobody@ville-sevres.fr", PASSWORD),
        ("dpo@ville-sevres.fr", "wrong horse battery staple"),
    ];
    let mut bodies = Vec::new();
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..4 {
        for (case, (email, password)) in cases.iter().enumerate() {
            let started = Instant::now();
            let res = attempt(&app, email, password).await;
            times[case].push(started.elapsed().as_secs_f64());
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
            let mut body = assert_problem(res, 401, "unauthorized").await;
            body.as_object_mut().unwrap().remove("instance");
            bodies.push(body);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let fastest = |t: &[f64]| t.iter().copied().fold(f64::INFINITY, f64::min);
    let (unknown, wrong) = (fastest(&times[0]), fastest(&times[1]));
    assert!(
        unknown > wrong * 0.5 && unknown < wrong * 2.0,
        "unknown e-mail took at best {unknown:.3}s, wrong password {wrong:.3}s: {times:?}"
    );
}

#[tokio::test]
async fn five_failures_in_a_row_lock_the_account_for_fifteen_minutes() {
    let app = spawn_app().await;
    create_staff(&app, Some("nimes"), "dpo@nimes.fr", "dpo", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(
            attempt(&app, "dpo@nimes.fr", "not the password!")
                .await
                .status(),
            401
        );
    }
    let res = attempt(&app, "dpo@nimes.fr", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 15 * 60);
    assert_problem(res, 429, "rate_limited").await;

    app.clock
        .advance(chrono::Duration::minutes(15) - chrono::Duration::seconds(1));
    assert_eq!(attempt(&app, "dpo@nimes.fr", PASSWORD).await.status(), 429);
    app.clock.advance(chrono::Duration::seconds(2));
    let token = login(&app, "dpo@nimes.fr", PASSWORD).await;

    // A success resets the count: four more failures do not lock.
    for _ in 0..4 {
        assert_eq!(
            attempt(&app, "dpo@nimes.fr", "not the password!")
                .await
                .status(),
            401
        );
    }
    login(&app, "dpo@nimes.fr", PASSWORD).await;

    let res = get_auth(&app, "/v1/dpo/audit?kind=login&per_page=100", &token).await;
    let body: Value = res.json().await.unwrap();
    let kinds: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("login.failure"), 9, "{kinds:?}");
    assert_eq!(count("login.locked"), 2, "{kinds:?}");
    assert_eq!(count("login.success"), 2, "{kinds:?}");
    assert_eq!(body["total"], 13);
}

#[tokio::test]
async fn login_is_rate_limited_per_client_address() {
    let app = spawn_app_with(|s| s.auth.login_per_ip_per_minute = 3, |_| {}).await;
    for _ in 0..3 {
        assert_eq!(
            attempt(&app, "who@example.fr", "whatever password")
                .await
                .status(),
            401
        );
    }
    let res = attempt(&app, "who@example.fr", "whatever password").await;
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_problem(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn disabled_accounts_cannot_sign_in_and_their_tokens_stop_working() {
    let app = spawn_app().await;
    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    let dpo = create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let admin_token = login(&app, "admin@guichet.fr", PASSWORD).await;
    let dpo_token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    assert_eq!(
        get_auth(&app, "/v1/dpo/audit", &dpo_token).await.status(),
        200
    );

    let res = app
        .client
        .post(app.url(&format!("/v1/admin/users/{dpo}/disable")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["disabled"], true);

    assert_problem(
        get_auth(&app, "/v1/dpo/audit", &dpo_token).await,
        401,
        "unauthorized",
    )
    .await;
    let res = attempt(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    assert_problem(res, 401, "unauthorized").await;
}

fn forge(alg: jsonwebtoken::Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn staff_routes_refuse_every_bad_token() {
    let app = spawn_app().await;
    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    let good = login(&app, "admin@guichet.fr", PASSWORD).await;
    let c = claims(&good);
    let key = app.state.secrets.jwt.bytes().to_vec();

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(c.to_string());
    let alg_none = format!("{header}.{payload}.");
    let wrong_key = forge(jsonwebtoken::Algorithm::HS256, &[9u8; 32], &c);
    let wrong_alg = forge(jsonwebtoken::Algorithm::HS512, &key, &c);
    let mut foreign = c.clone();
    foreign["iss"] = json!("someone-else");
    let wrong_issuer = forge(jsonwebtoken::Algorithm::HS256, &key, &foreign);
    let mut tampered_claims = c.clone();
    tampered_claims["role"] = json!("admin");
    tampered_claims["sub"] = json!(uuid::Uuid::now_v7().to_string());
    let unknown_user = forge(jsonwebtoken::Algorithm::HS256, &key, &tampered_claims);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
        parts[2]
    );

    for path in ["/v1/dpo/audit", "/v1/admin/users"] {
        assert_eq!(get_auth(&app, path, &good).await.status(), 200, "{path}");
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(res, 401, "unauthorized").await;
        let res = app
            .client
            .get(app.url(path))
            .header(
                "authorization",
                format!("Basic {}", URL_SAFE_NO_PAD.encode("a:b")),
            )
            .send()
            .await
            .unwrap();
        assert_problem(res, 401, "unauthorized").await;
        for (what, token) in [
            ("malformed", "not-a-jwt"),
            ("alg none", alg_none.as_str()),
            ("wrong key", wrong_key.as_str()),
            ("wrong algorithm", wrong_alg.as_str()),
            ("wrong issuer", wrong_issuer.as_str()),
            ("unknown user", unknown_user.as_str()),
            ("tampered payload", tampered.as_str()),
        ] {
            let res = get_auth(&app, path, token).await;
            assert_eq!(res.status(), 401, "{what} on {path}");
        }
    }

    app.clock.advance(chrono::Duration::seconds(3600));
    let res = get_auth(&app, "/v1/dpo/audit", &good).await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_dpo_sees_only_its_tenant_and_an_admin_sees_all() {
    let app = spawn_app().await;
    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    create_staff(&app, Some("dunkerque"), "dpo@cud.fr", "dpo", PASSWORD).await;
    let sevres = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let dunkerque = login(&app, "dpo@cud.fr", PASSWORD).await;
    let admin = login(&app, "admin@guichet.fr", PASSWORD).await;

    let items = |v: &Value| v["items"].as_array().unwrap().clone();
    let body: Value = get_auth(&app, "/v1/dpo/audit", &sevres)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items(&body).len(), 1);
    assert_eq!(body["items"][0]["actor"]["email"], "dpo@ville-sevres.fr");
    assert_eq!(body["items"][0]["tenant"], "sevres");
    // Another tenant, asked for by name, is one the DPO does not know.
    let res = get_auth(&app, "/v1/dpo/audit?tenant=dunkerque", &sevres).await;
    assert_eq!(res.status(), 404);
    let body: Value = get_auth(&app, "/v1/dpo/audit?tenant=sevres", &sevres)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1);

    let body: Value = get_auth(&app, "/v1/dpo/audit", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 3);
    let body: Value = get_auth(&app, "/v1/dpo/audit?tenant=dunkerque", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["actor"]["email"], "dpo@cud.fr");
    assert_problem(
        get_auth(&app, "/v1/dpo/audit?tenant=nowhere", &admin).await,
        404,
        "not_found",
    )
    .await;

    // DPOs are not admins.
    for token in [&sevres, &dunkerque] {
        assert_problem(
            get_auth(&app, "/v1/admin/users", token).await,
            403,
            "forbidden",
        )
        .await;
    }
}

#[tokio::test]
async fn the_journal_filters_by_time_and_kind_and_pages() {
    let app = spawn_app().await;
    create_staff(
        &app,
        Some("guadeloupe"),
        "dpo@cr-guadeloupe.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    for _ in 0..3 {
        attempt(&app, "dpo@cr-guadeloupe.fr", "a wrong password!").await;
        app.clock.advance(chrono::Duration::minutes(1));
    }
    let token = login(&app, "dpo@cr-guadeloupe.fr", PASSWORD).await;
    let list = |q: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            let res = get_auth(app, &format!("/v1/dpo/audit{q}"), &token).await;
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(list("").await["total"], 4);
    assert_eq!(list("?kind=login.failure").await["total"], 3);
    assert_eq!(list("?kind=login.success").await["total"], 1);
    assert_eq!(list("?kind=login").await["total"], 4);
    assert_eq!(list("?kind=user").await["total"], 0);
    assert_eq!(list("?from=2026-03-02T09:31:00Z").await["total"], 3);
    assert_eq!(list("?to=2026-03-02T09:31:00Z").await["total"], 1);
    let page = list("?per_page=3&page=2").await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let first = list("?per_page=1").await;
    let item = &first["items"][0];
    assert_eq!(item["kind"], "login.success");
    assert_eq!(item["at"], "2026-03-02T09:33:00Z");
    let pseudonym = item["ip_pseudonym"].as_str().unwrap();
    assert_eq!(pseudonym.len(), 32);
    assert!(!pseudonym.contains('.') && !pseudonym.contains(':'));

    for bad in [
        "?per_page=101",
        "?page=0",
        "?kind=DROP%20TABLE",
        "?from=yesterday",
    ] {
        let res = get_auth(&app, &format!("/v1/dpo/audit{bad}"), &token).await;
        assert!(
            res.status() == 400 || res.status() == 422,
            "{bad}: {}",
            res.status()
        );
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn admins_manage_accounts_over_http() {
    let app = spawn_app().await;
    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    let admin = login(&app, "admin@guichet.fr", PASSWORD).await;
    let create = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.client
                .post(app.url("/v1/admin/users"))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = create(json!({"tenant": "valparisis", "email": "dpo@valparisis.fr", "role": "dpo", "password": PASSWORD})).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/admin/users/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["tenant"], "valparisis");
    assert_eq!(body["role"], "dpo");
    assert!(body.get("password_hash").is_none());
    login(&app, "dpo@valparisis.fr", PASSWORD).await;

    let res = create(json!({"tenant": "valparisis", "email": "DPO@valparisis.fr", "role": "dpo", "password": PASSWORD})).await;
    assert_problem(res, 409, "email_taken").await;

    let res = create(json!({"tenant": "valparisis", "email": "b@valparisis.fr", "role": "dpo", "password": "azerty123456"})).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("common"));

    let res = create(json!({"email": "not-an-email", "role": "dpo", "password": PASSWORD})).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "tenant"]);

    let res = create(json!({"email": "x@y.fr", "role": "superuser", "password": PASSWORD})).await;
    assert_problem(res, 422, "validation_failed").await;

    let body: Value = get_auth(&app, "/v1/admin/users", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 2);
    let body: Value = get_auth(&app, "/v1/admin/users?tenant=valparisis", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["email"], "dpo@valparisis.fr");

    let res = app
        .client
        .post(app.url(&format!("/v1/admin/users/{}/disable", uuid::Uuid::now_v7())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;

    let body: Value = get_auth(&app, "/v1/dpo/audit?kind=user", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["actor"]["email"], "admin@guichet.fr");
}

#[tokio::test]
async fn no_raw_address_and_no_password_reaches_the_database_or_logs() {
    let app = spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    attempt(&app, "dpo@ville-sevres.fr", "Tr0ub4dor&3-unique-marker").await;
    login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let dump: Vec<String> = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use guichet::db::schema::audit_events::dsl::*;
            Ok(audit_events
                .select((kind, ip_pseudonym.nullable(), detail.nullable()))
                .load::<(String, Option<String>, Option<String>)>(conn)?
                .into_iter()
                .map(|r| format!("{r:?}"))
                .collect())
        })
        .await
        .unwrap();
    assert_eq!(dump.len(), 2);
    for row in &dump {
        assert!(!row.contains("127.0.0.1"), "{row}");
        assert!(!row.contains("unique-marker"), "{row}");
    }
    let logs = common::logs();
    assert!(!logs.contains("unique-marker"));
    assert!(!logs.contains(PASSWORD));
}
