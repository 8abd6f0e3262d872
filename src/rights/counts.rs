//! Counts kept in step with every change to a request, in the change's own
//! transaction, so that the queue's totals never count a million rows:
//!
//! - `request_counts`: requests per tenant, status and kind;
//! - `request_due_days`: open, unpaused requests per tenant, status, kind
//!   and due day (UTC), kept twice: per day (`span` 1) and per block of
//!   32 days (`span` 32). The overdue total is the sum of the blocks before
//!   today's, of the days of today's block before today, and an exact
//!   count of today's requests already due; so `overdue` stays derived
//!   from the clock, is never stored, and the sum reads a row per block
//!   and per recent day rather than one per day since the oldest request.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, NaiveTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::upsert::excluded;

use super::store::{filtered, QueueFilter, RequestRow};
use crate::db::schema::{
    request_counts as counts, request_due_days as due_days, rights_requests as requests,
};
use crate::db::DbConnection;

const SECONDS_PER_DAY: i64 = 86_400;

/// The spans, in days, `request_due_days` counts by.
const SPANS: [i64; 2] = [1, BLOCK];
const BLOCK: i64 = 32;

/// The first day of the span of `span` days that holds `day`.
pub fn span_start(day: i64, span: i64) -> i64 {
    day - day.rem_euclid(span)
}

/// The UTC day of an instant, as days since 1970-01-01 (what the migration
/// computes for the rows written before it).
pub fn day_of(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp().div_euclid(SECONDS_PER_DAY)
}

/// Where a request stands in `request_due_days`: nowhere unless it is open
/// and its clock runs.
fn due_key(row: &RequestRow) -> Option<(&str, &str, &str, i64)> {
    (row.is_open && row.paused_at.is_none()).then(|| {
        (
            row.tenant_id.as_str(),
            row.status.as_str(),
            row.kind.as_str(),
            day_of(row.due_at),
        )
    })
}

/// Keeps both counts in step with a request that was `before` (none when
/// it is new) and is now `after`. Call it in the transaction of the change.
///
/// Every change writes `request_counts` before `request_due_days`, and the
/// rows of each in key order: two changes moving requests between the same
/// statuses in opposite directions (an upload back to `received` and a
/// request for an identity document) then wait for each other instead of
/// each holding the row the other needs.
pub fn moved(
    conn: &mut DbConnection,
    before: Option<&RequestRow>,
    after: &RequestRow,
) -> QueryResult<()> {
    let mut by_status: BTreeMap<CountKey, i64> = BTreeMap::new();
    let mut by_due: BTreeMap<DueKey, i64> = BTreeMap::new();
    for (row, delta) in before.map(|b| (b, -1)).into_iter().chain([(after, 1)]) {
        *by_status
            .entry((
                row.tenant_id.as_str(),
                row.status.as_str(),
                row.kind.as_str(),
            ))
            .or_default() += delta;
        if let Some((tenant, status, kind, day)) = due_key(row) {
            for span in SPANS {
                let key = (tenant, span, span_start(day, span), status, kind);
                *by_due.entry(key).or_default() += delta;
            }
        }
    }
    for (key, delta) in by_status.into_iter().filter(|&(_, d)| d != 0) {
        count(conn, key, delta)?;
    }
    for (key, delta) in by_due.into_iter().filter(|&(_, d)| d != 0) {
        count_due(conn, key, delta)?;
    }
    Ok(())
}

/// A row of `request_counts`, in the order of its primary key.
type CountKey<'a> = (&'a str, &'a str, &'a str);

/// A row of `request_due_days`, in the order of its primary key: tenant,
/// span, first day of the span, status, kind.
type DueKey<'a> = (&'a str, i64, i64, &'a str, &'a str);

fn count(conn: &mut DbConnection, key: CountKey, delta: i64) -> QueryResult<()> {
    let (tenant, status, kind) = key;
    if delta < 0 {
        diesel::update(counts::table.find((tenant, status, kind)))
            .set(counts::n.eq(counts::n + delta))
            .execute(conn)?;
        return Ok(());
    }
    let row = (
        counts::tenant_id.eq(tenant),
        counts::status.eq(status),
        counts::kind.eq(kind),
        counts::n.eq(delta),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(counts::table)
        .values(row)
        .on_conflict((counts::tenant_id, counts::status, counts::kind))
        .do_update()
        .set(counts::n.eq(counts::n + excluded(counts::n)))
        .execute(c))?;
    Ok(())
}

