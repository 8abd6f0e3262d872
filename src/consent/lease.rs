//! The lease of the only writer of consents, on PostgreSQL.
//!
//! An instance that serves a database alone need not hear the others'
//! news before answering the current consent from memory (`sync.rs`):
//! there are none. To know it is alone, safely, it holds a lease that the
//! database keeps (migration `2026-12-09-000021_consent_lease`):
//! - every listening instance holds an advisory lock shared (`join`), and
//!   every transaction that writes consents holds it shared until it
//!   commits (`check`, called first by `place.rs`);
//! - an instance takes the lease (`try_take`) only by holding that lock
//!   exclusively, so only while no other instance listens and no write is
//!   under way; anyone who then wants the lock waits, which the holder
//!   sees when it renews (`renew`) and gives the lease up (`leave`);
//! - the holder answers from memory only until its lease, as it last
//!   renewed it, runs out; a writer that finds a lease whose holder
//!   vanished without giving it up (its connection cut) waits it out;
//! - the holder's own writes pin the lease until they commit, so that no
//!   one takes it over before they can be heard.
//!
//! A writer is named by the instance's token; tools write as `""`, which
//! never holds the lease.

use diesel::sql_types::{Bool, Integer, Text};
use diesel::{PgConnection, QueryResult, QueryableByName, RunQueryDsl};

#[derive(QueryableByName)]
struct Answer {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

fn ask(
    query: diesel::query_builder::BoxedSqlQuery<
        '_,
        diesel::pg::Pg,
        diesel::query_builder::SqlQuery,
    >,
    conn: &mut PgConnection,
) -> QueryResult<bool> {
    query.get_result::<Answer>(conn).map(|a| a.ok)
}

/// First in a transaction writing consents by `writer`: waits while
/// another holds the lease (see the module's comment).
pub fn check(conn: &mut PgConnection, writer: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT consent_lease_check($1)")
        .bind::<Text, _>(writer)
        .execute(conn)
        .map(drop)
}

/// Marks this connection's instance as listening, for as long as the
/// connection lasts: no other instance takes the lease meanwhile. Waits
/// while another instance holds it (which gives it up soon).
pub fn join(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_lock_shared(k1, k2) FROM consent_lease_key()")
        .execute(conn)
        .map(drop)
}

/// Takes the lease for `ms` milliseconds when no other instance listens,
/// no write is under way and no one else's lease runs.
pub fn try_take(conn: &mut PgConnection, writer: &str, ms: u64) -> QueryResult<bool> {
    let locked = ask(
        diesel::sql_query("SELECT pg_try_advisory_lock(k1, k2) AS ok FROM consent_lease_key()")
            .into_boxed(),
        conn,
    )?;
    if !locked {
        return Ok(false);
    }
    let taken = ask(
        diesel::sql_query("SELECT consent_lease_take($1, $2) AS ok")
            .into_boxed()
            .bind::<Text, _>(writer)
            .bind::<Integer, _>(millis(ms)),
        conn,
    )?;
    if !taken {
        unlock(conn)?;
    }
    Ok(taken)
}

/// Extends the lease by `ms` milliseconds from now; false when it must be
/// given up: someone waits to write or to listen, or it was lost.
pub fn renew(conn: &mut PgConnection, writer: &str, ms: u64) -> QueryResult<bool> {
    ask(
        diesel::sql_query("SELECT consent_lease_renew($1, $2) AS ok")
            .into_boxed()
            .bind::<Text, _>(writer)
            .bind::<Integer, _>(millis(ms)),
        conn,
    )
}

/// Gives the lease up, then the exclusive lock: a writer let in finds the
/// lease already given up, and does not wait it out.
pub fn leave(conn: &mut PgConnection, writer: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT consent_lease_leave($1)")
        .bind::<Text, _>(writer)
        .execute(conn)?;
    unlock(conn)
}

fn unlock(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_unlock(k1, k2) FROM consent_lease_key()")
        .execute(conn)
        .map(drop)
}

fn millis(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}
