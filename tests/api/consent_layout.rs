//! The consent records' leaner indexes, on a database filled before them:
//! on PostgreSQL a migration replaces the indexes of the partitioned table
//! (detached months included); every record stays as it was. SQLite's
//! month files get the same by their own upgrade (`consent::upgrade`).

use crate::common;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use guichet::consent::ConsentEvent;
use guichet::db::DbConnection;

use crate::common::seed::tenant_id;

fn naive(s: &str) -> NaiveDateTime {
    s.parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .naive_utc()
}

fn events(tenant_id: &str, from: &str, n: usize) -> Vec<ConsentEvent> {
    let from = naive(from);
    (0..n)
        .map(|i| {
            let at = from + chrono::Duration::minutes(7 * i as i64);
            ConsentEvent {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.to_owned(),
                subject_id: uuid::Uuid::new_v4().to_string(),
                event: "given".into(),
                policy_version: "2026-01".into(),
                choices: r#"{"audience":false,"essential":true}"#.into(),
                gpc: i % 2 == 0,
                at,
                expires_at: Some(at + chrono::Duration::days(395)),
                ip_pseudonym: Some(format!("{i:032x}")),
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0)".into()),
                page_url: Some("https://www.sevres.fr/demarches".into()),
                tc_string: None,
                receipt: Some(format!("header.payload{i}.signature")),
            }
        })
        .collect()
}

#[derive(QueryableByName)]
struct Index {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The indexes of a table, by definition (names dropped).
fn indexes(conn: &mut DbConnection, table: &str) -> Vec<String> {
    let mut out: Vec<String> = diesel::sql_query(format!(
        "SELECT regexp_replace(pg_get_indexdef(indexrelid), 'INDEX \\S+ ON (ONLY )?\\S+', 'INDEX ON') \
         AS name FROM pg_index WHERE indrelid = '{table}'::regclass"
    ))
    .load::<Index>(conn)
    .unwrap()
    .into_iter()
    .map(|i| i.name)
    .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_lean_indexes_replace_the_old_ones_and_every_record_stays() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDatabase::create(dir.path());
    if !db.is_postgres() {
        // SQLite's month files: `consent::upgrade`'s own test.
        return;
    }
    let settings = common::test_settings(dir.path(), &db);
    let mut conn = guichet::db::ConnectionManager::new(&settings.database)
        .unwrap()
        .open()
        .unwrap();
    // The database of the release before: every migration before this one's.
    let left = common::database::postgres_before(&mut conn, "_consent_indexes");
    let now = naive("2026-03-02T09:30:00Z");
    guichet::tenants::sync(&mut conn, &settings.tenants, now).unwrap();
    let (sevres, nimes) = (
        tenant_id(&mut conn, "sevres"),
        tenant_id(&mut conn, "nimes"),
    );
    let mut rows = events(&sevres, "2026-01-30T23:00:00Z", 50);
    rows.extend(events(&nimes, "2026-02-27T12:00:00Z", 40));
    let store = guichet::consent::ConsentStore::open(
        guichet::db::Db::new(&settings.database).unwrap(),
        &settings.database,
    );
    let partitioning = guichet::consent::partitions::Partitioning {
        months_ahead: 1,
        lock_timeout_ms: 1000,
    };
    common::database::insert_former(&mut conn, &rows);
    guichet::consent::partitions::attach_held(&mut conn, partitioning).unwrap();
    let mut before = rows.clone();
    before.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    // A month left detached by a sweep stopped between detach and drop.
    conn.batch_execute("ALTER TABLE consent_events DETACH PARTITION consent_events_p2026_01")
        .unwrap();

    let applied = guichet::db::migrate::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), left);

    assert_eq!(
        indexes(&mut conn, "consent_events"),
        [
            "CREATE INDEX ON USING btree (subject_id, at)",
            "CREATE UNIQUE INDEX ON USING btree (at, id)",
        ]
    );
    assert!(indexes(&mut conn, "consent_events_p2026_01").is_empty());
    guichet::consent::partitions::attach(
        &mut conn,
        partitioning,
        guichet::consent::files::Month {
            year: 2026,
            month: 1,
        },
    )
    .unwrap();
    assert_eq!(
        indexes(&mut conn, "consent_events_p2026_01"),
        indexes(&mut conn, "consent_events_p2026_02"),
        "attached again, the month has the table's indexes"
    );
    let after = store.all_on(&mut conn, None).unwrap();
    let debug =
        |rows: &[ConsentEvent]| -> Vec<String> { rows.iter().map(|e| format!("{e:?}")).collect() };
    assert_eq!(debug(&after), debug(&before), "every record, unchanged");
    assert_eq!(after.len(), rows.len());
    // A subject's events are found by the new index.
    let one = &rows[60];
    let latest = guichet::consent::queries::latest(&mut conn, &nimes, &one.subject_id)
        .unwrap()
        .unwrap();
    assert_eq!(format!("{latest:?}"), format!("{one:?}"));
}
