//! The current consent is answered from memory, and never staler than the
//! database: a choice or a withdrawal made on one instance is what the next
//! read on another instance answers, even when the listener that carries
//! the news between them has just lost its connection.

use crate::common;

use std::time::Duration;

use crate::common::{spawn_app, TestApp};
use guichet::app::Application;
use serde_json::{json, Value};

/// A second `guichet serve` on the same database (PostgreSQL only: SQLite
/// serves one instance).
pub(crate) async fn second_instance(app: &TestApp) -> String {
    let settings = common::test_settings(app.dir.path(), &app.db);
    let other = Application::build_with(settings, app.clock.clone(), |_| {}).expect("starts");
    let port = other.port();
    tokio::spawn(other.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

async fn policy_version(client: &reqwest::Client, base: &str) -> Value {
    let policy: Value = client
        .get(format!("{base}/v1/tenants/sevres/consent-policy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    policy["policy_version"].clone()
}

pub(crate) async fn give(
    client: &reqwest::Client,
    base: &str,
    subject: &str,
    version: &Value,
    audience: bool,
) -> String {
    let res = client
        .post(format!("{base}/v1/tenants/sevres/consents"))
        .json(&json!({"subject_id": subject, "policy_version": version, "choices": {"audience": audience}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["consent_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn current(client: &reqwest::Client, base: &str, subject: &str) -> Option<Value> {
    let res = client
        .get(format!("{base}/v1/tenants/sevres/consents/{subject}"))
        .send()
        .await
        .unwrap();
    match res.status().as_u16() {
        200 => Some(res.json().await.unwrap()),
        404 => None,
        s => panic!("unexpected {s}"),
    }
}

async fn withdraw(client: &reqwest::Client, base: &str, subject: &str) {
    let res = client
        .delete(format!("{base}/v1/tenants/sevres/consents/{subject}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

/// Reads of `app`'s current consents answered from memory so far.
fn hits(app: &TestApp) -> u64 {
    app.state.consents.cache_hits().get()
}

/// Each read on `here` must answer what was last acknowledged on `there`.
/// When `here` is `served`'s, its reads again of a subject are answered
/// from memory: each of them when `every` (one instance: nothing to wait
/// for), some of them otherwise (a read waits only so long for the
/// listener to have heard the other instance).
async fn rounds(
    client: &reqwest::Client,
    here: &str,
    there: &str,
    n: usize,
    served: Option<(&TestApp, bool)>,
) {
    let start = served.map(|(app, _)| hits(app));
    let version = policy_version(client, here).await;
    for _ in 0..n {
        let subject = uuid::Uuid::new_v4().to_string();
        assert!(current(client, here, &subject).await.is_none());
        let first = give(client, there, &subject, &version, true).await;
        let seen = current(client, here, &subject).await.expect("seen at once");
        assert_eq!(seen["consent_id"], first);
        assert_eq!(seen["choices"]["audience"], true);
        // Read again (from memory this time), then changed elsewhere.
        let before = served.map(|(app, _)| hits(app));
        assert_eq!(
            current(client, here, &subject).await.unwrap()["consent_id"],
            first
        );
        if let (Some((app, true)), Some(before)) = (served, before) {
            assert_eq!(hits(app), before + 1, "answered from memory");
        }
        let second = give(client, there, &subject, &version, false).await;
        let seen = current(client, here, &subject)
            .await
            .expect("still in force");
        assert_eq!(seen["consent_id"], second);
        assert_eq!(seen["choices"]["audience"], false);
        withdraw(client, there, &subject).await;
        assert!(current(client, here, &subject).await.is_none(), "withdrawn");
    }
    if let (Some((app, _)), Some(start)) = (served, start) {
        assert!(hits(app) > start, "no read was answered from memory");
    }
}

#[tokio::test]
async fn a_choice_or_withdrawal_on_one_instance_is_read_at_once_on_another() {
    let app = spawn_app().await;
    if !app.db.is_postgres() {
        // One instance: its own writes, each read back at once, and the
        // memory holds them.
        rounds(
            &app.client,
            &app.address,
            &app.address,
            20,
            Some((&app, true)),
        )
        .await;
        let metrics = app.get("/metrics").await.text().await.unwrap();
        let line = format!("guichet_consent_cache_hits_total {}", hits(&app));
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
        return;
    }
    let other = second_instance(&app).await;
    rounds(&app.client, &app.address, &other, 20, Some((&app, false))).await;
    rounds(&app.client, &other, &app.address, 20, None).await;

    // The listener loses its connection: reads fall back on the database
    // until it is back, and stay right throughout.
    let mut admin = {
        use diesel::Connection;
        diesel::PgConnection::establish(&app.db.url).unwrap()
    };
    let killed = cut_listeners(&mut admin);
    assert!(killed >= 1, "the listeners' connections were found");
    rounds(&app.client, &app.address, &other, 10, None).await;
    // Once reconnected (by itself, a second after losing the database),
    // reads come from memory again.
    let (client, base) = (&app.client, app.address.as_str());
    let version = policy_version(client, base).await;
    let subject = uuid::Uuid::new_v4().to_string();
    give(client, base, &subject, &version, true).await;
    let before = hits(&app);
    common::wait_until(
        "a read from memory again",
        Duration::from_secs(30),
        || async {
            current(client, base, &subject).await;
            hits(&app) > before
        },
    )
    .await;
    rounds(&app.client, &app.address, &other, 5, Some((&app, false))).await;
}

/// Ends the connections of the instances' consent listeners; answers how
/// many.
fn cut_listeners(admin: &mut diesel::PgConnection) -> usize {
    use diesel::RunQueryDsl;
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'guichet consent listener' \
         AND pid <> pg_backend_pid()",
    )
    .execute(admin)
    .unwrap()
}

/// A consent for `subject` written by a tool, straight into the database
/// (as `guichet copy` or a test's seed would), not through the instance.
async fn tool_gives(app: &TestApp, subject: &str) -> String {
    let (url, subject) = (app.db.url.clone(), subject.to_owned());
    let mut conn = app.state.db.pool().get().unwrap();
    tokio::task::spawn_blocking(move || {
        let tenant = common::seed::tenant_id(&mut conn, "sevres");
        let row = guichet::consent::ConsentEvent {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant,
            subject_id: subject,
            event: "given".into(),
            policy_version: "2026-01".into(),
            choices: r#"{"essential":true,"audience":true}"#.into(),
            gpc: false,
            at: chrono::Utc::now().naive_utc(),
            expires_at: Some((chrono::Utc::now() + chrono::Duration::days(30)).naive_utc()),
            ip_pseudonym: None,
            user_agent: None,
            page_url: None,
            tc_string: None,
            receipt: None,
        };
        common::seed::store(&url)
            .insert_on(&mut conn, std::slice::from_ref(&row))
            .unwrap();
        row.id
    })
    .await
    .unwrap()
}

async fn until_alone(app: &TestApp) {
    common::wait_until(
        "the instance holds the lease of the only writer",
        Duration::from_secs(30),
        || async { app.state.consents.alone() },
    )
    .await;
}

/// Alone on its PostgreSQL database, an instance answers the current
/// consent from memory without first hearing the others' news. Anyone else
/// who writes makes it give that up first: a tool, an instance starting;
/// and a writer waits out the lease of an instance whose connection was
/// cut, which may still answer from memory until it runs out. No read is
/// ever staler than the database.
#[tokio::test]
async fn an_instance_alone_answers_from_memory_and_gives_way_to_any_other_writer() {
    let app = spawn_app().await;
    if !app.db.is_postgres() {
        // One instance on SQLite: always alone (the test above).
        return;
    }
    let (client, base) = (&app.client, app.address.as_str());
    until_alone(&app).await;
    // Its own writes and reads, from memory.
    rounds(client, base, base, 5, Some((&app, true))).await;

    // A tool writes for a subject the memory knows as without consent.
    let subject = uuid::Uuid::new_v4().to_string();
    assert!(current(client, base, &subject).await.is_none());
    let before = hits(&app);
    assert!(current(client, base, &subject).await.is_none());
    assert_eq!(hits(&app), before + 1, "answered from memory");
    let written = tool_gives(&app, &subject).await;
    let seen = current(client, base, &subject).await.expect("seen at once");
    assert_eq!(seen["consent_id"], written.as_str());

    // The listener's connection is cut while it holds the lease: a tool's
    // write waits the lease out rather than go unheard.
    until_alone(&app).await;
    let subject = uuid::Uuid::new_v4().to_string();
    assert!(current(client, base, &subject).await.is_none());
    let mut admin = {
        use diesel::Connection;
        diesel::PgConnection::establish(&app.db.url).unwrap()
    };
    assert_eq!(cut_listeners(&mut admin), 1);
    let written = tool_gives(&app, &subject).await;
    let seen = current(client, base, &subject).await.expect("seen at once");
    assert_eq!(seen["consent_id"], written.as_str());

    // A second instance starts: each reads at once what the other wrote.
    until_alone(&app).await;
    let other = second_instance(&app).await;
    rounds(client, base, &other, 10, None).await;
    rounds(client, &other, base, 10, None).await;
    assert!(!app.state.consents.alone(), "two instances listen");
}
