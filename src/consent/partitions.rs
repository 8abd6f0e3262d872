//! On PostgreSQL, `consent_events` is partitioned by month of `at` (UTC):
//! one table per month, `consent_events_pYYYY_MM`, and a default partition
//! for any instant whose month has none (an old or far-future one), so
//! that an insert never fails for want of a partition. The service creates
//! the partitions of the coming months ahead, at start and from its
//! scheduler, never on a consent's path; the retention sweep detaches and
//! drops a month whose every record is due (`retention::sweep`).
//!
//! PostgreSQL refuses `DETACH PARTITION … CONCURRENTLY` on a table that
//! has a default partition: a month is detached plainly, under a short
//! lock timeout (catalogue work only, a moment of exclusive lock on the
//! table), then dropped in a transaction of its own. A month left detached
//! (a sweep stopped in between) is a table of that name that is no longer
//! a partition: the next sweep finishes it, or attaches it again.
//!
//! Each tenant's events are counted per month (`consent_month_counts`) as
//! they are written and removed, by the database itself (triggers on the
//! table, whatever the statement), so that a month that goes whole is
//! counted for the run's record without reading its rows: a scan of a
//! month of a big city's consents would take the machine's cores for a
//! second from the consents recorded meanwhile.
//!
//! Every function here but `ensure_ahead` is for PostgreSQL only.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Text, Timestamp};

use super::files::Month;
use crate::config::RetentionSettings;
use crate::db::DbConnection;

/// Key of the advisory lock held while a partition is attached ("parts").
const ATTACH_LOCK: i64 = 0x70_61_72_74_73;

/// How far ahead partitions are made, and how long an attach or a detach
/// waits for its lock on the table before giving up (meanwhile the
/// consents' writes and reads wait behind it): `retention.partition_*`.
#[derive(Debug, Clone, Copy)]
pub struct Partitioning {
    pub months_ahead: u32,
    pub lock_timeout_ms: u64,
}

impl Partitioning {
    pub fn of(settings: &RetentionSettings) -> Self {
        Self {
            months_ahead: settings.partition_months_ahead,
            lock_timeout_ms: settings.partition_lock_timeout_ms,
        }
    }
}

/// One monthly table: a partition, or left detached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthTable {
    pub month: Month,
    pub name: String,
    pub attached: bool,
}

/// The name of a month's table.
pub fn table_name(month: Month) -> String {
    format!("consent_events_p{:04}_{:02}", month.year, month.month)
}

fn month_of(name: &str) -> Option<Month> {
    let (y, m) = name.strip_prefix("consent_events_p")?.split_once('_')?;
    let (year, month) = (y.parse().ok()?, m.parse().ok()?);
    (y.len() == 4 && m.len() == 2 && (1..=12).contains(&month)).then_some(Month { year, month })
}

fn instant(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(QueryableByName)]
struct Listed {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    attached: bool,
}

/// The monthly tables, attached or not, oldest first.
pub fn tables(conn: &mut DbConnection) -> QueryResult<Vec<MonthTable>> {
    let rows: Vec<Listed> = diesel::sql_query(
        "SELECT relname::text AS name, relispartition AS attached FROM pg_class \
         WHERE relkind = 'r' AND relname ~ '^consent_events_p[0-9]{4}_[0-9]{2}$' \
         AND pg_table_is_visible(oid) ORDER BY relname",
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(MonthTable {
                month: month_of(&r.name)?,
                name: r.name,
                attached: r.attached,
            })
        })
        .collect())
}

/// Creates the partitions of the month of `now` and of the
/// `months_ahead` next ones, those missing; nothing on SQLite. Returns the
/// months created.
pub fn ensure_ahead(
    conn: &mut DbConnection,
    rules: Partitioning,
    now: NaiveDateTime,
) -> QueryResult<Vec<Month>> {
    let DbConnection::Pg(_) = conn else {
        return Ok(Vec::new());
    };
    let existing = tables(conn)?;
    let mut month = Month::of(now);
    let mut created = Vec::new();
    for _ in 0..=rules.months_ahead {
        if !existing.iter().any(|t| t.month == month && t.attached) && attach(conn, rules, month)? {
            created.push(month);
        }
        month = Month::of(month.end());
    }
    Ok(created)
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    month: NaiveDateTime,
}

/// Makes a partition of every month the default partition holds events of,
/// moving them into it: after a bulk load (`guichet copy`), so that the
/// loaded months go whole when due. Nothing on SQLite.
pub fn attach_held(conn: &mut DbConnection, rules: Partitioning) -> QueryResult<Vec<Month>> {
    let DbConnection::Pg(_) = conn else {
        return Ok(Vec::new());
    };
    let held: Vec<Held> = diesel::sql_query(
        "SELECT DISTINCT CAST(date_trunc('month', at) AS timestamp) AS month \
         FROM consent_events_default ORDER BY month",
    )
    .load(conn)?;
    let mut attached = Vec::new();
    for month in held.into_iter().map(|h| Month::of(h.month)) {
        if attach(conn, rules, month)? {
            attached.push(month);
        }
    }
    Ok(attached)
}

