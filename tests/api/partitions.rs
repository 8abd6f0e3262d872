//! Consent events by month: on PostgreSQL, partitions of `consent_events`
//! created ahead, an unpartitioned table moved into them by a migration,
//! and a month whose every record is due dropped whole by the sweep, its
//! count in the run's record exactly what batches would have removed (from
//! each tenant's count of the month, kept by the database as events are
//! written and removed, two writers at once included); on SQLite, the month
//! files, which already go whole.

use crate::common;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use guichet::consent::partitions::{self, MonthTable, Partitioning};
use guichet::consent::ConsentEvent;
use guichet::db::DbConnection;
use guichet::retention::sweep::Report;
use serde_json::{json, Value};

use crate::common::seed::tenant_id;
use crate::common::{sweep_with, TestApp};
use crate::consent_reads::{give, second_instance};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn naive(s: &str) -> NaiveDateTime {
    t(s).naive_utc()
}

/// `n` consents of a tenant given from `from`, a minute apart, with the
/// audience accepted, as the service records them.
fn events(tenant_id: &str, from: &str, n: usize) -> Vec<ConsentEvent> {
    let from = naive(from);
    (0..n)
        .map(|i| {
            let at = from + chrono::Duration::minutes(i as i64);
            ConsentEvent {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.to_owned(),
                subject_id: uuid::Uuid::new_v4().to_string(),
                event: "given".into(),
                policy_version: "2026-01".into(),
                choices: r#"{"essential":true,"audience":true}"#.into(),
                gpc: false,
                at,
                expires_at: Some(at + chrono::Duration::days(180)),
                ip_pseudonym: None,
                user_agent: None,
                page_url: None,
                tc_string: None,
                receipt: None,
            }
        })
        .collect()
}

fn connect(app: &TestApp) -> guichet::db::PooledConnection {
    app.state.db.pool().get().unwrap()
}

fn insert(app: &TestApp, rows: &[ConsentEvent]) {
    app.state
        .consents
        .insert_on(&mut connect(app), rows)
        .unwrap();
}

fn count(app: &TestApp, tenant: Option<&str>) -> i64 {
    app.state
        .consents
        .count_on(&mut connect(app), tenant)
        .unwrap()
}

/// The daily counts of a year, as the statistics read them.
fn daily(app: &TestApp) -> Vec<String> {
    app.state
        .consents
        .daily_counts_on(&mut connect(app), None, "2026-01-01", "2027-12-31")
        .unwrap()
        .into_iter()
        .map(|c| format!("{c:?}"))
        .collect()
}

fn month_tables(conn: &mut DbConnection) -> Vec<(String, bool)> {
    partitions::tables(conn)
        .unwrap()
        .into_iter()
        .map(|MonthTable { name, attached, .. }| (name, attached))
        .collect()
}

