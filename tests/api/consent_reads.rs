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
    use diesel::RunQueryDsl;
    let killed = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE '%guichet_consent%' \
         AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .unwrap();
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
