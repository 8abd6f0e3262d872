//! The consent records' leaner indexes, then their compact rows, on a
//! database filled before them: on PostgreSQL migrations replace the
//! indexes of the partitioned table and then its rows (detached months
//! included); every record stays as it was, every receipt byte for byte.
//! SQLite's month files get the same by their own upgrade
//! (`consent::upgrade`).

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
            "CREATE INDEX ON USING btree (at)",
            "CREATE INDEX ON USING btree (subject_id)",
        ],
        "the compact rows' indexes, since"
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

/// Events as the service recorded them before the compact rows: consents
/// with their signed receipts (with and without the policy's hash, as
/// signed before it was carried), withdrawals without, user agents and
/// pages repeated, a few with a TCF string; and one receipt that is not a
/// compact JWS of its event, which stays whole.
fn signed_events(
    signer: &guichet::consent::ReceiptSigner,
    tenant_id: &str,
    slug: &str,
    from: &str,
    n: usize,
) -> Vec<ConsentEvent> {
    use guichet::consent::receipt::ReceiptClaims;
    let from = naive(from);
    let agents = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15",
    ];
    (0..n)
        .map(|i| {
            let at = from
                + chrono::Duration::minutes(11 * i as i64)
                + chrono::Duration::microseconds(123_457 * i as i64);
            let expires = at + chrono::Duration::days(395);
            let withdrawn = i % 5 == 4;
            let choices: std::collections::BTreeMap<String, bool> = [
                ("audience".to_owned(), i % 3 == 0),
                ("essential".to_owned(), true),
            ]
            .into();
            let (id, subject_id) = (
                uuid::Uuid::now_v7().to_string(),
                uuid::Uuid::new_v4().to_string(),
            );
            let receipt = match i % 7 {
                _ if withdrawn => None,
                6 => Some(format!("not.a.receipt{i}")),
                k => Some(
                    signer
                        .sign(&ReceiptClaims {
                            iss: "https://guichet.example.fr".into(),
                            sub: subject_id.clone(),
                            jti: id.clone(),
                            iat: at.and_utc().timestamp(),
                            exp: expires.and_utc().timestamp(),
                            tenant: slug.to_owned(),
                            policy_version: "2026-01".into(),
                            choices: choices.clone(),
                            gpc: i % 2 == 0,
                            policy_sha256: (k % 2 == 0).then(|| "ab".repeat(32)),
                        })
                        .unwrap(),
                ),
            };
            ConsentEvent {
                id,
                tenant_id: tenant_id.to_owned(),
                subject_id,
                event: if withdrawn { "withdrawn" } else { "given" }.into(),
                policy_version: "2026-01".into(),
                choices: serde_json::to_string(&choices).unwrap(),
                gpc: i % 2 == 0,
                at,
                expires_at: (!withdrawn).then_some(expires),
                ip_pseudonym: Some(format!("{:032x}", i * 7919)),
                user_agent: (i % 4 != 3).then(|| agents[i % 2].to_owned()),
                page_url: Some(format!("https://www.{slug}.fr/page{}", i % 3)),
                tc_string: (i % 9 == 0).then(|| format!("CQ{i}AAAA.YAAA")),
                receipt,
            }
        })
        .collect()
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Counted>(conn)
        .unwrap()
        .n
}

#[tokio::test]
async fn the_compact_rows_keep_every_event_and_rebuild_every_receipt_byte_for_byte() {
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
    let left = common::database::postgres_before(&mut conn, "_consent_compact");
    guichet::tenants::sync(&mut conn, &settings.tenants, naive("2026-03-02T09:30:00Z")).unwrap();
    let (sevres, nimes) = (
        tenant_id(&mut conn, "sevres"),
        tenant_id(&mut conn, "nimes"),
    );
    let signer = guichet::consent::ReceiptSigner::new(&guichet::secrets::Key::from_bytes([9; 32]));
    let mut rows = signed_events(&signer, &sevres, "sevres", "2026-01-30T23:00:00Z", 70);
    rows.extend(signed_events(
        &signer,
        &nimes,
        "nimes",
        "2026-02-27T12:00:00Z",
        50,
    ));
    rows.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let partitioning = guichet::consent::partitions::Partitioning {
        months_ahead: 1,
        lock_timeout_ms: 1000,
    };
    common::database::insert_former(&mut conn, &rows);
    guichet::consent::partitions::attach_held(&mut conn, partitioning).unwrap();

    let applied = guichet::db::migrate::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), left);

    let store = guichet::consent::ConsentStore::open(
        guichet::db::Db::new(&settings.database).unwrap(),
        &settings.database,
    );
    let debug =
        |rows: &[ConsentEvent]| -> Vec<String> { rows.iter().map(|e| format!("{e:?}")).collect() };
    let after = store.all_on(&mut conn, None).unwrap();
    assert_eq!(
        debug(&after),
        debug(&rows),
        "every event, receipts included"
    );
    let verifier = signer.verifier();
    let signed = after
        .iter()
        .filter(|e| {
            e.receipt
                .as_deref()
                .is_some_and(|r| verifier.verify(r).is_ok())
        })
        .count();
    let whole = rows
        .iter()
        .filter(|e| e.receipt.as_deref().is_some_and(|r| r.starts_with("not.")))
        .count();
    assert!(
        signed > 50 && whole > 5,
        "{signed} signed, {whole} not receipts"
    );
    // Kept compact: a signature each, the one that is not a receipt whole.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM consent_events WHERE signature IS NOT NULL"
        ),
        signed as i64
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM consent_events WHERE receipt IS NOT NULL"
        ),
        whole as i64
    );
    // What they share, kept once: two tenants' contexts, two browsers,
    // three pages a site.
    let strings = count(&mut conn, "SELECT count(*) AS n FROM consent_strings");
    assert!(strings <= 40, "{strings} strings for {} events", rows.len());
    // The current consent and the history read them back as they were.
    let one = &rows[33];
    let latest = guichet::consent::queries::latest(&mut conn, &one.tenant_id, &one.subject_id)
        .unwrap()
        .unwrap();
    assert_eq!(format!("{latest:?}"), format!("{one:?}"));
    // New events share the strings already there.
    let more = signed_events(&signer, &nimes, "nimes", "2026-02-28T12:00:00Z", 20);
    store.insert_on(&mut conn, &more).unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM consent_strings"),
        strings,
        "the same contexts, browsers and pages"
    );
    let mut all = rows.clone();
    all.extend(more);
    all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    assert_eq!(debug(&store.all_on(&mut conn, None).unwrap()), debug(&all));

    // Back to the former layout, every receipt whole again; then forward.
    common::database::revert_through(&mut conn, "_consent_compact");
    let mut former: Vec<ConsentEvent> = guichet::db::schema::legacy_consent_events::table
        .select(ConsentEvent::as_select())
        .load(&mut conn)
        .unwrap();
    former.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    assert_eq!(debug(&former), debug(&all), "reverted, as it was");
    guichet::db::migrate::run_pending(&mut conn).unwrap();
    assert_eq!(debug(&store.all_on(&mut conn, None).unwrap()), debug(&all));
}
