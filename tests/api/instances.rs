//! Several instances on one PostgreSQL, behind no balancer: three real
//! `guichet serve` processes, clients spread across their ports. Consents,
//! requests and staff sessions work on any instance; the scheduled sweep
//! and the DPO digest run once per slot; no e-mail is sent twice.
//!
//! On SQLite the same scenario runs with one instance, and a second
//! `guichet serve` on the same file is refused: SQLite mode is one
//! instance by design (one file, one writer, current consents kept in
//! memory), so sharing is shown on PostgreSQL only.
//!
//! Heavy (a minute of real time, three processes): ignored unless asked
//! for (`cargo test -- --include-ignored`).

use std::collections::{BTreeMap, BTreeSet};

use crate::common::cluster::{eventually, lines_of, received, Cluster};
use crate::common::cluster_clients::{self as clients, DPO};
use crate::common::{seed, SmtpServer, PASSWORD};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use guichet::db::schema::{mail_outbox, retention_runs, scheduled_runs};
use guichet::db::DbConnection;
use guichet::retention::runs::RunRow;
use guichet::rights::store::RequestRow;
use serde_json::Value;

/// Expired consents waiting for the first scheduled sweep.
const EXPIRED: usize = 1500;
/// Tenants with an overdue request: each gets a digest.
const OVERDUE_TENANTS: [&str; 2] = ["dunkerque", "nimes"];
/// Completed scheduled sweeps to see before stopping.
const SWEEPS: usize = 3;

/// Sweeps every two seconds and the digest due from midnight UTC, so that
/// both fire while the test runs (the processes keep real time); one
/// message per claim of the outbox, so that the instances' workers take
/// turns.
const SCHEDULES: &str = r#"
[retention]
schedule = "*/2 * * * * *"
timezone = "UTC"
tick_secs = 1
batch_size = 200

[requests]
submissions_per_ip_per_hour = 1000

[mail]
poll_interval_ms = 100
batch_size = 1
digest_time = "00:00"
digest_timezone = "UTC"
"#;

/// An open request three days overdue: the digest of its tenant lists it.
fn seed_overdue_request(conn: &mut DbConnection, tenant: &str, n: usize) {
    let now = Utc::now().naive_utc();
    let row = RequestRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.to_owned(),
        reference: format!("DR-OVERDUE{n}"),
        kind: guichet::rights::lifecycle::Kind::Access,
        status: guichet::rights::lifecycle::Status::Received,
        is_open: true,
        first_name: Some("Camille".into()),
        last_name: Some("Benali".into()),
        email: Some(format!("camille{n}@example.org")),
        email_hash: Some(format!("hash{n}")),
        postal_address: None,
        details: None,
        scope: None,
        grounds: None,
        search_text: Some("camille benali".into()),
        received_at: now - chrono::Duration::days(34),
        due_at: now - chrono::Duration::days(3),
        paused_at: None,
        extended: false,
        extension_reason: None,
        closed_at: None,
        outcome_reason: None,
        duplicate_of: None,
        erased_at: None,
        updated_at: now,
        subject_ids: None,
        identity_outcome: None,
        identity_method: None,
        identity_at: None,
        identity_by: None,
        identity_note: None,
        new_document_at: None,
        channel: guichet::rights::arrival::Channel::Web,
        case_id: None,
        on_behalf_first_name: None,
        on_behalf_last_name: None,
        on_behalf_relation: None,
    };
    guichet::rights::store::insert(conn, &row).unwrap();
}

fn schedule_runs(conn: &mut DbConnection) -> Vec<RunRow> {
    retention_runs::table
        .filter(retention_runs::trigger.eq("schedule"))
        .order(retention_runs::started_at.asc())
        .select(retention_runs::all_columns)
        .load::<RunRow>(conn)
        .unwrap()
}

/// (Message-ID, status, template) of every queued message.
fn outbox(conn: &mut DbConnection) -> Vec<(String, String, String)> {
    mail_outbox::table
        .select((
            mail_outbox::message_id,
            mail_outbox::status,
            mail_outbox::template,
        ))
        .load(conn)
        .unwrap()
}