/// Makes `month` a partition: its table (created if need be, or the one
/// left detached) receives the default partition's events of that month,
/// then is attached, in one transaction. Instances take turns; false when
/// another one had done it.
pub fn attach(conn: &mut DbConnection, rules: Partitioning, month: Month) -> QueryResult<bool> {
    let timeout = rules.lock_timeout_ms;
    let name = table_name(month);
    let (from, to) = (instant(month.start()), instant(month.end()));
    conn.transaction(|c| {
        c.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{timeout}ms'; SELECT pg_advisory_xact_lock({ATTACH_LOCK})"
        ))?;
        if tables(c)?.iter().any(|t| t.name == name && t.attached) {
            return Ok(false);
        }
        c.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {name} \
                 (LIKE consent_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
             LOCK TABLE consent_events_default IN ACCESS EXCLUSIVE MODE;
             WITH moved AS (DELETE FROM consent_events_default \
                 WHERE at >= '{from}' AND at < '{to}' RETURNING *) \
             INSERT INTO {name} SELECT * FROM moved;
             ALTER TABLE consent_events ATTACH PARTITION {name} \
                 FOR VALUES FROM ('{from}') TO ('{to}')"
        ))?;
        Ok(true)
    })
}

/// Detaches a month's partition: no read or write reaches its events any
/// more. False when the table was too busy to be locked in time (the month
/// is then left to the sweep's batches).
pub fn detach(
    conn: &mut DbConnection,
    rules: Partitioning,
    table: &MonthTable,
) -> QueryResult<bool> {
    let done = conn.transaction(|c| {
        c.batch_execute(&format!(
            "SET LOCAL lock_timeout = '{}ms';
             ALTER TABLE consent_events DETACH PARTITION {}",
            rules.lock_timeout_ms, table.name
        ))
    });
    match done {
        Ok(()) => Ok(true),
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("lock timeout") =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[derive(QueryableByName)]
struct TenantCount {
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many events a month's table holds, per tenant id: the month's
/// counts, less the events of that month the default partition holds
/// (written after the month was detached). No row of the table is read.
pub fn counts(conn: &mut DbConnection, table: &MonthTable) -> QueryResult<Vec<(String, i64)>> {
    let rows: Vec<TenantCount> = diesel::sql_query(
        "SELECT tenant_id::text AS tenant_id, n FROM ( \
             SELECT c.tenant_id, c.events - (SELECT count(*) FROM consent_events_default d \
                 WHERE d.tenant_id = c.tenant_id AND d.at >= $2 AND d.at < $3) AS n \
             FROM consent_month_counts c WHERE c.month = $1) AS counted \
         WHERE n > 0 ORDER BY 1",
    )
    .bind::<Date, _>(table.month.start().date())
    .bind::<Timestamp, _>(table.month.start())
    .bind::<Timestamp, _>(table.month.end())
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.n)).collect())
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// Whether one of these tenants (ids) has an event of the table's month,
/// as the months' counts say (no row of a month is read: a tenant with
/// none there would have the whole table scanned).
pub fn holds_any(
    conn: &mut DbConnection,
    table: &MonthTable,
    tenant_ids: &[String],
) -> QueryResult<bool> {
    let DbConnection::Pg(conn) = conn else {
        return Ok(false);
    };
    let found: Found = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM consent_month_counts \
         WHERE month = $1 AND tenant_id = ANY(CAST($2 AS uuid[])) AND events > 0) AS found",
    )
    .bind::<Date, _>(table.month.start().date())
    .bind::<Array<Text>, _>(tenant_ids)
    .get_result(conn)?;
    Ok(found.found)
}

/// Drops a detached month's table and its counts, in the caller's
/// transaction: what remains of the month's counts are the default
/// partition's events of that month.
pub fn drop_detached(conn: &mut DbConnection, table: &MonthTable) -> QueryResult<()> {
    conn.batch_execute(&format!("DROP TABLE {}", table.name))?;
    diesel::sql_query("DELETE FROM consent_month_counts WHERE month = $1")
        .bind::<Date, _>(table.month.start().date())
        .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO consent_month_counts (tenant_id, month, events) \
         SELECT tenant_id, $1, count(*) FROM consent_events_default \
         WHERE at >= $2 AND at < $3 GROUP BY tenant_id",
    )
    .bind::<Date, _>(table.month.start().date())
    .bind::<Timestamp, _>(table.month.start())
    .bind::<Timestamp, _>(table.month.end())
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_names_its_table_and_back() {
        let m = Month {
            year: 2026,
            month: 3,
        };
        assert_eq!(table_name(m), "consent_events_p2026_03");
        assert_eq!(month_of("consent_events_p2026_03"), Some(m));
        assert_eq!(month_of("consent_events_p2026_13"), None);
        assert_eq!(month_of("consent_events_default"), None);
    }
}