#[derive(QueryableByName)]
struct Placed {
    #[diesel(sql_type = Text)]
    place: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Where the events are: how many in each partition.
fn placement(conn: &mut DbConnection) -> Vec<(String, i64)> {
    diesel::sql_query(
        "SELECT tableoid::regclass::text AS place, count(*) AS n FROM consent_events \
         GROUP BY 1 ORDER BY 1",
    )
    .load::<Placed>(conn)
    .unwrap()
    .into_iter()
    .map(|p| (p.place, p.n))
    .collect()
}

/// "tenant month" and a number of events, in order.
type Counts = Vec<(String, i64)>;

/// Each tenant's events per month, as the kept counts say (those not
/// zero) and as the rows in the table and any detached month say.
fn month_counts(conn: &mut DbConnection) -> (Counts, Counts) {
    let load = |conn: &mut DbConnection, sql: String| -> Counts {
        diesel::sql_query(sql)
            .load::<Placed>(conn)
            .unwrap()
            .into_iter()
            .map(|p| (p.place, p.n))
            .collect()
    };
    let kept = load(
        conn,
        "SELECT tenant_id::text || ' ' || month::text AS place, events AS n \
         FROM consent_month_counts WHERE events <> 0 ORDER BY 1"
            .to_owned(),
    );
    let mut tables = vec!["consent_events".to_owned()];
    tables.extend(
        partitions::tables(conn)
            .unwrap()
            .into_iter()
            .filter(|t| !t.attached)
            .map(|t| t.name),
    );
    let rows = tables
        .iter()
        .map(|t| format!("SELECT tenant_id, at FROM {t}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let counted = load(
        conn,
        format!(
            "SELECT tenant_id::text || ' ' || CAST(date_trunc('month', at) AS date)::text AS place, \
             count(*) AS n FROM ({rows}) AS r GROUP BY 1 ORDER BY 1"
        ),
    );
    (kept, counted)
}

/// The months' counts agree with the rows (PostgreSQL).
fn counts_agree(app: &TestApp) {
    if app.db.is_postgres() {
        let (kept, counted) = month_counts(&mut connect(app));
        assert_eq!(kept, counted, "the months' counts are the rows'");
    }
}

/// The service's partitioning settings.
fn rules(app: &TestApp) -> Partitioning {
    Partitioning::of(&app.state.settings.retention)
}

fn removed(report: &Report, slug: &str) -> i64 {
    report
        .removed
        .get(slug)
        .and_then(|c| c.get("consent_events"))
        .copied()
        .unwrap_or(0)
}

/// What the run's record in the database says it removed.
fn recorded(app: &TestApp, report: &Report) -> Value {
    use guichet::db::schema::retention_runs as runs;
    let mut pooled = connect(app);
    let conn: &mut DbConnection = &mut pooled;
    let text: String = runs::table
        .find(report.run_id.clone().unwrap())
        .select(runs::removed)
        .first(conn)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_coming_months_have_their_partitions_from_the_start() {
    let app = common::spawn_app().await;
    if !app.db.is_postgres() {
        // SQLite keeps each month in files of its own: nothing to create.
        assert!(partitions::ensure_ahead(
            &mut connect(&app),
            rules(&app),
            naive("2026-03-02T09:30:00Z")
        )
        .unwrap()
        .is_empty());
        return;
    }
    // The clock says 2 March 2026: that month and the next three.
    let months = |from: u32| -> Vec<(String, bool)> {
        (from..from + 4)
            .map(|m| (format!("consent_events_p2026_{m:02}"), true))
            .collect()
    };
    assert_eq!(month_tables(&mut connect(&app)), months(3));
    let sevres = tenant_id(&mut connect(&app), "sevres");
    // A consent of the month goes to its partition; one of a month without
    // any (a far-future instant) to the default partition, never refused.
    let now = events(&sevres, "2026-03-02T09:30:00Z", 1);
    let far = events(&sevres, "2026-08-14T12:00:00Z", 2);
    insert(&app, &now);
    insert(&app, &far);
    assert_eq!(
        placement(&mut connect(&app)),
        [
            ("consent_events_default".to_owned(), 2),
            ("consent_events_p2026_03".to_owned(), 1)
        ]
    );
    // Months later, the scheduler creates the next ones; August's events
    // leave the default partition for August's.
    app.clock.set(t("2026-06-20T00:00:00Z"));
    let scheduler = app.state.retention.clone();
    tokio::task::spawn_blocking(move || scheduler.prepare_months())
        .await
        .unwrap()
        .unwrap();
    let mut expected = months(3);
    expected.extend(months(7).into_iter().take(3));
    assert_eq!(month_tables(&mut connect(&app)), expected);
    assert_eq!(
        placement(&mut connect(&app)),
        [
            ("consent_events_p2026_03".to_owned(), 1),
            ("consent_events_p2026_08".to_owned(), 2)
        ]
    );
    // A second look, or a second instance, creates nothing more.
    assert!(partitions::ensure_ahead(
        &mut connect(&app),
        rules(&app),
        naive("2026-06-20T00:00:00Z")
    )
    .unwrap()
    .is_empty());
    // Further ahead when the operator asks (retention.partition_months_ahead).
    let further = Partitioning {
        months_ahead: 5,
        ..rules(&app)
    };
    let created: Vec<String> =
        partitions::ensure_ahead(&mut connect(&app), further, naive("2026-06-20T00:00:00Z"))
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
    assert_eq!(created.len(), 2, "October and November: {created:?}");
    let history = app
        .get(&format!(
            "/v1/tenants/sevres/consents/{}/history",
            far[1].subject_id
        ))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let at: DateTime<Utc> = history["items"][0]["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.naive_utc(), far[1].at);
}

#[tokio::test]
async fn a_migration_moves_the_records_of_the_last_release_into_months() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDatabase::create(dir.path());
    if !db.is_postgres() {
        // SQLite moved its records into month files long ago (`upgrade.rs`).
        return;
    }
    let settings = common::test_settings(dir.path(), &db);
    let mut conn = guichet::db::ConnectionManager::new(&settings.database)
        .unwrap()
        .open()
        .unwrap();
    // The database of the release before: every migration before this one's.
    let left = common::database::postgres_before(&mut conn, "_consent_partitions");
    let now = naive("2026-03-02T09:30:00Z");
    guichet::tenants::sync(&mut conn, &settings.tenants, now).unwrap();
    let (sevres, nimes) = (
        tenant_id(&mut conn, "sevres"),
        tenant_id(&mut conn, "nimes"),
    );
    let mut rows = events(&sevres, "2025-11-30T23:30:00Z", 120);
    rows.extend(events(&nimes, "2026-01-31T23:50:00Z", 40));
    rows.extend(events(&sevres, "2031-05-01T00:00:00Z", 3));
    common::database::insert_former(&mut conn, &rows);
    let counts_before = daily_of(&mut conn);

    let applied = guichet::db::migrate::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), left, "this one's and those after");

    // Every record, once, unchanged.
    let store = guichet::consent::ConsentStore::open(
        guichet::db::Db::new(&settings.database).unwrap(),
        &settings.database,
    );
    let mut stored = store.all_on(&mut conn, None).unwrap();
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    let stored: Vec<String> = stored.iter().map(|e| format!("{e:?}")).collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let given: Vec<String> = rows.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(stored, given);
    // Each in its month's partition.
    assert_eq!(
        placement(&mut conn),
        [
            ("consent_events_p2025_11".to_owned(), 30),
            ("consent_events_p2025_12".to_owned(), 90),
            ("consent_events_p2026_01".to_owned(), 10),
            ("consent_events_p2026_02".to_owned(), 30),
            ("consent_events_p2031_05".to_owned(), 3),
        ]
    );
    assert_eq!(daily_of(&mut conn), counts_before);
    // Each tenant's months counted.
    let (kept, counted) = month_counts(&mut conn);
    assert_eq!(kept, counted);
    assert_eq!(kept.len(), 5);
    // The service starts on it and adds the coming months.
    drop(conn);
    guichet::app::prepare_database(
        &settings,
        &guichet::clock::Clock::fixed(t("2026-03-02T09:30:00Z")),
    )
    .unwrap();
    let mut conn = guichet::db::ConnectionManager::new(&settings.database)
        .unwrap()
        .open()
        .unwrap();
    let names: Vec<String> = month_tables(&mut conn)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "consent_events_p2025_11",
            "consent_events_p2025_12",
            "consent_events_p2026_01",
            "consent_events_p2026_02",
            "consent_events_p2026_03",
            "consent_events_p2026_04",
            "consent_events_p2026_05",
            "consent_events_p2026_06",
            "consent_events_p2031_05",
        ]
    );
}