fn claimed_slots(conn: &mut DbConnection, job: &str) -> BTreeSet<String> {
    scheduled_runs::table
        .filter(scheduled_runs::job.eq(job))
        .select(scheduled_runs::slot)
        .load(conn)
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: three guichet serve processes; cargo test -- --include-ignored"]
async fn instances_share_consents_requests_sessions_and_run_each_slot_once() {
    let smtp = SmtpServer::start();
    let mut c = Cluster::prepare(&smtp, SCHEDULES);
    let n = if c.db.is_postgres() {
        3
    } else {
        println!("SQLite: one instance, and a second one refused (SQLite mode is one instance by design; several instances share a PostgreSQL database)");
        1
    };
    let started = Utc::now().naive_utc();
    let mut conn = c.connect();
    let sevres = seed::tenant_id(&mut conn, "sevres");
    seed::consents(&mut conn, &c.db.url, &sevres, EXPIRED, 500);
    for (n, slug) in OVERDUE_TENANTS.iter().enumerate() {
        let tenant = seed::tenant_id(&mut conn, slug);
        seed_overdue_request(&mut conn, &tenant, n);
    }
    let args = [
        "users",
        "add",
        "--tenant",
        "sevres",
        "--email",
        DPO,
        "--role",
        "dpo",
        "--password-stdin",
    ];
    let out = c.cli(&args, Some(PASSWORD));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.start(n).await;
    if n == 1 {
        let refusal = c.refused_start().await;
        assert!(refusal.contains("SQLite serves one instance"), "{refusal}");
    }

    clients::consents_on_any_instance(&c).await;
    let submitted = clients::requests_on_any_instance(&c, &smtp).await;
    clients::console_on_any_instance(&c, &submitted).await;

    eventually("scheduled sweeps", || {
        schedule_runs(&mut conn)
            .iter()
            .filter(|r| r.status == "completed")
            .count()
            >= SWEEPS
    })
    .await;
    eventually("every message delivered", || {
        let rows = outbox(&mut conn);
        rows.iter().all(|r| r.1 == "sent") && received(&smtp).len() >= rows.len()
    })
    .await;
    // The processes finish the deliveries they have started before they
    // end: once stopped, a second delivery, if any, has arrived.
    c.stop();

    mail_arrived_once(&c, &smtp, &mut conn, n);
    digest_ran_once_per_slot(&c, &mut conn, n);
    sweeps_ran_once_per_slot(&c, &mut conn, n, started);
}

/// Every queued message arrived once, by Message-ID, sent by one instance.
fn mail_arrived_once(c: &Cluster, smtp: &SmtpServer, conn: &mut DbConnection, n: usize) {
    let rows = outbox(conn);
    let mut arrivals: BTreeMap<String, usize> = BTreeMap::new();
    for (id, _, _) in received(smtp) {
        *arrivals.entry(format!("<{id}>")).or_default() += 1;
    }
    let queued: BTreeSet<_> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(arrivals.keys().cloned().collect::<BTreeSet<_>>(), queued);
    assert!(
        arrivals.values().all(|&k| k == 1),
        "a message arrived twice: {arrivals:?}"
    );
    assert!(
        rows.len() >= 23,
        "acknowledgements, DPO notices, letters, digests: {}",
        rows.len()
    );
    let senders: Vec<usize> = (0..n)
        .map(|i| c.logs(i).matches("\"mail sent\"").count())
        .collect();
    assert_eq!(
        senders.iter().sum::<usize>(),
        rows.len(),
        "sent per instance: {senders:?}"
    );
    println!("messages sent per instance: {senders:?}");
    if n > 1 {
        assert!(
            senders.iter().filter(|&&k| k > 0).count() > 1,
            "the instances' workers took turns: {senders:?}"
        );
    }
}

/// One claim of each digest slot, one run of it, one letter per tenant
/// with overdue requests.
fn digest_ran_once_per_slot(c: &Cluster, conn: &mut DbConnection, n: usize) {
    let slots = claimed_slots(conn, "dpo_digest");
    assert!(!slots.is_empty(), "the digest of today ran");
    let runs: Vec<Value> = (0..n)
        .flat_map(|i| lines_of(&c.logs(i), "DPO digest"))
        .collect();
    assert_eq!(runs.len(), slots.len(), "one digest run per slot: {runs:?}");
    for run in &runs {
        assert_eq!(run["digests"], OVERDUE_TENANTS.len(), "{run}");
    }
    let digests = outbox(conn).iter().filter(|r| r.2 == "digest").count();
    assert_eq!(digests, OVERDUE_TENANTS.len() * slots.len());
}

/// Each slot claimed once and swept once, by one instance, one sweep after
/// the other; together they removed every expired consent once.
fn sweeps_ran_once_per_slot(
    c: &Cluster,
    conn: &mut DbConnection,
    n: usize,
    started: NaiveDateTime,
) {
    let runs = schedule_runs(conn);
    let claimed = claimed_slots(conn, "retention");
    let slots: BTreeSet<String> = runs
        .iter()
        .map(|r| r.slot.clone().expect("a slot"))
        .collect();
    assert_eq!(slots.len(), runs.len(), "a slot swept twice");
    assert!(slots.is_subset(&claimed));
    // The stop may come between a claim and its sweep: the last slot only.
    let unswept: Vec<_> = claimed.difference(&slots).collect();
    assert!(
        unswept.is_empty() || (unswept.len() == 1 && unswept[0] == claimed.last().unwrap()),
        "claimed but never swept: {unswept:?}"
    );
    for pair in runs.windows(2) {
        let end = pair[0]
            .finished_at
            .expect("only the last sweep may be cut by the stop");
        assert!(end <= pair[1].started_at, "two sweeps at once: {pair:?}");
    }
    let by_instance: Vec<BTreeSet<String>> = (0..n)
        .map(|i| {
            lines_of(&c.logs(i), "retention sweep")
                .iter()
                .filter_map(|l| l["run"].as_str().map(str::to_owned))
                .collect()
        })
        .collect();
    for run in runs.iter().filter(|r| r.finished_at.is_some()) {
        let by = by_instance.iter().filter(|s| s.contains(&run.id)).count();
        assert_eq!(by, 1, "sweep {} logged by {by} instances", run.id);
    }
    println!(
        "scheduled sweeps: {}, per instance: {:?}",
        runs.len(),
        by_instance.iter().map(|s| s.len()).collect::<Vec<_>>()
    );
    let removed: i64 = runs
        .iter()
        .flat_map(|r| r.removed().into_values())
        .filter_map(|c| c.get("consent_events").copied())
        .sum();
    assert_eq!(
        removed, EXPIRED as i64,
        "every expired consent removed once"
    );
    let limit = started - chrono::Duration::days(400);
    let left = seed::store(&c.db.url)
        .all_on(conn, None)
        .unwrap()
        .iter()
        .filter(|e| e.at < limit)
        .count();
    assert_eq!(left, 0, "no expired consent left");
}
