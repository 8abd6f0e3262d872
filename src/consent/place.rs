//! Where the consent events are, on either backend: one table on
//! PostgreSQL; on SQLite, the monthly files of `files.rs` (events recorded
//! in the main file before those existed are moved into them by the
//! migrations step, `upgrade.rs`). The same queries of `queries.rs` run on
//! each, and their answers are put together here.
//!
//! Functions given `main`, a connection to the main database, read or
//! write the table there on PostgreSQL; on SQLite the main file keeps only
//! the daily counts of the files a sweep removed.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::files::{ConsentFiles, EventFile, Month};
use super::queries::{self, ConsentEvent, Cursor, DailyCount};
use super::stored::Read;
use super::{lease, sync};
use crate::db::DbConnection;

/// Where a database keeps its consent events.
pub enum Place {
    /// PostgreSQL's `consent_events` table.
    Table,
    /// SQLite's month files.
    Months(Box<ConsentFiles>),
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

/// The tenants whose files a query of some tenants or all reads.
fn tenants_of(files: &ConsentFiles, tenant_ids: Option<&[String]>) -> QueryResult<Vec<String>> {
    match tenant_ids {
        Some(ids) => Ok(ids.to_vec()),
        None => files.tenants(),
    }
}

/// Sorts what several files gave and keeps the first `limit`.
fn merged(mut rows: Vec<ConsentEvent>, limit: i64) -> Vec<ConsentEvent> {
    rows.sort_by(|a, b| key(a).cmp(&key(b)));
    rows.truncate(limit.max(0) as usize);
    rows
}

impl Place {
    /// Inserts events and adds them to the daily counts: on PostgreSQL in
    /// one transaction, by `writer` (see `lease.rs`), that also tells the
    /// other instances (`sync.rs`); on SQLite, in the file of each event's
    /// tenant and month, one transaction per file.
    pub fn insert(
        &self,
        main: &mut DbConnection,
        rows: &[ConsentEvent],
        writer: &str,
    ) -> QueryResult<()> {
        let Self::Months(files) = self else {
            return main.transaction(|conn| {
                if let DbConnection::Pg(c) = conn {
                    lease::check(c, writer)?;
                }
                queries::insert_in_transaction(conn, rows)?;
                match conn {
                    DbConnection::Pg(c) => sync::notify(c, rows),
                    DbConnection::Sqlite(_) => Ok(()),
                }
            });
        };
        let mut groups: BTreeMap<(&str, Month), Vec<ConsentEvent>> = BTreeMap::new();
        for row in rows {
            groups
                .entry((row.tenant_id.as_str(), Month::of(row.at)))
                .or_default()
                .push(row.clone());
        }
        for ((tenant, month), rows) in groups {
            files.write(tenant, month, |c| queries::insert_in_transaction(c, &rows))?;
        }
        Ok(())
    }

    /// The subject's latest event, whatever it is, from the files alone:
    /// `None` on PostgreSQL, whose table needs a connection (`latest`).
    pub fn latest_in_files(
        &self,
        tenant_id: &str,
        subject_id: &str,
    ) -> Option<QueryResult<Option<ConsentEvent>>> {
        let Self::Months(files) = self else {
            return None;
        };
        Some(latest_in(files, tenant_id, subject_id))
    }

    /// The subject's latest event, whatever it is.
    pub fn latest(
        &self,
        main: &mut DbConnection,
        tenant_id: &str,
        subject_id: &str,
    ) -> QueryResult<Option<ConsentEvent>> {
        match self {
            Self::Table => queries::latest(main, tenant_id, subject_id),
            Self::Months(files) => latest_in(files, tenant_id, subject_id),
        }
    }

    /// The subject's events, oldest first (at most `limit`), from the files
    /// alone: `None` on PostgreSQL, whose table needs a connection
    /// (`history`).
    pub fn history_in_files(
        &self,
        tenant_id: &str,
        subject_id: &str,
        limit: i64,
    ) -> Option<QueryResult<Vec<ConsentEvent>>> {
        let Self::Months(files) = self else {
            return None;
        };
        Some(history_in(files, tenant_id, subject_id, limit))
    }

