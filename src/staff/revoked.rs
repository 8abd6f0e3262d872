//! Tokens signed out before they expire: their ids are kept until then, and
//! refused on every staff route and console page.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::staff_revoked_tokens as revoked;
use crate::db::{delete_expired, DbConnection};
use crate::on_backend;

/// Refuses the token `jti` from now until `expires_at`, when it would have
/// expired anyway; takes away up to `sweep_batch` ids whose time is past.
pub fn revoke(
    conn: &mut DbConnection,
    jti: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
    sweep_batch: i64,
) -> QueryResult<()> {
    on_backend!(conn, |c| diesel::insert_into(revoked::table)
        .values((revoked::jti.eq(jti), revoked::expires_at.eq(expires_at)))
        .on_conflict_do_nothing()
        .execute(c))?;
    delete_expired(
        conn,
        "staff_revoked_tokens",
        "jti",
        "expires_at",
        now,
        sweep_batch,
    )?;
    Ok(())
}

pub fn is_revoked(conn: &mut DbConnection, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(revoked::table.find(jti))).get_result(conn)
}