fn daily_of(conn: &mut DbConnection) -> Vec<String> {
    guichet::consent::queries::daily_counts(conn, None, "2000-01-01", "2099-12-31")
        .unwrap()
        .into_iter()
        .map(|c| format!("{c:?}"))
        .collect()
}

/// Sèvres keeps consents 13 months, Nîmes 25.
async fn two_periods() -> TestApp {
    common::spawn_app_with(
        |s| {
            let nimes = &mut s.tenants.get_mut("nimes").unwrap().retention;
            nimes.consent_records = Some("25 months".parse().unwrap());
        },
        |_| {},
    )
    .await
}

#[tokio::test]
async fn a_month_due_in_every_tenant_goes_whole_and_counts_as_batches_would() {
    let app = two_periods().await;
    let sevres = tenant_id(&mut connect(&app), "sevres");
    let nimes = tenant_id(&mut connect(&app), "nimes");
    // March: Sèvres only. April: both. May: Sèvres, early and late.
    insert(&app, &events(&sevres, "2026-03-05T10:00:00Z", 30));
    insert(&app, &events(&sevres, "2026-04-10T10:00:00Z", 20));
    insert(&app, &events(&nimes, "2026-04-15T10:00:00Z", 5));
    insert(&app, &events(&sevres, "2026-05-03T10:00:00Z", 10));
    insert(&app, &events(&sevres, "2026-05-25T10:00:00Z", 10));
    let counts = daily(&app);
    counts_agree(&app);

    // 13 months before 10 June 2027 is 10 May 2026: March and April are
    // past Sèvres's period, early May too; Nîmes keeps April's.
    let as_of = t("2027-06-10T00:00:00Z");
    app.clock.set(as_of);
    let dry = sweep_with(&app, as_of, true, None).await;
    assert_eq!((removed(&dry, "sevres"), removed(&dry, "nimes")), (60, 0));
    let report = sweep_with(&app, as_of, false, None).await;
    assert_eq!(report.removed, dry.removed);
    assert_eq!(
        recorded(&app, &report),
        json!({"sevres": {"consent_events": 60}})
    );
    assert_eq!(count(&app, Some(&sevres)), 10);
    assert_eq!(count(&app, Some(&nimes)), 5);
    assert_eq!(daily(&app), counts, "the daily counts stay");
    if app.db.is_postgres() {
        // March went whole; April (Nîmes's records) and May in batches.
        let mut conn = connect(&app);
        assert_eq!(
            month_tables(&mut conn),
            [
                ("consent_events_p2026_04".to_owned(), true),
                ("consent_events_p2026_05".to_owned(), true),
                ("consent_events_p2026_06".to_owned(), true),
            ]
        );
        assert_eq!(
            placement(&mut conn),
            [
                ("consent_events_p2026_04".to_owned(), 5),
                ("consent_events_p2026_05".to_owned(), 10),
            ]
        );
    }
    counts_agree(&app);
    let again = sweep_with(&app, as_of, false, None).await;
    assert_eq!(again.total, 0);

    // Twenty-five months after April, Nîmes's records go too, whole.
    let as_of = t("2028-06-02T00:00:00Z");
    app.clock.set(as_of);
    let report = sweep_with(&app, as_of, false, None).await;
    assert_eq!(
        recorded(&app, &report),
        json!({"sevres": {"consent_events": 10}, "nimes": {"consent_events": 5}})
    );
    assert_eq!(count(&app, None), 0);
    assert_eq!(daily(&app), counts, "the daily counts stay");
    if app.db.is_postgres() {
        assert_eq!(month_tables(&mut connect(&app)), []);
    }
    counts_agree(&app);
}