    /// The subject's events, oldest first (at most `limit`).
    pub fn history(
        &self,
        main: &mut DbConnection,
        tenant_id: &str,
        subject_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<ConsentEvent>> {
        match self {
            Self::Table => queries::history(main, tenant_id, subject_id, limit),
            Self::Months(files) => history_in(files, tenant_id, subject_id, limit),
        }
    }

    /// Daily counts between two days (inclusive), of some tenants or all.
    pub fn daily_counts(
        &self,
        main: &mut DbConnection,
        tenant_ids: Option<&[String]>,
        from: &str,
        to: &str,
    ) -> QueryResult<Vec<DailyCount>> {
        let here = queries::daily_counts(main, tenant_ids, from, to)?;
        let Self::Months(files) = self else {
            return Ok(here);
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
        add(here);
        for tenant in tenants_of(files, tenant_ids)? {
            let one = std::slice::from_ref(&tenant);
            for file in files.files(&tenant)?.iter() {
                let (first, last) = (file.month.start().date(), file.month.end().date());
                if last.to_string().as_str() <= from || first.to_string().as_str() > to {
                    continue;
                }
                if let Some(rows) =
                    files.read(file, |c| queries::daily_counts(c, Some(one), from, to))?
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

    /// The next events after `cursor` in `(at, id)` order, of some tenants
    /// or all, made in `[from, to)`: `limit` of them, or on SQLite with
    /// several tenants at least one and at most `limit`; none at the end.
    pub fn export_page(
        &self,
        main: &mut DbConnection,
        tenant_ids: Option<&[String]>,
        (from, to): (NaiveDateTime, NaiveDateTime),
        cursor: &Cursor,
        limit: i64,
    ) -> QueryResult<Read> {
        let Self::Months(files) = self else {
            return queries::export_page(main, tenant_ids, from, to, cursor, limit);
        };
        // Each tenant gives its share of the page; the page then ends at
        // the earliest last event of a tenant that gave its whole share
        // (past it, that tenant may have events not read yet).
        let tenants = tenants_of(files, tenant_ids)?;
        let share = (limit / tenants.len().max(1) as i64).max(1);
        let after = queries::page_start(from, cursor);
        let mut out = Vec::new();
        let mut bound: Option<(NaiveDateTime, String)> = None;
        for tenant in tenants {
            let one = std::slice::from_ref(&tenant);
            // Months in order: once a month has given `share` events of this
            // tenant, later ones cannot come before them.
            let mut rows = Vec::new();
            let listed = files.files(&tenant)?;
            for group in by_month(&listed) {
                let month = group[0].month;
                if rows.len() as i64 >= share {
                    break;
                }
                if month.end() <= after || month.start() >= to {
                    continue;
                }
                for file in group {
                    // Each file numbers its own strings: its events are
                    // made here.
                    let page = files.read(file, |c| {
                        queries::export_page(c, Some(one), from, to, cursor, share)?.events()
                    })?;
                    rows.extend(page.into_iter().flatten());
                }
            }
            let rows = merged(rows, share);
            if rows.len() as i64 == share {
                if let Some(last) = rows.last() {
                    let last = (last.at, last.id.clone());
                    if bound.as_ref().is_none_or(|b| last < *b) {
                        bound = Some(last);
                    }
                }
            }
            out.extend(rows);
        }
        if let Some((at, id)) = &bound {
            out.retain(|e| key(e) <= (*at, id.as_str()));
        }
        Ok(Read::Events(merged(out, limit)))
    }

    /// How many events are kept, of one tenant or all.
    pub fn count(&self, main: &mut DbConnection, tenant_id: Option<&str>) -> QueryResult<i64> {
        use crate::db::schema::consent_events as events;
        let count_here = |c: &mut DbConnection, t: Option<&str>| -> QueryResult<i64> {
            match t {
                Some(t) => events::table
                    .filter(events::tenant_id.eq(crate::db::columns::uuid(t)))
                    .count()
                    .get_result(c),
                None => events::table.count().get_result(c),
            }
        };
        let Self::Months(files) = self else {
            return count_here(main, tenant_id);
        };
        let mut n = 0;
        let one = tenant_id.map(|t| vec![t.to_owned()]);
        for tenant in tenants_of(files, one.as_deref())? {
            for file in files.files(&tenant)?.iter() {
                n += files.read(file, |c| count_here(c, None))?.unwrap_or(0);
            }
        }
        Ok(n)
    }

    /// Every event kept, of one tenant or all, in `(at, id)` order.
    pub fn all(
        &self,
        main: &mut DbConnection,
        tenant_id: Option<&str>,
    ) -> QueryResult<Vec<ConsentEvent>> {
        // Within four-digit years: SQLite compares the instants as text.
        let year = |y| {
            chrono::NaiveDate::from_ymd_opt(y, 1, 1)
                .unwrap_or_default()
                .and_time(chrono::NaiveTime::MIN)
        };
        let one = tenant_id.map(|t| vec![t.to_owned()]);
        self.export_page(main, one.as_deref(), (year(1), year(9999)), &None, i64::MAX)?
            .events()
    }
}

/// The subject's events in the files, oldest first (at most `limit`):
/// months in order, and once they have given `limit` events, later ones
/// cannot come before them.
fn history_in(
    files: &ConsentFiles,
    tenant_id: &str,
    subject_id: &str,
    limit: i64,
) -> QueryResult<Vec<ConsentEvent>> {
    let mut out = Vec::new();
    let listed = files.files(tenant_id)?;
    for group in by_month(&listed) {
        if out.len() as i64 >= limit {
            break;
        }
        for file in group {
            if let Some(rows) =
                files.read(file, |c| queries::history(c, tenant_id, subject_id, limit))?
            {
                out.extend(rows);
            }
        }
    }
    Ok(merged(out, limit))
}

/// The subject's latest event in the files: a later month holds only later
/// events, so the first month with one has the latest.
fn latest_in(
    files: &ConsentFiles,
    tenant_id: &str,
    subject_id: &str,
) -> QueryResult<Option<ConsentEvent>> {
    let listed = files.files(tenant_id)?;
    for group in by_month(&listed).rev() {
        let mut best: Option<ConsentEvent> = None;
        for file in group {
            let found = files
                .read(file, |c| queries::latest(c, tenant_id, subject_id))?
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
    Ok(None)
}
