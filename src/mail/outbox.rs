//! The outbox table: queued in the caller's transaction, claimed by the
//! worker under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), then
//! marked sent, scheduled again, or dead.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::mail_outbox as outbox;
use crate::db::DbConnection;

/// Where a message is in its life, as stored in `mail_outbox.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its (next) delivery attempt.
    Pending,
    Sent,
    /// Refused for good; waits for an operator.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Dead]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub message_id: String,
    pub template: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// The From's display name, the tenant's (none: `mail.from`'s own).
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &OutboxRow) -> QueryResult<()> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Takes up to `limit` messages that are due and not leased by another
/// worker, leases them until `now + lease` and counts the attempt.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease: Duration,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    crate::db::write_transaction(conn, |conn| {
        macro_rules! due {
            () => {
                outbox::table
                    .filter(outbox::status.eq(Status::Pending.as_str()))
                    .filter(outbox::next_attempt_at.le(now))
                    .filter(
                        outbox::lease_until
                            .is_null()
                            .or(outbox::lease_until.le(now)),
                    )
                    .order(outbox::next_attempt_at.asc())
                    .limit(limit)
                    .select(outbox::id)
            };
        }
        let ids: Vec<String> = match conn {
            DbConnection::Pg(c) => due!().for_update().skip_locked().load(c)?,
            DbConnection::Sqlite(c) => due!().load(c)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::lease_until.eq(Some(now + lease)),
                outbox::attempts.eq(outbox::attempts + 1),
            ))
            .execute(conn)?;
        outbox::table
            .filter(outbox::id.eq_any(&ids))
            .order(outbox::next_attempt_at.asc())
            .select(OutboxRow::as_select())
            .load(conn)
    })
}

pub fn mark_sent(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(Status::Sent.as_str()),
            outbox::sent_at.eq(Some(now)),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn mark_retry(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::next_attempt_at.eq(at),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn mark_dead(conn: &mut DbConnection, id: &str, error: &str) -> QueryResult<()> {
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(Status::Dead.as_str()),
            outbox::lease_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn count_by_status(conn: &mut DbConnection, status: Status) -> QueryResult<i64> {
    outbox::table
        .filter(outbox::status.eq(status.as_str()))
        .count()
        .get_result(conn)
}

/// Messages of one status (all when `None`), newest first.
pub fn list(
    conn: &mut DbConnection,
    status: Option<Status>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<OutboxRow>, i64)> {
    let base = || {
        let mut q = outbox::table.into_boxed();
        if let Some(s) = status {
            q = q.filter(outbox::status.eq(s.as_str()));
        }
        q
    };
    let total = base().count().get_result(conn)?;
    let rows = base()
        .order((outbox::created_at.desc(), outbox::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// The delay before attempt `attempts + 1`: exponential from `base`, capped
/// at `max`, with ±20 % jitter so that retries do not arrive in waves.
pub fn backoff(attempts: i32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 30) - 1;
    let raw = base.num_milliseconds().saturating_mul(1i64 << exp.min(20));
    let capped = raw.min(max.num_milliseconds()) as f64;
    let factor = 1.0 + (jitter.clamp(0.0, 1.0) * 0.4 - 0.2);
    Duration::milliseconds((capped * factor) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_bounded_jitter() {
        let (b, m) = (Duration::seconds(30), Duration::hours(1));
        assert_eq!(backoff(1, b, m, 0.5), Duration::seconds(30));
        assert_eq!(backoff(2, b, m, 0.5), Duration::seconds(60));
        assert_eq!(backoff(5, b, m, 0.5), Duration::seconds(480));
        assert_eq!(backoff(30, b, m, 0.5), Duration::hours(1));
        assert_eq!(backoff(1, b, m, 0.0), Duration::seconds(24));
        assert_eq!(backoff(1, b, m, 1.0), Duration::seconds(36));
    }
}
