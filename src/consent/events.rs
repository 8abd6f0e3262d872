//! Where the consent events are, on either backend: one table on
//! PostgreSQL; on SQLite, the monthly files of `files.rs` and, for events
//! recorded before those existed, the main file's table. The same queries
//! of `store.rs` run on each, and their answers are put together here.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::files::{ConsentFiles, EventFile, Month};
use super::store::{self, ConsentEvent, Cursor, DailyCount};
use crate::db::DbConnection;

/// Inserts events and adds them to the daily counts: on SQLite, in the
/// file of each event's tenant and month, one transaction per file.
pub fn insert(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    rows: &[ConsentEvent],
) -> QueryResult<()> {
    let Some(files) = files else {
        return store::insert(conn, rows);
    };
    let mut groups: BTreeMap<(&str, Month), Vec<ConsentEvent>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.tenant_id.as_str(), Month::of(row.at)))
            .or_default()
            .push(row.clone());
    }
    for ((tenant, month), rows) in groups {
        files.write(tenant, month, |c| store::insert_in_transaction(c, &rows))?;
    }
    Ok(())
}

/// A tenant's files (as listed, by month), a month at a time.
fn by_month(
    files: &[EventFile],
) -> std::slice::ChunkBy<'_, EventFile, impl FnMut(&EventFile, &EventFile) -> bool> {
    files.chunk_by(|a, b| a.month == b.month)
}

fn key(e: &ConsentEvent) -> (NaiveDateTime, &str) {
    (e.at, e.id.as_str())
}

/// The subject's latest event, whatever it is.
pub fn latest(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: &str,
    subject_id: &str,
) -> QueryResult<Option<ConsentEvent>> {
    let Some(files) = files else {
        return store::latest(conn, tenant_id, subject_id);
    };
    // A later month holds only later events: the first month with one
    // has the latest.
    let listed = files.files(tenant_id)?;
    for group in by_month(&listed).rev() {
        let mut best: Option<ConsentEvent> = None;
        for file in group {
            let found = files
                .read(file, |c| store::latest(c, tenant_id, subject_id))?
                .flatten();
            if let Some(e) = found {
                if best.as_ref().is_none_or(|b| key(&e) > key(b)) {
                    best = Some(e);
                }
            }
        }
        if best.is_some() {
            return Ok(best);
        }
    }
    store::latest(conn, tenant_id, subject_id)
}

