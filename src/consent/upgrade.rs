//! The migrations step of SQLite's month files, run with the main file's
//! migrations, under the same start-up lock:
//! - each file carries the version of its schema (`PRAGMA user_version`,
//!   `files::VERSION`); an older file is brought to the current one;
//! - consent events still in the main file's table (recorded before the
//!   month files existed) move into the files. Their daily counts are
//!   already in the main file's, so they move without counting them again.
//!   A move stopped anywhere is taken up by the next: rows already copied
//!   are skipped, and a row leaves the main file only once it is in its
//!   month's file.
//!
//! On PostgreSQL there is nothing to do: the events stay in their table.

use std::collections::BTreeMap;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use super::files::{ConsentFiles, Month, VERSION};
use super::queries::ConsentEvent;
use super::stored;
use crate::config::DatabaseSettings;
use crate::db::columns;
use crate::db::schema::{consent_events as events, legacy_consent_events as legacy};
use crate::db::{write_transaction, DbConnection};

/// What an upgrade changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upgraded {
    /// Files brought to the current schema.
    pub files: usize,
    /// Events moved from the main file into month files.
    pub moved: usize,
}

/// How many legacy events move per transaction of the main file.
const MOVE_BATCH: i64 = 1000;

/// Changes that take a file from one version to the next in SQL:
/// `STEPS[n]` from version `n` to `n + 1`. Files made before versions
/// existed (version 0) already have the schema of version 1. Version 3 is
/// made in Rust (`compact`).
const STEPS: [&str; 2] = ["", LEAN_INDEXES];

/// Version 2: the events found by (at, id) and by (subject_id, at) only;
/// `id` no longer has an index of its own (the table is rebuilt without
/// its primary key).
const LEAN_INDEXES: &str = "
    ALTER TABLE consent_events RENAME TO consent_events_v1;
    DROP INDEX IF EXISTS consent_events_subject;
    DROP INDEX IF EXISTS consent_events_tenant_at;
    CREATE TABLE consent_events (
        id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('given', 'withdrawn')),
        policy_version TEXT NOT NULL,
        choices TEXT NOT NULL,
        gpc BOOLEAN NOT NULL,
        at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP,
        ip_pseudonym TEXT,
        user_agent TEXT,
        page_url TEXT,
        tc_string TEXT,
        receipt TEXT
    );
    CREATE UNIQUE INDEX consent_events_at ON consent_events (at, id);
    CREATE INDEX consent_events_subject ON consent_events (subject_id, at);
    INSERT INTO consent_events SELECT * FROM consent_events_v1 ORDER BY at, id;
    DROP TABLE consent_events_v1;";

/// Version 3 begins: the version 2 table steps aside for the compact one.
const COMPACT: &str = concat!(
    "ALTER TABLE consent_events RENAME TO consent_events_v2;
     DROP INDEX consent_events_at;
     DROP INDEX consent_events_subject;",
    include_str!("file_events.sql")
);

/// Brings the month files of the database `main` belongs to up to date.
pub fn upgrade(main: &mut DbConnection, database: &DatabaseSettings) -> QueryResult<Upgraded> {
    let Some(files) = ConsentFiles::for_database(database) else {
        return Ok(Upgraded::default());
    };
    let mut done = Upgraded::default();
    for tenant in files.tenants()? {
        for file in files.files(&tenant)?.iter() {
            let mut conn = files.open(file)?;
            if upgrade_file(&mut conn)? {
                // The old table's pages go back to the system.
                conn.batch_execute("VACUUM")?;
                done.files += 1;
            }
        }
    }
    done.moved = move_legacy(main, &files)?;
    Ok(done)
}

#[derive(QueryableByName)]
struct UserVersion {
    #[diesel(sql_type = Integer)]
    user_version: i32,
}

/// The schema version of the file open on `conn`.
pub fn file_version(conn: &mut DbConnection) -> QueryResult<i32> {
    diesel::sql_query("PRAGMA user_version")
        .get_result::<UserVersion>(conn)
        .map(|v| v.user_version)
}

/// Brings one file to `VERSION`; answers whether it changed.
fn upgrade_file(conn: &mut DbConnection) -> QueryResult<bool> {
    write_transaction(conn, |c| {
        let from = file_version(c)?.max(0) as usize;
        if from >= VERSION as usize {
            return Ok(false);
        }
        for step in STEPS.iter().skip(from) {
            c.batch_execute(step)?;
        }
        compact(c)?;
        c.batch_execute(&format!("PRAGMA user_version = {VERSION}"))?;
        Ok(true)
    })
}

