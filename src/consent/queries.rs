//! The queries of consent events and their daily counts, on one
//! connection: the PostgreSQL database or one SQLite month file (both hold
//! the same tables). Where the events are is `place.rs`'s business.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::stored::{self, Kept};
use crate::db::columns;
use crate::db::schema::{consent_daily_counts as counts, consent_events as events};
use crate::db::DbConnection;
use crate::on_backend;

pub const GIVEN: &str = "given";
pub const WITHDRAWN: &str = "withdrawn";

/// A consent event as the service handles it; `stored.rs` keeps it
/// compact. Its fields are the columns of the former layout (SQLite's main
/// file, month files before version 3), which `upgrade.rs` reads.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = crate::db::schema::legacy_consent_events)]
pub struct ConsentEvent {
    pub id: String,
    pub tenant_id: String,
    pub subject_id: String,
    pub event: String,
    pub policy_version: String,
    /// JSON object: purpose id → bool.
    pub choices: String,
    pub gpc: bool,
    pub at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub ip_pseudonym: Option<String>,
    pub user_agent: Option<String>,
    pub page_url: Option<String>,
    pub tc_string: Option<String>,
    pub receipt: Option<String>,
}

impl ConsentEvent {
    pub fn choices(&self) -> BTreeMap<String, bool> {
        serde_json::from_str(&self.choices).unwrap_or_default()
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    accepted: i64,
    refused: i64,
    withdrawn: i64,
}

/// What a set of events adds to the daily counts, per (tenant, day, purpose).
fn tally(rows: &[ConsentEvent]) -> BTreeMap<(String, String, String), Tally> {
    let mut out: BTreeMap<(String, String, String), Tally> = BTreeMap::new();
    for row in rows {
        let day = row.at.date().format("%Y-%m-%d").to_string();
        for (purpose, accepted) in row.choices() {
            let t = out
                .entry((row.tenant_id.clone(), day.clone(), purpose))
                .or_default();
            match (row.event.as_str(), accepted) {
                (GIVEN, true) => t.accepted += 1,
                (GIVEN, false) => t.refused += 1,
                (_, true) => t.withdrawn += 1,
                _ => {}
            }
        }
    }
    out.retain(|_, t| *t != Tally::default());
    out
}

/// Inserts events and adds them to the daily counts, inside the caller's
/// transaction: no savepoint, whose journal SQLite would write to a
/// temporary file for a batch of any size.
pub fn insert_in_transaction(conn: &mut DbConnection, rows: &[ConsentEvent]) -> QueryResult<()> {
    super::stored::insert(conn, rows)?;
    let counts: Vec<DailyCount> = tally(rows)
        .into_iter()
        .map(|((tenant_id, day, purpose_id), t)| DailyCount {
            tenant_id,
            day,
            purpose_id,
            accepted: t.accepted,
            refused: t.refused,
            withdrawn: t.withdrawn,
        })
        .collect();
    add_daily_counts(conn, &counts)
}

/// Adds to the daily counts.
pub fn add_daily_counts(conn: &mut DbConnection, rows: &[DailyCount]) -> QueryResult<()> {
    for r in rows {
        let row = (
            counts::tenant_id.eq(&r.tenant_id),
            counts::day.eq(&r.day),
            counts::purpose_id.eq(&r.purpose_id),
            counts::accepted.eq(r.accepted),
            counts::refused.eq(r.refused),
            counts::withdrawn.eq(r.withdrawn),
        );
        on_backend!(conn, |c| diesel::insert_into(counts::table)
            .values(row)
            .on_conflict((counts::tenant_id, counts::day, counts::purpose_id))
            .do_update()
            .set((
                counts::accepted.eq(counts::accepted + excluded(counts::accepted)),
                counts::refused.eq(counts::refused + excluded(counts::refused)),
                counts::withdrawn.eq(counts::withdrawn + excluded(counts::withdrawn)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// Whether an event is a consent in force at `now`.
pub fn in_force(e: &ConsentEvent, now: NaiveDateTime) -> bool {
    e.event == GIVEN && e.expires_at.is_some_and(|x| x > now)
}

/// The subject's latest event, whatever it is: the hottest read of the
/// service, run on the inner connection so that its statement stays
/// prepared.
pub fn latest(
    conn: &mut DbConnection,
    tenant_id: &str,
    subject_id: &str,
) -> QueryResult<Option<ConsentEvent>> {
    if !stored::may_hold(tenant_id, subject_id) {
        return Ok(None);
    }
    let rows = subject_rows(conn, tenant_id, subject_id, First::Newest, 1)?;
    Ok(stored::events_of(conn, rows)?.pop())
}

/// The subject's events, oldest first (at most `limit`).
pub fn history(
    conn: &mut DbConnection,
    tenant_id: &str,
    subject_id: &str,
    limit: i64,
) -> QueryResult<Vec<ConsentEvent>> {
    if !stored::may_hold(tenant_id, subject_id) {
        return Ok(Vec::new());
    }
    let rows = subject_rows(conn, tenant_id, subject_id, First::Oldest, limit)?;
    stored::events_of(conn, rows)
}

/// Which of a subject's events comes first.
enum First {
    Oldest,
    Newest,
}

/// A subject's rows in `(at, id)` order from `first`, at most `limit`.
/// SQLite gets no `LIMIT ?`: a bound limit makes SQLite prepare the
/// statement again at every execution; the index yields the rows in order
/// and only `limit` of them are stepped to.
fn subject_rows(
    conn: &mut DbConnection,
    tenant_id: &str,
    subject_id: &str,
    first: First,
    limit: i64,
) -> QueryResult<Vec<Kept>> {
    // Built in each arm: the selection takes its backend's types.
    macro_rules! rows {
        ($order:expr) => {{
            macro_rules! query {
                () => {
                    events::table
                        .filter(events::tenant_id.eq(columns::uuid(tenant_id)))
                        .filter(events::subject_id.eq(columns::uuid(subject_id)))
                        .order($order)
                        .select(Kept::as_select())
                };
            }
            match conn {
                DbConnection::Pg(c) => query!().limit(limit).load(c),
                DbConnection::Sqlite(c) => query!()
                    .load_iter::<Kept, diesel::connection::DefaultLoadingMode>(c)?
                    .take(usize::try_from(limit).unwrap_or(0))
                    .collect(),
            }
        }};
    }
    match first {
        First::Oldest => rows!((events::at.asc(), events::id.asc())),
        First::Newest => rows!((events::at.desc(), events::id.desc())),
    }
}

#[derive(Debug, Queryable)]
pub struct DailyCount {
    pub tenant_id: String,
    pub day: String,
    pub purpose_id: String,
    pub accepted: i64,
    pub refused: i64,
    pub withdrawn: i64,
}

/// Daily counts between two days (inclusive), of some tenants or all.
pub fn daily_counts(
    conn: &mut DbConnection,
    tenant_ids: Option<&[String]>,
    from: &str,
    to: &str,
) -> QueryResult<Vec<DailyCount>> {
    let mut q = counts::table
        .filter(counts::day.ge(from.to_owned()))
        .filter(counts::day.le(to.to_owned()))
        .into_boxed();
    if let Some(ids) = tenant_ids {
        q = q.filter(counts::tenant_id.eq_any(ids.to_vec()));
    }
    q.order((
        counts::day.asc(),
        counts::tenant_id.asc(),
        counts::purpose_id.asc(),
    ))
    .select((
        counts::tenant_id,
        counts::day,
        counts::purpose_id,
        counts::accepted,
        counts::refused,
        counts::withdrawn,
    ))
    .load(conn)
}

/// Where an export has got to: the last (at, id) sent.
pub type Cursor = Option<(NaiveDateTime, String)>;

/// Where a page of an export starts: the later of the range's start and
/// the cursor's instant.
pub fn page_start(from: NaiveDateTime, cursor: &Cursor) -> NaiveDateTime {
    cursor.as_ref().map_or(from, |(at, _)| (*at).max(from))
}

/// The next `limit` events after `cursor`, in (at, id) order: an export
/// reads a million rows a page at a time, in constant memory. They are
/// made from their rows by whoever takes them (`Read::events`).
pub fn export_page(
    conn: &mut DbConnection,
    tenant_ids: Option<&[String]>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    cursor: &Cursor,
    limit: i64,
) -> QueryResult<stored::Read> {
    // One lower bound: the index on `at` then starts where the page does
    // (SQLite would start at the first of two bounds).
    let lower = page_start(from, cursor);
    let mut q = events::table
        .filter(events::at.ge(columns::instant(lower)))
        .filter(events::at.lt(columns::instant(to)))
        .into_boxed();
    q = match tenant_ids {
        None => q,
        Some([one]) => q.filter(events::tenant_id.eq(columns::uuid(one))),
        Some(ids) => q.filter(events::tenant_id.eq_any(columns::uuids(ids))),
    };
    if let Some((at, id)) = cursor {
        q = q.filter(
            events::at.gt(columns::instant(*at)).or(events::at
                .eq(columns::instant(*at))
                .and(events::id.gt(columns::uuid(id.clone())))),
        );
    }
    let rows = q
        .order((events::at.asc(), events::id.asc()))
        .limit(limit)
        .select(Kept::as_select())
        .load(conn)?;
    stored::Read::of(conn, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event: &str, at: &str, choices: &str) -> ConsentEvent {
        ConsentEvent {
            id: "x".into(),
            tenant_id: "t".into(),
            subject_id: "s".into(),
            event: event.into(),
            policy_version: "v1".into(),
            choices: choices.into(),
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

    #[test]
    fn tallies_count_acceptances_refusals_and_withdrawals_per_day() {
        let rows = [
            row(
                GIVEN,
                "2026-03-02T23:59:59",
                r#"{"essential":true,"matomo":true}"#,
            ),
            row(
                GIVEN,
                "2026-03-02T10:00:00",
                r#"{"essential":true,"matomo":false}"#,
            ),
            row(
                GIVEN,
                "2026-03-03T00:00:00",
                r#"{"essential":true,"matomo":false}"#,
            ),
            row(
                WITHDRAWN,
                "2026-03-03T08:00:00",
                r#"{"essential":true,"matomo":true}"#,
            ),
        ];
        let t = tally(&rows);
        let key = |d: &str, p: &str| ("t".to_owned(), d.to_owned(), p.to_owned());
        assert_eq!(
            t[&key("2026-03-02", "matomo")],
            Tally {
                accepted: 1,
                refused: 1,
                withdrawn: 0
            }
        );
        assert_eq!(
            t[&key("2026-03-02", "essential")],
            Tally {
                accepted: 2,
                refused: 0,
                withdrawn: 0
            }
        );
        assert_eq!(
            t[&key("2026-03-03", "matomo")],
            Tally {
                accepted: 0,
                refused: 1,
                withdrawn: 1
            }
        );
        assert_eq!(
            t[&key("2026-03-03", "essential")],
            Tally {
                accepted: 1,
                refused: 0,
                withdrawn: 1
            }
        );
    }
}
