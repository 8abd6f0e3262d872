//! Sign-in under attack: the lock per e-mail address holds against guesses
//! sent all at once from many addresses, real and unknown addresses answer
//! alike, the owner of a locked account gets back in with the e-mailed
//! link, and tokens end with a new password, a disabled account or a
//! console sign-out.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use std::time::Instant;

use crate::common::pages::{console_get, console_post, hidden, page_of, pair, set_cookie, sign_in};
use crate::common::{create_staff, login, spawn_app_with, SmtpServer, TestApp, PASSWORD};
use diesel::prelude::*;
use futures_util::future::join_all;
use guichet::db::schema::{audit_events, login_locks, staff_revoked_tokens};
use mail_parser::MessageParser;
use serde_json::{json, Value};

const WRONG: &str = "not the password at all";

async fn attempt(
    app: &TestApp,
    email: &str,
    password: &str,
    unlock: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"email": email, "password": password});
    if let Some(token) = unlock {
        body["unlock_token"] = json!(token);
    }
    app.client
        .post(app.url("/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// How many journal entries of `kind` the app holds.
async fn journaled(app: &TestApp, kind: &'static str) -> i64 {
    app.state
        .db
        .run(move |conn| {
            Ok(audit_events::table
                .filter(audit_events::kind.eq(kind))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

/// What a client sees of an answer: status, `code`, `title`, `detail` and
/// `Retry-After`.
async fn answer(res: reqwest::Response) -> (u16, Value, Value, Value, Option<String>) {
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["code"].clone(),
        body["title"].clone(),
        body["detail"].clone(),
        retry,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_wrong_passwords_at_once_from_many_addresses_check_five_and_lock_out_the_right_one() {
    let app = spawn_app_with(
        |s| {
            s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            s.server.workers = 4;
            // The five checks wait for one another on a busy machine: never
            // long enough to be answered 503 instead.
            s.auth.hash_queue_timeout_secs = 60;
        },
        |_| {},
    )
    .await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;

    // Eight client addresses, five guesses each: the per-address rate limit
    // (30 a minute) never steps in; only the lock of the e-mail address can.
    let guesses = (0..40).map(|i| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/login"))
                .header("x-forwarded-for", format!("198.51.100.{}", 10 + i % 8))
                .json(&json!({"email": "dpo@ville-sevres.fr", "password": format!("guess number {i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
    assert_eq!(
        journaled(&app, "login.failure").await,
        5,
        "five passwords checked"
    );
    assert_eq!(journaled(&app, "login.locked").await, 35);

    // The right password, from yet another address, is not even checked.
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({"email": "dpo@ville-sevres.fr", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((14 * 60..=15 * 60).contains(&retry), "{retry}");
    common::assert_problem(res, 429, "rate_limited").await;
    assert_eq!(journaled(&app, "login.success").await, 0);

    app.clock
        .advance(chrono::Duration::minutes(15) - chrono::Duration::seconds(1));
    assert_eq!(
        attempt(&app, "dpo@ville-sevres.fr", PASSWORD, None)
            .await
            .status(),
        429,
        "until the lock ends"
    );
    app.clock.advance(chrono::Duration::seconds(1));
    login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    assert_eq!(journaled(&app, "login.failure").await, 5);
}

#[tokio::test]
async fn a_success_never_clears_a_lock_that_other_attempts_set() {
    use guichet::staff::lockout::{admit, key_of, settle, Admission, Outcome, Policy};
    let app = common::spawn_app().await;
    let state = app.state.clone();
    let key = key_of(&state.secrets.pseudonym, "dpo@ville-sevres.fr");
    let policy = Policy::new(&state.settings.auth);
    let window = chrono::Duration::minutes(i64::from(state.settings.auth.lockout_window_minutes));
    let clock = app.clock.clone();
    let (locked, after) = state
        .db
        .run(move |conn| {
            let ticket = |conn: &mut guichet::db::DbConnection, now| match admit(
                conn, &key, None, None, now, &policy,
            ) {
                Ok(Admission::Check(t)) => t,
                other => panic!("admitted, not {other:?}"),
            };
            // The right password is being checked...
            let right = ticket(conn, clock.now().naive_utc());
            // ...while its window ends and five wrong ones lock the key.
            clock.advance(window);
            let now = clock.now().naive_utc();
            let wrong: Vec<_> = (0..5).map(|_| ticket(conn, now)).collect();
            let mut locked = None;
            for t in &wrong {
                locked = locked.or(settle(conn, t, Outcome::Failed, now, &policy)?.locked_until);
            }
            settle(conn, &right, Outcome::Succeeded, now, &policy)?;
            let after = admit(conn, &key, None, None, now, &policy)?;
            Ok((locked, after))
        })
        .await
        .unwrap();
    assert!(locked.is_some(), "the fifth failure locks");
    assert!(
        matches!(after, Admission::Refused { .. }),
        "the lock stands: {after:?}"
    );
}

#[tokio::test]
async fn real_and_unknown_addresses_get_the_same_answers_in_the_same_time() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    // Five wrong passwords, then the right one (for the real address), then
    // a wrong one again; the two addresses alternate so that a time slice
    // lost to another test falls on one attempt, not on one address.
    let cases = [
        ("dpo@ville-sevres.fr", PASSWORD),
        ("nobody@ville-sevres.fr", PASSWORD),
    ];
    let mut answers = [Vec::new(), Vec::new()];
    let mut times = [Vec::new(), Vec::new()];
    for n in 0..7 {
        for (case, (email, right)) in cases.iter().enumerate() {
            let password = if n == 5 { right } else { WRONG };
            let started = Instant::now();
            let res = attempt(&app, email, password, None).await;
            if n < 5 {
                times[case].push(started.elapsed().as_secs_f64());
            }
            answers[case].push(answer(res).await);
        }
    }
    assert_eq!(answers[0], answers[1]);
    let statuses: Vec<u16> = answers[0].iter().map(|a| a.0).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let fastest = |t: &[f64]| t.iter().copied().fold(f64::INFINITY, f64::min);
    let (real, unknown) = (fastest(&times[0]), fastest(&times[1]));
    assert!(
        unknown > real * 0.5 && unknown < real * 2.0,
        "unknown address took at best {unknown:.3}s, real one {real:.3}s: {times:?}"
    );
}

/// The unlock token in the one message of `raw`.
fn unlock_token(raw: &[u8]) -> String {
    let msg = MessageParser::default().parse(raw).unwrap();
    let text = msg.body_text(0).unwrap();
    let start = text.find("/console/login?unlock=").expect("the link") + 22;
    text[start..start + 43].to_owned()
}

#[tokio::test]
async fn the_owner_of_a_locked_account_gets_back_in_with_the_emailed_link() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |s| {
        s.server.public_url = "https://guichet.example.fr".into();
        // More attempts than a minute allows one client address.
        s.auth.login_per_ip_per_minute = 1000;
    })
    .await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let lock = |email: &'static str| {
        let app = &app;
        async move {
            for _ in 0..5 {
                assert_eq!(attempt(app, email, WRONG, None).await.status(), 401);
            }
        }
    };
    lock("dpo@ville-sevres.fr").await;
    lock("nobody@ville-sevres.fr").await;
    common::deliver(&app).await;
    let raw = smtp.messages();
    assert_eq!(
        raw.len(),
        1,
        "the owner is told; a stranger's address is not"
    );
    let msg = MessageParser::default().parse(&raw[0]).unwrap();
    assert_eq!(
        msg.to().unwrap().first().unwrap().address().unwrap(),
        "dpo@ville-sevres.fr"
    );
    assert!(msg
        .body_text(0)
        .unwrap()
        .contains("https://guichet.example.fr/console/login?unlock="));
    let token = unlock_token(&raw[0]);

    // Without the link, or with a made-up one, the lock holds.
    let dpo = "dpo@ville-sevres.fr";
    assert_eq!(attempt(&app, dpo, PASSWORD, None).await.status(), 429);
    let forged = "A".repeat(43);
    assert_eq!(
        attempt(&app, dpo, PASSWORD, Some(&forged)).await.status(),
        429
    );
    // It works for the address it was sent for only.
    assert_eq!(
        attempt(&app, "nobody@ville-sevres.fr", PASSWORD, Some(&token))
            .await
            .status(),
        429
    );
    // With the link, the password is checked despite the lock.
    assert_eq!(attempt(&app, dpo, WRONG, Some(&token)).await.status(), 401);
    let res = attempt(&app, dpo, PASSWORD, Some(&token)).await;
    assert_eq!(res.status(), 200, "signed in, the lock lifted");
    login(&app, dpo, PASSWORD).await;

    // Locked again: the used link no longer works, a new one comes.
    lock(dpo).await;
    assert_eq!(
        attempt(&app, dpo, PASSWORD, Some(&token)).await.status(),
        429
    );
    common::deliver(&app).await;
    let raw = smtp.messages();
    assert_eq!(raw.len(), 2);
    let token = unlock_token(&raw[1]);
    // Three password checks at most.
    for _ in 0..3 {
        assert_eq!(attempt(&app, dpo, WRONG, Some(&token)).await.status(), 401);
    }
    assert_eq!(
        attempt(&app, dpo, PASSWORD, Some(&token)).await.status(),
        429
    );

    // After the lock, locked again: the console's sign-in page takes the link.
    app.clock.advance(chrono::Duration::minutes(15));
    lock(dpo).await;
    common::deliver(&app).await;
    let raw = smtp.messages();
    assert_eq!(raw.len(), 3);
    let token = unlock_token(&raw[2]);
    let res = app.get(&format!("/console/login?unlock={token}")).await;
    assert_eq!(res.status(), 200);
    let nonce = pair(&set_cookie(&res, "guichet_login").unwrap());
    let html = page_of(res).await;
    assert_eq!(hidden(&html, "unlock"), token);
    let res = app
        .client
        .post(app.url("/console/login"))
        .header("cookie", nonce)
        .form(&[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("unlock", token.as_str()),
            ("email", dpo),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    assert!(set_cookie(&res, "guichet_console").is_some());
    assert_eq!(attempt(&app, dpo, PASSWORD, None).await.status(), 200);
}

/// Runs `guichet users …` on the app's database, the way an operator does.
fn users(app: &TestApp, args: &[&str], stdin: &str) {
    let args: Vec<&str> = ["users"].iter().chain(args).copied().collect();
    let out = common::guichet_cli(app.dir.path(), &app.db, &args, Some(stdin));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
}

/// Signs in on the console, then out; returns the session's token.
async fn console_session_ended(app: &TestApp, email: &str) -> String {
    let console = sign_in(app, email).await;
    let res = console_post(
        app,
        &console.cookie,
        "/console/logout",
        &[("csrf", &console.csrf)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let res = console_get(app, &console.cookie, "/console").await;
    assert_eq!(res.status(), 303, "back to the sign-in page");
    console
        .cookie
        .trim_start_matches("guichet_console=")
        .to_owned()
}

/// Whether `token` still opens the staff API and, as a session cookie, a
/// console page.
async fn token_works(app: &TestApp, token: &str) -> (u16, u16, u16) {
    let api = common::get(app, token, "/v1/dpo/audit")
        .await
        .status()
        .as_u16();
    let requests = common::get(app, token, "/v1/dpo/requests")
        .await
        .status()
        .as_u16();
    let page = console_get(app, &format!("guichet_console={token}"), "/console/audit")
        .await
        .status()
        .as_u16();
    (api, requests, page)
}

#[tokio::test]
async fn tokens_end_with_a_new_password_a_disabled_account_or_a_sign_out() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    create_staff(
        &app,
        Some("sevres"),
        "other@ville-sevres.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    let before = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let other = login(&app, "other@ville-sevres.fr", PASSWORD).await;
    assert_eq!(token_works(&app, &before).await, (200, 200, 200));

    let new_password = "a brand new passphrase, long enough";
    users(
        &app,
        &[
            "set-password",
            "--email",
            "dpo@ville-sevres.fr",
            "--password-stdin",
        ],
        &format!("{new_password}\n"),
    );
    assert_eq!(token_works(&app, &before).await, (401, 401, 303));
    let after = login(&app, "dpo@ville-sevres.fr", new_password).await;
    assert_eq!(token_works(&app, &after).await, (200, 200, 200));

    assert_eq!(token_works(&app, &other).await, (200, 200, 200));
    users(&app, &["disable", "--email", "other@ville-sevres.fr"], "");
    assert_eq!(token_works(&app, &other).await, (401, 401, 303));

    // A console sign-out ends the token everywhere, not only the cookie.
    create_staff(
        &app,
        Some("sevres"),
        "third@ville-sevres.fr",
        "dpo",
        PASSWORD,
    )
    .await;
    // (The sign-in opened a console page with the token.)
    let token = console_session_ended(&app, "third@ville-sevres.fr").await;
    assert_eq!(token_works(&app, &token).await, (401, 401, 303));
    // Other sessions of the same account go on.
    let again = login(&app, "third@ville-sevres.fr", PASSWORD).await;
    assert_eq!(token_works(&app, &again).await, (200, 200, 200));
}

async fn rows(app: &TestApp) -> (i64, i64) {
    app.state
        .db
        .run(|conn| {
            Ok((
                login_locks::table.count().get_result(conn)?,
                staff_revoked_tokens::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn forgotten_locks_and_expired_revocations_are_swept() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    for who in ["a@example.org", "b@example.org", "c@example.org"] {
        attempt(&app, who, WRONG, None).await;
    }
    console_session_ended(&app, "dpo@ville-sevres.fr").await;
    assert_eq!(rows(&app).await, (4, 1));

    // Past the window and the token's expiry, the next new row takes the
    // old ones away.
    app.clock.advance(chrono::Duration::minutes(i64::from(
        app.state.settings.auth.lockout_window_minutes.max(60) + 1,
    )));
    attempt(&app, "d@example.org", WRONG, None).await;
    assert_eq!(rows(&app).await.0, 1);
    console_session_ended(&app, "dpo@ville-sevres.fr").await;
    assert_eq!(rows(&app).await.1, 1, "the expired revocation went");
}