/// The subject's consent in force at `now`.
pub fn current(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: &str,
    subject_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<ConsentEvent>> {
    Ok(latest(conn, files, tenant_id, subject_id)?.filter(|e| store::in_force(e, now)))
}

/// The subject's events, oldest first (at most `limit`).
pub fn history(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: &str,
    subject_id: &str,
    limit: i64,
) -> QueryResult<Vec<ConsentEvent>> {
    let mut out = store::history(conn, tenant_id, subject_id, limit)?;
    let Some(files) = files else {
        return Ok(out);
    };
    // Months in order: once they have given `limit` events, later ones
    // cannot come before them.
    let mut found = 0i64;
    let listed = files.files(tenant_id)?;
    for group in by_month(&listed) {
        if found >= limit {
            break;
        }
        for file in group {
            if let Some(rows) =
                files.read(file, |c| store::history(c, tenant_id, subject_id, limit))?
            {
                found += rows.len() as i64;
                out.extend(rows);
            }
        }
    }
    out.sort_by(|a, b| key(a).cmp(&key(b)));
    out.truncate(limit.max(0) as usize);
    Ok(out)
}

/// The tenants whose files a query of one tenant or all reads.
fn tenants_of(files: &ConsentFiles, tenant_id: Option<&str>) -> QueryResult<Vec<String>> {
    match tenant_id {
        Some(t) => Ok(vec![t.to_owned()]),
        None => files.tenants(),
    }
}

/// Daily counts between two days (inclusive), of one tenant or all.
pub fn daily_counts(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: Option<&str>,
    from: &str,
    to: &str,
) -> QueryResult<Vec<DailyCount>> {
    let main = store::daily_counts(conn, tenant_id, from, to)?;
    let Some(files) = files else {
        return Ok(main);
    };
    let mut sum: BTreeMap<(String, String, String), (i64, i64, i64)> = BTreeMap::new();
    let mut add = |rows: Vec<DailyCount>| {
        for r in rows {
            let t = sum.entry((r.day, r.tenant_id, r.purpose_id)).or_default();
            t.0 += r.accepted;
            t.1 += r.refused;
            t.2 += r.withdrawn;
        }
    };
    add(main);
    for tenant in tenants_of(files, tenant_id)? {
        for file in files.files(&tenant)?.iter() {
            let (first, last) = (file.month.start().date(), file.month.end().date());
            if last.to_string().as_str() <= from || first.to_string().as_str() > to {
                continue;
            }
            if let Some(rows) =
                files.read(file, |c| store::daily_counts(c, Some(&tenant), from, to))?
            {
                add(rows);
            }
        }
    }
    Ok(sum
        .into_iter()
        .map(
            |((day, tenant_id, purpose_id), (accepted, refused, withdrawn))| DailyCount {
                tenant_id,
                day,
                purpose_id,
                accepted,
                refused,
                withdrawn,
            },
        )
        .collect())
}

/// The next `limit` events after `cursor` in `(at, id)` order, of one
/// tenant or all, made in `[from, to)`.
pub fn export_page(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: Option<&str>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    cursor: &Cursor,
    limit: i64,
) -> QueryResult<Vec<ConsentEvent>> {
    let mut out = store::export_page(conn, tenant_id, from, to, cursor, limit)?;
    let Some(files) = files else {
        return Ok(out);
    };
    let after = cursor.as_ref().map_or(from, |(at, _)| (*at).max(from));
    for tenant in tenants_of(files, tenant_id)? {
        // Months in order: once a month has given `limit` events of this
        // tenant, later ones cannot come before them.
        let mut found = 0i64;
        let listed = files.files(&tenant)?;
        for group in by_month(&listed) {
            let month = group[0].month;
            if found >= limit {
                break;
            }
            if month.end() <= after || month.start() >= to {
                continue;
            }
            for file in group {
                let page = files.read(file, |c| {
                    store::export_page(c, Some(&tenant), from, to, cursor, limit)
                })?;
                if let Some(rows) = page {
                    found += rows.len() as i64;
                    out.extend(rows);
                }
            }
        }
    }
    out.sort_by(|a, b| key(a).cmp(&key(b)));
    out.truncate(limit.max(0) as usize);
    Ok(out)
}

/// How many events are kept, of one tenant or all.
pub fn count(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: Option<&str>,
) -> QueryResult<i64> {
    use crate::db::schema::consent_events as events;
    let count_here = |c: &mut DbConnection, t: Option<&str>| -> QueryResult<i64> {
        match t {
            Some(t) => events::table
                .filter(events::tenant_id.eq(t.to_owned()))
                .count()
                .get_result(c),
            None => events::table.count().get_result(c),
        }
    };
    let mut n = count_here(conn, tenant_id)?;
    if let Some(files) = files {
        for tenant in tenants_of(files, tenant_id)? {
            for file in files.files(&tenant)?.iter() {
                n += files.read(file, |c| count_here(c, None))?.unwrap_or(0);
            }
        }
    }
    Ok(n)
}

/// Every event kept, of one tenant or all, in `(at, id)` order.
pub fn all(
    conn: &mut DbConnection,
    files: Option<&ConsentFiles>,
    tenant_id: Option<&str>,
) -> QueryResult<Vec<ConsentEvent>> {
    // Within four-digit years: SQLite compares the instants as text.
    let year = |y| {
        chrono::NaiveDate::from_ymd_opt(y, 1, 1)
            .unwrap_or_default()
            .and_time(chrono::NaiveTime::MIN)
    };
    let (from, to) = (year(1), year(9999));
    export_page(conn, files, tenant_id, from, to, &None, i64::MAX)
}