fn count_due(conn: &mut DbConnection, key: DueKey, delta: i64) -> QueryResult<()> {
    let (tenant, span, start, status, kind) = key;
    if delta < 0 {
        let row = due_days::table.find((tenant, span, start, status, kind));
        diesel::update(row)
            .set(due_days::n.eq(due_days::n + delta))
            .execute(conn)?;
        // Days empty of open requests go, so that the sum stays short.
        diesel::delete(row.filter(due_days::n.le(0))).execute(conn)?;
        return Ok(());
    }
    let row = (
        due_days::tenant_id.eq(tenant),
        due_days::span.eq(span),
        due_days::due_day.eq(start),
        due_days::status.eq(status),
        due_days::kind.eq(kind),
        due_days::n.eq(delta),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(due_days::table)
        .values(row)
        .on_conflict((
            due_days::tenant_id,
            due_days::span,
            due_days::due_day,
            due_days::status,
            due_days::kind
        ))
        .do_update()
        .set(due_days::n.eq(due_days::n + excluded(due_days::n)))
        .execute(c))?;
    Ok(())
}

/// The number of requests a filter selects: from the kept counts unless it
/// searches (then the matches are counted through the word index).
pub fn total(conn: &mut DbConnection, f: &QueueFilter) -> QueryResult<i64> {
    if !f.search.is_empty()
        || f.found.is_some()
        || f.email_hashes.is_some()
        || f.assigned_to.is_some()
    {
        return filtered(f).count().get_result(conn);
    }
    if let Some(now) = f.overdue_at {
        return overdue_total(conn, f, now);
    }
    let mut q = counts::table.into_boxed();
    if let Some(ids) = &f.tenant_ids {
        q = q.filter(counts::tenant_id.eq_any(ids.clone()));
    }
    if !f.statuses.is_empty() {
        q = q.filter(counts::status.eq_any(f.statuses.clone()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(counts::kind.eq(*k));
    }
    let ns: Vec<i64> = q.select(counts::n).load(conn)?;
    Ok(ns.into_iter().sum())
}

/// Requests due on the days before today, from the kept counts, and those
/// of today already past their due time, counted (a day's worth at most).
fn overdue_total(conn: &mut DbConnection, f: &QueueFilter, now: NaiveDateTime) -> QueryResult<i64> {
    let today = day_of(now);
    let block = span_start(today, BLOCK);
    let mut q = due_days::table
        .filter(
            (due_days::span.eq(BLOCK).and(due_days::due_day.lt(block))).or(due_days::span
                .eq(1)
                .and(due_days::due_day.ge(block))
                .and(due_days::due_day.lt(today))),
        )
        .into_boxed();
    if let Some(ids) = &f.tenant_ids {
        q = q.filter(due_days::tenant_id.eq_any(ids.clone()));
    }
    if !f.statuses.is_empty() {
        q = q.filter(due_days::status.eq_any(f.statuses.clone()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(due_days::kind.eq(*k));
    }
    // Summed by the database: a large tenant has a row per day, status and
    // kind for every day with open requests.
    let before_today: i64 = q
        .select(sql::<BigInt>("CAST(COALESCE(SUM(n), 0) AS BIGINT)"))
        .get_result(conn)?;
    let midnight = now.date().and_time(NaiveTime::MIN);
    let today_due: i64 = filtered(f)
        .filter(requests::due_at.ge(midnight))
        .count()
        .get_result(conn)?;
    Ok(before_today + today_due)
}

/// Open requests past their due date, per tenant id (for `/metrics`), from
/// the kept counts as the queue's overdue total.
pub fn overdue_by_tenant(
    conn: &mut DbConnection,
    tenant_ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<Vec<(String, i64)>> {
    tenant_ids
        .iter()
        .map(|id| {
            let filter = QueueFilter {
                tenant_ids: Some(vec![id.clone()]),
                statuses: Vec::new(),
                kind: None,
                overdue_at: Some(now),
                search: Vec::new(),
                found: None,
                email_hashes: None,
                assigned_to: None,
                sort: super::store::Sort::Urgency,
            };
            Ok((id.clone(), overdue_total(conn, &filter, now)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_start_on_multiples_of_their_length() {
        assert_eq!(span_start(20_779, 1), 20_779);
        assert_eq!(span_start(20_779, 32), 20_768);
        assert_eq!(span_start(20_768, 32), 20_768);
        assert_eq!(span_start(20_767, 32), 20_736);
        assert_eq!(span_start(-1, 32), -32);
    }

    #[test]
    fn days_are_utc_days_since_1970() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(day_of(at("1970-01-01 00:00:00")), 0);
        assert_eq!(day_of(at("1969-12-31 23:59:59")), -1);
        assert_eq!(day_of(at("2026-11-22 00:00:00")), 20_779);
        assert_eq!(day_of(at("2026-11-22 23:59:59")), 20_779);
    }
}
