//! PostgreSQL restarted under consent load, on a cluster of the test's
//! own: `/readyz` goes 503 then 200 by itself, every consent answered 201
//! is in the database, and every other answer is a clear 503 that came
//! within the configured time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use guichet::db::schema::consent_events;
use serde_json::{json, Value};

use super::outages::PrivatePostgres;
use super::support::{connect, unavailable};
use crate::common;

const CLIENTS: usize = 8;

#[derive(Debug)]
enum Outcome {
    Recorded(String),
    Refused {
        status: u16,
        code: String,
        retry_after: bool,
    },
    Failed(String),
}

struct Answer {
    at: Instant,
    took: Duration,
    outcome: Outcome,
}

async fn give(client: &reqwest::Client, base: &str) -> Outcome {
    let subject = uuid::Uuid::new_v4().to_string();
    let res = client
        .post(format!("{base}/v1/tenants/sevres/consents"))
        .json(&json!({
            "subject_id": subject, "policy_version": "2026-01",
            "choices": {"audience": true, "twitter": false},
        }))
        .send()
        .await;
    let res = match res {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("no answer: {e}")),
    };
    let status = res.status().as_u16();
    let retry_after = res.headers().contains_key("retry-after");
    let problem = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json");
    let body: Value = match res.json().await {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("{status} without a JSON body: {e}")),
    };
    match status {
        201 => Outcome::Recorded(body["consent_id"].as_str().unwrap_or_default().to_owned()),
        _ if problem => Outcome::Refused {
            status,
            code: body["code"].as_str().unwrap_or_default().to_owned(),
            retry_after,
        },
        _ => Outcome::Failed(format!("{status}: {body}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: needs PostgreSQL's server programs (initdb, pg_ctl); cargo test -- --include-ignored"]
async fn postgresql_restarted_under_consent_load_loses_no_acknowledged_consent() {
    let Some(pg) = PrivatePostgres::start() else {
        unavailable("PostgreSQL's server programs (initdb, pg_ctl)");
    };
    pg.create_database("guichet");
    let url = pg.url("guichet");
    let app = common::spawn_app_with(
        |s| {
            s.database.url = url.clone().into();
            s.database.pool_size = 4;
        },
        |_| {},
    )
    .await;
    let db = app.state.settings.database.clone();
    // No answer may take longer than the service's bound on waiting for
    // the database, with a second for the rest of the work.
    let bound = Duration::from_secs(db.acquire_timeout_secs + 1);
    let client = reqwest::Client::builder()
        .timeout(bound + Duration::from_secs(10))
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let mut load = Vec::new();
    for _ in 0..CLIENTS {
        let (client, base, stop, answers) = (
            client.clone(),
            app.address.clone(),
            stop.clone(),
            answers.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let outcome = give(&client, &base).await;
                let took = at.elapsed();
                answers.lock().unwrap().push(Answer { at, took, outcome });
            }
        }));
    }
    // Each change of readiness, as a prober every 50 ms sees it.
    let seen: Arc<Mutex<Vec<u16>>> = Arc::default();
    let readiness = {
        let (client, url, stop, seen) = (
            client.clone(),
            app.url("/readyz"),
            stop.clone(),
            seen.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let status = match client.get(&url).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&status) {
                        seen.push(status);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let recorded_since = |t: Instant| {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at >= t && matches!(a.outcome, Outcome::Recorded(_)))
            .count()
    };
    let started = Instant::now();
    common::wait_until("200 consents recorded", Duration::from_secs(60), || {
        let loaded = recorded_since(started) >= 200;
        async move { loaded }
    })
    .await;

    // The restart.
    let pg = Arc::new(pg);
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.stop()).await.unwrap();
    let down = Instant::now();
    // Down until clients notice: readiness says 503 and a consent is refused.
    let refused_since = |t: Instant| {
        answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at >= t && matches!(a.outcome, Outcome::Refused { .. }))
            .count()
    };
    common::wait_until("the outage noticed", Duration::from_secs(60), || {
        let noticed = refused_since(down) > 0 && seen.lock().unwrap().contains(&503);
        async move { noticed }
    })
    .await;
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.resume())
        .await
        .unwrap();
    let up = Instant::now();
    common::wait_until(
        "200 consents recorded again",
        Duration::from_secs(60),
        || {
            let recorded = recorded_since(up) >= 200;
            async move { recorded }
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    readiness.await.unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    let slowest = answers.iter().map(|a| a.took).max().unwrap();
    for a in &answers {
        match &a.outcome {
            Outcome::Recorded(id) => acknowledged.push(id.clone()),
            Outcome::Refused {
                status,
                code,
                retry_after,
            } => {
                assert_eq!(*status, 503, "{code}");
                assert!(
                    code == "service_unavailable" || code == "busy",
                    "a clear 503: {code}"
                );
                assert!(retry_after, "a 503 says when to try again");
                refused += 1;
            }
            Outcome::Failed(why) => panic!("a client got no clear answer: {why}"),
        }
        assert!(
            a.took <= bound,
            "an answer took {:?}, over {bound:?}",
            a.took
        );
    }
    eprintln!(
        "{} answers: {} recorded, {refused} refused; slowest {slowest:?}; readiness {seen:?}; down {:?}",
        answers.len(),
        acknowledged.len(),
        up - down
    );
    assert!(refused > 0, "the restart was noticed");
    assert_eq!(seen.first(), Some(&200), "{seen:?}");
    assert!(seen.contains(&503), "readiness went 503: {seen:?}");
    assert_eq!(
        seen.last(),
        Some(&200),
        "and back to 200 by itself: {seen:?}"
    );
    assert!(!seen.contains(&0), "readiness always answered: {seen:?}");

    let mut conn = connect(&url);
    let stored: std::collections::HashSet<String> = consent_events::table
        .select(consent_events::id)
        .load(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "consent {id} was answered 201 and lost"
        );
    }
}
