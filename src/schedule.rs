//! Scheduled work claimed once per slot across every instance: the first
//! to insert `(job, slot)` into `scheduled_runs` runs it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::scheduled_runs;
use crate::db::DbConnection;

/// Whether `(job, slot)` was claimed already.
pub fn is_claimed(conn: &mut DbConnection, job: &str, slot: &str) -> QueryResult<bool> {
    let taken: i64 = scheduled_runs::table
        .filter(scheduled_runs::job.eq(job))
        .filter(scheduled_runs::slot.eq(slot))
        .count()
        .get_result(conn)?;
    Ok(taken > 0)
}

/// Claims `(job, slot)`; false when another run already has it.
pub fn claim(
    conn: &mut DbConnection,
    job: &str,
    slot: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    if is_claimed(conn, job, slot)? {
        return Ok(false);
    }
    // In a savepoint: on PostgreSQL a failed insert would otherwise spoil
    // the whole transaction.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(scheduled_runs::table)
            .values((
                scheduled_runs::job.eq(job),
                scheduled_runs::slot.eq(slot),
                scheduled_runs::claimed_at.eq(now.naive_utc()),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e),
    }
}