#[tokio::test]
async fn a_month_left_detached_by_a_stopped_sweep_is_finished_by_the_next() {
    let app = two_periods().await;
    if !app.db.is_postgres() {
        // SQLite has no partition to leave detached.
        return;
    }
    let sevres = tenant_id(&mut connect(&app), "sevres");
    insert(&app, &events(&sevres, "2026-03-05T10:00:00Z", 30));
    insert(&app, &events(&sevres, "2026-05-25T10:00:00Z", 7));
    // Stopped after detaching March (due) and May (not due: the detach of
    // a month the sweep then finds busy with a recent record, say).
    let detach = |name: &str| {
        let mut pooled = connect(&app);
        let conn: &mut DbConnection = &mut pooled;
        diesel::sql_query(format!(
            "ALTER TABLE consent_events DETACH PARTITION {name}"
        ))
        .execute(conn)
        .unwrap();
    };
    detach("consent_events_p2026_03");
    detach("consent_events_p2026_05");
    assert_eq!(count(&app, None), 0, "no read reaches them");
    // A March record written meanwhile lands in the default partition: it
    // is counted with March, and goes in a batch, not with the table.
    insert(&app, &events(&sevres, "2026-03-20T10:00:00Z", 1));
    counts_agree(&app);
    let counts = daily(&app);

    let as_of = t("2027-06-10T00:00:00Z");
    app.clock.set(as_of);
    let dry = sweep_with(&app, as_of, true, None).await;
    assert_eq!(removed(&dry, "sevres"), 31);
    let report = sweep_with(&app, as_of, false, None).await;
    assert_eq!(
        recorded(&app, &report),
        json!({"sevres": {"consent_events": 31}})
    );
    // March is gone (and April, empty); May is a partition again, its
    // records read.
    assert_eq!(
        month_tables(&mut connect(&app)),
        [
            ("consent_events_p2026_05".to_owned(), true),
            ("consent_events_p2026_06".to_owned(), true),
        ]
    );
    assert_eq!(count(&app, None), 7);
    assert_eq!(daily(&app), counts);
    counts_agree(&app);
}