#[derive(QueryableByName)]
struct Numbered {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(embed)]
    event: ConsentEvent,
}

/// Version 3: every event of the version 2 table written again, compact,
/// in `(at, id)` order, a batch at a time; then that table goes.
fn compact(c: &mut DbConnection) -> QueryResult<()> {
    c.batch_execute(COMPACT)?;
    let mut after = 0i64;
    loop {
        let rows: Vec<Numbered> = diesel::sql_query(
            "SELECT rowid AS n, * FROM consent_events_v2 WHERE rowid > ? ORDER BY rowid LIMIT ?",
        )
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(MOVE_BATCH)
        .load(c)?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.n;
        let events: Vec<ConsentEvent> = rows.into_iter().map(|r| r.event).collect();
        stored::insert(c, &events)?;
    }
    c.batch_execute("DROP TABLE consent_events_v2")
}

/// Moves the main file's consent events into the month files, a batch at a
/// time; answers how many moved.
fn move_legacy(main: &mut DbConnection, files: &ConsentFiles) -> QueryResult<usize> {
    let mut moved = 0;
    loop {
        let rows: Vec<ConsentEvent> = legacy::table
            .order((legacy::at.asc(), legacy::id.asc()))
            .limit(MOVE_BATCH)
            .select(ConsentEvent::as_select())
            .load(main)?;
        if rows.is_empty() {
            return Ok(moved);
        }
        let mut groups: BTreeMap<(&str, Month), Vec<ConsentEvent>> = BTreeMap::new();
        for row in &rows {
            groups
                .entry((row.tenant_id.as_str(), Month::of(row.at)))
                .or_default()
                .push(row.clone());
        }
        for ((tenant, month), group) in groups {
            files.write(tenant, month, |c| copy_rows(c, &group))?;
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        moved += diesel::delete(legacy::table.filter(legacy::id.eq_any(ids))).execute(main)?;
    }
}

/// Writes the events a file does not have yet, without counting them.
fn copy_rows(conn: &mut DbConnection, rows: &[ConsentEvent]) -> QueryResult<()> {
    let mut rows = rows.to_vec();
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let there: Vec<String> = events::table
        .filter(events::id.eq_any(columns::uuids(ids)))
        .select(events::id)
        .load(conn)?;
    rows.retain(|r| !there.contains(&r.id));
    stored::insert(conn, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::consent_daily_counts as counts;

    const TENANT: &str = "0190f3a4-0000-7000-8000-000000000001";

    /// An event id, in the order of its letter.
    fn id(letter: &str) -> String {
        format!("0190f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a{letter}")
    }

    fn event(id: &str, at: &str) -> ConsentEvent {
        ConsentEvent {
            id: id.into(),
            tenant_id: TENANT.into(),
            subject_id: "6f1c2b9e-5d4a-4e3b-9c2d-1a0b9c8d7e6f".into(),
            event: "given".into(),
            policy_version: "v1".into(),
            choices: r#"{"essential":true}"#.into(),
            gpc: false,
            at: at.parse().unwrap(),
            expires_at: None,
            ip_pseudonym: None,
            user_agent: None,
            page_url: None,
            tc_string: None,
            receipt: None,
        }
    }

    #[derive(QueryableByName)]
    struct Named {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        name: Option<String>,
    }

    #[test]
    fn legacy_events_move_into_month_files_once_and_files_get_their_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::embedded_defaults().unwrap();
        settings.database.url = format!("sqlite://{}", dir.path().join("g.db").display()).into();
        let manager = crate::db::ConnectionManager::new(&settings.database).unwrap();
        let mut main = manager.open().unwrap();
        crate::db::migrate::run_pending(&mut main).unwrap();
        // No tenant row: what is tested here needs none.
        main.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        let legacy = [
            event(&id("a"), "2026-01-31T23:59:59"),
            event(&id("b"), "2026-02-01T00:00:00"),
            event(&id("c"), "2026-02-03T10:00:00"),
        ];
        for e in &legacy {
            diesel::insert_into(legacy::table)
                .values(e)
                .execute(&mut main)
                .unwrap();
        }
        diesel::insert_into(counts::table)
            .values((
                counts::tenant_id.eq(TENANT),
                counts::day.eq("2026-01-31"),
                counts::purpose_id.eq("essential"),
                counts::accepted.eq(1i64),
            ))
            .execute(&mut main)
            .unwrap();
        // A file made before files had a version, with the indexes of
        // version 1 and an event.
        let files = ConsentFiles::for_database(&settings.database).unwrap();
        let march = Month {
            year: 2026,
            month: 3,
        };
        let kept = ConsentEvent {
            ip_pseudonym: Some("0f".repeat(16)),
            user_agent: Some("Mozilla/5.0".into()),
            page_url: Some("https://example.org/".into()),
            expires_at: Some("2027-03-02T09:30:00.123456".parse().unwrap()),
            ..event(&id("d"), "2026-03-02T09:30:00.123456")
        };
        // Its receipt, as the service signed it.
        let signer = super::super::ReceiptSigner::new(&crate::secrets::Key::from_bytes([7; 32]));
        let receipt = signer
            .sign(&super::super::receipt::ReceiptClaims {
                iss: "https://guichet.example".into(),
                sub: kept.subject_id.clone(),
                jti: kept.id.clone(),
                iat: kept.at.and_utc().timestamp(),
                exp: kept.expires_at.unwrap().and_utc().timestamp(),
                tenant: "sevres".into(),
                policy_version: kept.policy_version.clone(),
                choices: kept.choices(),
                gpc: kept.gpc,
                policy_sha256: Some("0".repeat(64)),
            })
            .unwrap();
        let kept = ConsentEvent {
            receipt: Some(receipt),
            ..kept
        };
        files
            .write(TENANT, march, |c| {
                c.batch_execute(
                    "DROP TABLE consent_events;
                     DROP TABLE consent_strings;
                     CREATE TABLE consent_events (
                         id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,
                         subject_id TEXT NOT NULL,
                         event TEXT NOT NULL CHECK (event IN ('given', 'withdrawn')),
                         policy_version TEXT NOT NULL, choices TEXT NOT NULL,
                         gpc BOOLEAN NOT NULL, at TIMESTAMP NOT NULL,
                         expires_at TIMESTAMP, ip_pseudonym TEXT, user_agent TEXT,
                         page_url TEXT, tc_string TEXT, receipt TEXT);
                     CREATE INDEX consent_events_subject
                         ON consent_events (tenant_id, subject_id, at, id);
                     CREATE INDEX consent_events_tenant_at ON consent_events (tenant_id, at, id);
                     PRAGMA user_version = 0",
                )?;
                diesel::insert_into(legacy::table).values(&kept).execute(c)
            })
            .unwrap();

        let first = upgrade(&mut main, &settings.database).unwrap();
        assert_eq!(first, Upgraded { files: 1, moved: 3 });
        let again = upgrade(&mut main, &settings.database).unwrap();
        assert_eq!(again, Upgraded::default(), "nothing is done twice");

        let store = super::super::ConsentStore::open(
            crate::db::Db::new(&settings.database).unwrap(),
            &settings.database,
        );
        let debug: Vec<String> = store
            .all_on(&mut main, None)
            .unwrap()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert_eq!(debug[3], format!("{kept:?}"), "the file's event, unchanged");
        let ids: Vec<String> = store
            .all_on(&mut main, None)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"].map(id));
        let left: i64 = legacy::table.count().get_result(&mut main).unwrap();
        assert_eq!(left, 0, "the main file keeps none");
        // The counts were the main file's already: not counted again.
        let main_counts: i64 = counts::table.count().get_result(&mut main).unwrap();
        assert_eq!(main_counts, 1);
        let stats = store
            .count_on(&mut main, Some(TENANT))
            .expect("counted in the files");
        assert_eq!(stats, 4);
        for tenant in files.tenants().unwrap() {
            for file in files.files(&tenant).unwrap().iter() {
                let mut conn = files.open(file).unwrap();
                assert_eq!(file_version(&mut conn).unwrap(), VERSION);
                let indexes: Vec<String> = diesel::sql_query(
                    "SELECT sql AS name FROM sqlite_master WHERE type = 'index' \
                     AND tbl_name = 'consent_events' ORDER BY sql",
                )
                .load::<Named>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|n| n.name.unwrap_or_default())
                .collect();
                assert_eq!(
                    indexes,
                    [
                        "CREATE INDEX consent_events_subject ON consent_events (subject_id, at)",
                        "CREATE UNIQUE INDEX consent_events_at ON consent_events (at, id)",
                    ],
                    "{}",
                    file.name
                );
                let counted: i64 = counts::table.count().get_result(&mut conn).unwrap();
                assert_eq!(counted, 0, "{}", file.name);
                if file.month == march {
                    // The receipt kept as its signature, rebuilt whole.
                    let kept: Vec<(Option<Vec<u8>>, Option<String>)> = events::table
                        .select((events::signature, events::receipt))
                        .load(&mut conn)
                        .unwrap();
                    assert!(matches!(&kept[..], [(Some(s), None)] if s.len() == 64));
                }
            }
        }
    }
}
