//! What an operator alerts on (issue #22): `/metrics` tells the outbox's
//! backlog, the overdue requests per tenant, the last completed sweep and
//! the consents recorded; logs written anywhere but a terminal carry no
//! colour codes.

use crate::common;

use chrono::Duration;
use serde_json::json;

use crate::common::{guichet_cli, sweep_with, TestApp, TestDatabase};

/// The value of a series of `/metrics`, by its name and labels as written.
async fn series(app: &TestApp, name: &str) -> Option<f64> {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_tell_the_backlog_the_overdue_the_last_sweep_and_the_consents() {
    let app = common::spawn_app().await;
    assert_eq!(series(&app, "guichet_mail_outbox_pending").await, Some(0.0));
    assert_eq!(
        series(&app, "guichet_retention_last_success_timestamp_seconds").await,
        Some(0.0)
    );
    assert_eq!(
        series(&app, "guichet_consents_recorded_total").await,
        Some(0.0)
    );

    // A request: its two letters wait in the outbox (no worker runs here).
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&json!({
            "kind": "access", "first_name": "Zoé", "last_name": "Lefèvre",
            "email": "zoe@example.org", "details": "Une copie de mes données.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(series(&app, "guichet_mail_outbox_pending").await, Some(2.0));
    assert_eq!(
        series(&app, r#"guichet_requests_overdue{tenant="valparisis"}"#).await,
        Some(0.0)
    );

    // A consent.
    let policy: serde_json::Value = app
        .get("/v1/tenants/sevres/consent-policy")
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(&json!({"policy_version": policy["policy_version"], "choices": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        series(&app, "guichet_consents_recorded_total").await,
        Some(1.0)
    );

    // Two months on, the request is overdue.
    app.clock.advance(Duration::days(62));
    assert_eq!(
        series(&app, r#"guichet_requests_overdue{tenant="valparisis"}"#).await,
        Some(1.0)
    );
    assert_eq!(
        series(&app, r#"guichet_requests_overdue{tenant="sevres"}"#).await,
        Some(0.0)
    );

    // A sweep completes: its time is told.
    sweep_with(&app, app.clock.now(), false, None).await;
    let at = series(&app, "guichet_retention_last_success_timestamp_seconds")
        .await
        .unwrap();
    assert!(at > 0.0, "{at}");
}

#[test]
fn logs_written_to_a_file_or_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let out = guichet_cli(dir.path(), &db, &["purge"], None);
    assert!(out.status.success());
    let logged = String::from_utf8_lossy(&out.stderr);
    assert!(logged.contains("INFO"), "a log line in text: {logged}");
    assert!(!logged.contains('\u{1b}'), "no escape code: {logged:?}");
}