#[tokio::test]
async fn two_writers_of_one_month_both_count() {
    let app = common::spawn_app().await;
    if !app.db.is_postgres() {
        // SQLite's month file has one writer at a time.
        return;
    }
    let sevres = tenant_id(&mut connect(&app), "sevres");
    // The month's count and the events' strings are there already: the
    // two writers meet on the count alone.
    insert(&app, &events(&sevres, "2026-03-05T10:00:00Z", 1));
    let (first, second) = (
        events(&sevres, "2026-03-06T10:00:00Z", 20),
        events(&sevres, "2026-03-07T10:00:00Z", 20),
    );
    let (written, was_written) = std::sync::mpsc::channel::<()>();
    let (go_on, may_go_on) = std::sync::mpsc::channel::<()>();
    let store = &app.state.consents;
    std::thread::scope(|s| {
        let mut one = connect(&app);
        let a = s.spawn(move || {
            let conn: &mut DbConnection = &mut one;
            conn.transaction(|c| -> QueryResult<()> {
                store.insert_on(c, &first)?;
                // Counted, not committed: the other writer comes now.
                written.send(()).unwrap();
                may_go_on.recv().unwrap();
                Ok(())
            })
        });
        was_written.recv().unwrap();
        let mut two = connect(&app);
        let pid = common::database::backend_pid(&mut two);
        let b = s.spawn(move || {
            let conn: &mut DbConnection = &mut two;
            conn.transaction(|c| store.insert_on(c, &second))
        });
        // The second writer waits on the first one's count of the month.
        common::database::await_lock_wait(
            &mut connect(&app),
            pid,
            "the second writer never waited on the first one's count",
        );
        go_on.send(()).unwrap();
        a.join().unwrap().expect("the first writer commits");
        b.join().unwrap().expect("the second writer commits");
    });
    let (kept, _) = month_counts(&mut connect(&app));
    assert_eq!(kept, [(format!("{sevres} 2026-03-01"), 41)]);
    counts_agree(&app);
}

fn id_of(consent: &Value) -> String {
    consent["consent_id"].as_str().unwrap().to_owned()
}

/// What an instance answers of a subject: its current consent's id (none
/// when none is in force) and how many events its history holds.
async fn read(app: &TestApp, base: &str, subject: &str) -> (Option<String>, usize) {
    let path = format!("{base}/v1/tenants/sevres/consents/{subject}");
    let res = app.client.get(&path).send().await.unwrap();
    let current = match res.status().as_u16() {
        200 => Some(id_of(&res.json::<Value>().await.unwrap())),
        404 => None,
        s => panic!("current consent: {s}"),
    };
    let res = app
        .client
        .get(format!("{path}/history"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "history");
    let history = res.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .len();
    (current, history)
}

#[tokio::test]
async fn instances_reading_a_month_as_it_is_dropped_answer_as_the_database_does() {
    let app = common::spawn_app().await;
    // SQLite serves one instance: its reads while a month file goes.
    let mut bases = vec![app.address.clone()];
    if app.db.is_postgres() {
        bases.push(second_instance(&app).await);
    }
    // Subjects of March 2026, their consents read on both instances (and
    // so in the memory of both).
    app.clock.set(t("2026-03-10T09:00:00Z"));
    let mut old = Vec::new();
    for i in 0..12 {
        let subject = uuid::Uuid::new_v4().to_string();
        let id = give(
            &app.client,
            &bases[i % bases.len()],
            &subject,
            &json!("2026-01"),
            true,
        )
        .await;
        for base in &bases {
            assert_eq!(read(&app, base, &subject).await, (Some(id.clone()), 1));
        }
        old.push((subject, id));
    }
    // Fifteen months on: March's consents have expired; a subject of now.
    let as_of = t("2027-06-10T00:00:00Z");
    app.clock.set(as_of);
    let (recent, recent_id) = {
        let subject = uuid::Uuid::new_v4().to_string();
        let id = give(
            &app.client,
            bases.last().unwrap(),
            &subject,
            &json!("2026-01"),
            true,
        )
        .await;
        (subject, id)
    };
    for (subject, _) in &old {
        for base in &bases {
            assert_eq!(read(&app, base, subject).await, (None, 1));
        }
    }

    // The sweep drops March while both instances read its subjects.
    let sweep = sweep_with(&app, as_of, false, None);
    let reads = async {
        let mut during = 0;
        for round in 0..4 {
            for (i, (subject, _)) in old.iter().enumerate() {
                let (current, history) =
                    read(&app, &bases[(i + round) % bases.len()], subject).await;
                assert_eq!(current, None);
                assert!(history <= 1, "the month is there or not, whole");
                during += 1;
            }
            let (current, _) = read(&app, &bases[round % bases.len()], &recent).await;
            assert_eq!(current.as_deref(), Some(recent_id.as_str()));
        }
        during
    };
    let (report, during) = tokio::join!(sweep, reads);
    assert!(during > 0);
    assert_eq!(removed(&report, "sevres"), 12);
    if app.db.is_postgres() {
        assert!(!month_tables(&mut connect(&app))
            .iter()
            .any(|(name, _)| name == "consent_events_p2026_03"));
    }
    // Then both answer as the database does: nothing of March.
    for (subject, _) in &old {
        for base in &bases {
            assert_eq!(read(&app, base, subject).await, (None, 0));
        }
    }
    for base in &bases {
        assert_eq!(
            read(&app, base, &recent).await,
            (Some(recent_id.clone()), 1)
        );
    }
}
