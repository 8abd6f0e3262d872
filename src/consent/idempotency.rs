//! A banner's retries without duplicates: the first answer to a POST
//! carrying an `Idempotency-Key` is kept for a day, per tenant, and a later
//! POST with the same key gets it back and records nothing. The key is
//! claimed before the consent is recorded, so that of two POSTs with one
//! key at the same moment one records and the other is told it is in
//! flight (409); a key used again with another body is refused (422).

use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::db::schema::consent_idempotency as keys;
use crate::db::{Db, DbConnection, DbError};
use crate::error::ApiError;

/// The header.
pub const HEADER: &str = "idempotency-key";

/// How long a key's first answer is kept.
pub fn lifetime() -> Duration {
    Duration::hours(24)
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's: record, then `complete` (or `release`).
    New,
    /// The first answer to this key, to give again.
    Replay(String),
}

/// The key a request carries: 1 to 255 visible ASCII characters, or none.
pub fn key_of(req: &actix_web::HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(key.to_owned()))
}

fn hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Claims `key` for a request whose body hashes to `body`: a fresh key (or
/// one whose day is over) is this request's; a key answered already gives
/// its answer; a key in flight, or used with another body, is refused.
pub async fn claim(
    db: &Db,
    tenant_id: &str,
    key: &str,
    body: &str,
    now: NaiveDateTime,
) -> Result<Claim, ApiError> {
    let (tenant_id, key_hash, body_hash) = (tenant_id.to_owned(), hash(key), hash(body));
    db.run_as(move |conn| {
        crate::db::write_transaction(conn, |conn| {
            claim_in(conn, &tenant_id, &key_hash, &body_hash, now)
        })
    })
    .await
}

fn claim_in(
    conn: &mut DbConnection,
    tenant_id: &str,
    key_hash: &str,
    body_hash: &str,
    now: NaiveDateTime,
) -> Result<Claim, ApiError> {
    let expired = now - lifetime();
    diesel::delete(
        keys::table
            .filter(keys::tenant_id.eq(tenant_id))
            .filter(keys::key_hash.eq(key_hash))
            .filter(keys::created_at.lt(expired)),
    )
    .execute(conn)
    .map_err(DbError::from)?;
    let row = (
        keys::tenant_id.eq(tenant_id),
        keys::key_hash.eq(key_hash),
        keys::request_hash.eq(body_hash),
        keys::response.eq(None::<String>),
        keys::created_at.eq(now),
    );
    let inserted = crate::on_backend!(conn, |c| diesel::insert_into(keys::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))
    .map_err(DbError::from)?;
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let (first_body, response): (String, Option<String>) = keys::table
        .find((tenant_id, key_hash))
        .select((keys::request_hash, keys::response))
        .first(conn)
        .map_err(DbError::from)?;
    if first_body != body_hash {
        return Err(ApiError::field(
            "Idempotency-Key",
            "was used with another body; send a new key for a new decision",
        ));
    }
    match response {
        Some(answer) => Ok(Claim::Replay(answer)),
        None => Err(ApiError::conflict(
            "idempotency_in_flight",
            "A request with this Idempotency-Key is being recorded; retry in a moment.",
        )),
    }
}

/// Keeps the answer given to the key's request.
pub async fn complete(db: &Db, tenant_id: &str, key: &str, answer: String) -> Result<(), ApiError> {
    let (tenant_id, key_hash) = (tenant_id.to_owned(), hash(key));
    db.run_as(move |conn| {
        diesel::update(keys::table.find((&tenant_id, &key_hash)))
            .set(keys::response.eq(Some(answer)))
            .execute(conn)
            .map(drop)
            .map_err(|e| ApiError::from(DbError::from(e)))
    })
    .await
}

/// Lets the key go when its request failed: a retry may record.
pub async fn release(db: &Db, tenant_id: &str, key: &str) {
    let (tenant_id, key_hash) = (tenant_id.to_owned(), hash(key));
    let released = db
        .run_as(move |conn| {
            diesel::delete(
                keys::table
                    .find((&tenant_id, &key_hash))
                    .filter(keys::response.is_null()),
            )
            .execute(conn)
            .map(drop)
            .map_err(|e| ApiError::from(DbError::from(e)))
        })
        .await;
    if let Err(e) = released {
        tracing::warn!(error = %e, "an idempotency key could not be released; it lapses in a day");
    }
}

/// Forgets the keys whose day is over, a batch at a time: a chore of the
/// mail worker (once a minute).
pub fn chore(db: Db, clock: Clock) -> crate::mail::worker::Chore {
    Arc::new(move || {
        let expired = clock.now().naive_utc() - lifetime();
        let forgotten = db.pool().get().map_err(DbError::from).and_then(|mut conn| {
            diesel::delete(keys::table.filter(keys::created_at.lt(expired)))
                .execute(&mut **conn)
                .map_err(DbError::from)
        });
        if let Err(e) = forgotten {
            tracing::warn!(error = %e, "expired idempotency keys not forgotten; will try again");
        }
    })
}
