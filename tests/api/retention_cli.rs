//! `guichet purge` as cron runs it: the real binary on a real database,
//! dry runs, one sweep at a time, refusals, and a sweep killed with SIGKILL
//! halfway that leaves consistent data and an exact record, and on SQLite
//! the monthly consent files that go whole.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{seed, TestDatabase};
use diesel::prelude::*;
use guichet::consent::files::Month;
use guichet::db::schema::{consent_file_folds, retention_runs, rights_requests};
use guichet::db::{ConnectionManager, DbConnection};
use serde_json::Value;

fn command(dir: &Path, db: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUICHET__DATABASE__URL", &db.url)
        .env("GUICHET__LOG__LEVEL", "warn")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn guichet(dir: &Path, db: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = command(dir, db, args, env).output().unwrap();
    std::io::Write::write_all(&mut common::log_file("guichet"), &out.stderr).unwrap();
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn settings(dir: &Path, db: &TestDatabase) -> guichet::config::Settings {
    common::test_settings(dir, db)
}

fn connect(dir: &Path, db: &TestDatabase) -> DbConnection {
    ConnectionManager::new(&settings(dir, db).database)
        .unwrap()
        .open()
        .unwrap()
}

fn migrated(dir: &Path, db: &TestDatabase) -> DbConnection {
    let out = guichet(dir, db, &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = guichet(dir, db, &["tenants", "list"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    connect(dir, db)
}

#[test]
fn purge_removes_what_is_due_and_a_dry_run_says_so_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut conn = migrated(dir.path(), &db);
    let sevres = seed::tenant_id(&mut conn, "sevres");
    let nimes = seed::tenant_id(&mut conn, "nimes");
    seed::consents(&mut conn, &db.url, &sevres, 30, 500);
    seed::consents(&mut conn, &db.url, &nimes, 7, 500);
    seed::consents(&mut conn, &db.url, &sevres, 11, 10);
    seed::closed_requests(&mut conn, &dir.path().join("data"), &sevres, 3, 400);

    let out = guichet(dir.path(), &db, &["purge", "--dry-run", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dry: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(dry["dry_run"], true);
    assert!(dry["run_id"].is_null());
    assert_eq!(dry["removed"]["sevres"]["consent_events"], 30);
    assert_eq!(dry["removed"]["nimes"]["consent_events"], 7);
    assert_eq!(dry["removed"]["sevres"]["id_documents"], 3);
    assert_eq!(dry["total"], 40);
    assert_eq!(
        seed::count_consents(&mut conn, &db.url),
        48,
        "a dry run removes nothing"
    );

    let out = guichet(
        dir.path(),
        &db,
        &["purge", "--tenant", "nimes", "--json"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let only: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        only["removed"],
        serde_json::json!({"nimes": {"consent_events": 7}})
    );

    let out = guichet(dir.path(), &db, &["purge"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("removed 33 record(s)"), "{text}");
    assert!(text.contains("completed"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("sevres") && l.contains("consent_events") && l.ends_with(" 30")),
        "{text}"
    );
    assert_eq!(seed::count_consents(&mut conn, &db.url), 11);
    let runs: Vec<(String, String)> = retention_runs::table
        .select((retention_runs::trigger, retention_runs::status))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        runs,
        [
            ("cli".to_owned(), "completed".to_owned()),
            ("cli".to_owned(), "completed".to_owned())
        ]
    );

    let out = guichet(dir.path(), &db, &["purge", "--dry-run"], &[]);
    assert!(
        stdout(&out).contains("would remove 0 record(s)"),
        "{}",
        stdout(&out)
    );

    // Refusals: a future instant, an unknown tenant, a bad instant.
    let out = guichet(
        dir.path(),
        &db,
        &["purge", "--as-of", "2999-01-01T00:00:00Z"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("in the future"), "{}", stderr(&out));
    let out = guichet(
        dir.path(),
        &db,
        &[
            "purge",
            "--dry-run",
            "--as-of",
            "2999-01-01T00:00:00Z",
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "a dry run may look ahead: {}",
        stderr(&out)
    );
    let ahead: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(ahead["removed"]["sevres"]["consent_events"], 11);
    let out = guichet(dir.path(), &db, &["purge", "--tenant", "nowhere"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
    let out = guichet(dir.path(), &db, &["purge", "--as-of", "yesterday"], &[]);
    assert_eq!(out.status.code(), Some(2), "clap refuses it");
}

#[test]
fn a_purge_while_another_sweep_runs_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut conn = migrated(dir.path(), &db);
    let sevres = seed::tenant_id(&mut conn, "sevres");
    seed::consents(&mut conn, &db.url, &sevres, 5, 500);
    let held =
        guichet::retention::lock::SweepLock::try_acquire(&settings(dir.path(), &db).database)
            .unwrap()
            .expect("the lock is free");
    let out = guichet(dir.path(), &db, &["purge"], &[]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("another retention sweep is in progress"));
    let started = Instant::now();
    let out = guichet(dir.path(), &db, &["purge", "--wait", "1"], &[]);
    assert_eq!(out.status.code(), Some(75));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        seed::count_consents(&mut conn, &db.url),
        5,
        "nothing was done"
    );
    drop(held);
    let out = guichet(dir.path(), &db, &["purge", "--wait", "5"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(seed::count_consents(&mut conn, &db.url), 0);
}

#[test]
fn a_period_below_the_legal_floor_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let out = guichet(
        dir.path(),
        &db,
        &["tenants", "list"],
        &[(
            "GUICHET__TENANTS__SEVRES__RETENTION__SUPPRESSION_LIST",
            "2 years",
        )],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`tenants.sevres.retention.suppression_list`") && err.contains("3 years"),
        "{err}"
    );
    let out = guichet(
        dir.path(),
        &db,
        &["tenants", "list"],
        &[("GUICHET__RETENTION__PERIODS__DELIVERED_MAIL", "thirty days")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a period"), "{}", stderr(&out));
    let out = guichet(
        dir.path(),
        &db,
        &["tenants", "list"],
        &[("GUICHET__RETENTION__SCHEDULE", "every night")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`retention.schedule`"),
        "{}",
        stderr(&out)
    );
}

fn run_state(conn: &mut DbConnection) -> Vec<(String, String)> {
    retention_runs::table
        .order(retention_runs::started_at.asc())
        .select((retention_runs::status, retention_runs::removed))
        .load(conn)
        .unwrap()
}

fn kill9(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
}

#[test]
fn a_sweep_killed_halfway_leaves_consistent_data_and_the_next_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut conn = migrated(dir.path(), &db);
    // Tenants are swept in the order of their slugs: Dunkerque's requests
    // first, then Sèvres's consents.
    let dunkerque = seed::tenant_id(&mut conn, "dunkerque");
    let sevres = seed::tenant_id(&mut conn, "sevres");
    const REQUESTS: i64 = 300;
    const CONSENTS: i64 = 3000;
    seed::closed_requests(
        &mut conn,
        &dir.path().join("data"),
        &dunkerque,
        REQUESTS as usize,
        800,
    );
    seed::consents(&mut conn, &db.url, &sevres, CONSENTS as usize, 500);
    // Small batches with pauses: the sweep takes seconds, time enough to
    // kill it while it erases requests.
    let slow = [
        ("GUICHET__RETENTION__BATCH_SIZE", "10"),
        ("GUICHET__RETENTION__BATCH_PAUSE_MS", "20"),
    ];
    let mut child = command(dir.path(), &db, &["purge"], &slow).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progressed = run_state(&mut conn)
            .first()
            .is_some_and(|(_, removed)| removed.contains("requests_erased"));
        if progressed {
            break;
        }
        assert!(Instant::now() < deadline, "the sweep made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended too soon"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill9(&mut child);

    let state = run_state(&mut conn);
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].0, "running", "killed: no time to close the record");
    let removed: Value = serde_json::from_str(&state[0].1).unwrap();
    let recorded = |category: &str| {
        removed["dunkerque"][category].as_i64().unwrap_or(0)
            + removed["sevres"][category].as_i64().unwrap_or(0)
    };
    assert_eq!(recorded("id_documents"), REQUESTS, "documents go first");
    let erased = recorded("requests_erased");
    assert!(erased > 0, "{removed}");
    assert!(
        erased < REQUESTS || recorded("consent_events") < CONSENTS,
        "killed before the end: {removed}"
    );
    // The record counts exactly what is gone.
    let erased_rows: i64 = rights_requests::table
        .filter(rights_requests::erased_at.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(erased_rows, erased);
    assert_eq!(
        seed::count_consents(&mut conn, &db.url),
        CONSENTS - recorded("consent_events")
    );
    seed::assert_swept_consistently(&mut conn);

    // The next sweep closes the record as interrupted and finishes.
    let out = guichet(dir.path(), &db, &["purge", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["removed"]["dunkerque"]["requests_erased"]
            .as_i64()
            .unwrap_or(0),
        REQUESTS - erased
    );
    assert_eq!(seed::count_consents(&mut conn, &db.url), 0);
    let left: i64 = rights_requests::table
        .filter(rights_requests::erased_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(left, 0);
    seed::assert_swept_consistently(&mut conn);
    let statuses: Vec<String> = run_state(&mut conn).into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses, ["interrupted", "completed"]);
}

/// Every daily count, wherever it is kept.
fn all_counts(conn: &mut DbConnection, db: &TestDatabase) -> Vec<(String, String, i64)> {
    seed::store(&db.url)
        .daily_counts_on(conn, None, "0000-01-01", "9999-12-31")
        .unwrap()
        .into_iter()
        .map(|c| (c.day, c.purpose_id, c.accepted))
        .collect()
}

/// On SQLite a month whose every record is due goes with its file, in
/// three steps: the file retired, its counts folded into the main file,
/// the file deleted. A sweep stopped after the first or the second leaves
/// the next one to finish, the counts exact; the month's records are
/// removed and counted once.
#[test]
fn a_month_file_goes_whole_and_a_sweep_stopped_midway_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut conn = migrated(dir.path(), &db);
    let sevres = seed::tenant_id(&mut conn, "sevres");
    seed::consents(&mut conn, &db.url, &sevres, 20, 500);
    seed::consents(&mut conn, &db.url, &sevres, 7, 600);
    seed::consents(&mut conn, &db.url, &sevres, 5, 10);
    let store = seed::store(&db.url);
    let Some(files) = store.month_files() else {
        println!("PostgreSQL: the events are in one table, swept by ranges");
        let out = guichet(dir.path(), &db, &["purge", "--json"], &[]);
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["removed"]["sevres"]["consent_events"], 27);
        return;
    };
    let month_of =
        |days: i64| Month::of((chrono::Utc::now() - chrono::Duration::days(days)).naive_utc());
    let file_of = |days: i64| {
        files
            .files(&sevres)
            .unwrap()
            .iter()
            .find(|f| f.month == month_of(days))
            .cloned()
            .unwrap()
    };
    let (older, old) = (file_of(600), file_of(500));
    assert_ne!(older, old);
    let counts = all_counts(&mut conn, &db);
    let total: i64 = counts.iter().map(|c| c.2).sum();
    assert_eq!(total, 32, "{counts:?}");

    // Stopped after the first step: the file is retired.
    guichet::consent::files::retire(&mut files.open(&old).unwrap()).unwrap();
    // Stopped after the second: the counts are in the main file, the fold
    // recorded, the file still there.
    let mut older_conn = files.open(&older).unwrap();
    guichet::consent::files::retire(&mut older_conn).unwrap();
    let older_counts =
        guichet::consent::queries::daily_counts(&mut older_conn, None, "0000-01-01", "9999-12-31")
            .unwrap();
    drop(older_conn);
    guichet::consent::queries::add_daily_counts(&mut conn, &older_counts).unwrap();
    diesel::insert_into(consent_file_folds::table)
        .values((
            consent_file_folds::file.eq(&older.name),
            consent_file_folds::tenant_id.eq(&sevres),
            consent_file_folds::month.eq(older.month.to_string()),
            consent_file_folds::events.eq(7i64),
            consent_file_folds::folded_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(&mut conn)
        .unwrap();

    let out = guichet(dir.path(), &db, &["purge", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        report["removed"]["sevres"]["consent_events"], 20,
        "the older month's 7 were counted by the sweep that folded it"
    );
    assert!(!old.path.exists() && !older.path.exists());
    assert_eq!(files.files(&sevres).unwrap().len(), 1, "this month's stays");
    assert_eq!(seed::count_consents(&mut conn, &db.url), 5);
    assert_eq!(all_counts(&mut conn, &db), counts, "each count kept once");
    let folds: Vec<(String, i64)> = consent_file_folds::table
        .select((consent_file_folds::file, consent_file_folds::events))
        .order(consent_file_folds::events.asc())
        .load(&mut conn)
        .unwrap();
    assert_eq!(folds, [(older.name.clone(), 7), (old.name.clone(), 20)]);

    // Nothing left to do.
    let out = guichet(dir.path(), &db, &["purge", "--json"], &[]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["total"], 0, "{report}");
    assert_eq!(all_counts(&mut conn, &db), counts);
}
