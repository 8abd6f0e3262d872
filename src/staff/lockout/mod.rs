//! Sign-in locks: at most `auth.lockout_threshold` wrong passwords are
//! checked per e-mail address and window, however many attempts arrive at
//! once and from however many client addresses.
//!
//! Attempts are keyed by a keyed pseudonym of the typed address, lower-cased,
//! whether or not an account has it: real and unknown addresses take the
//! same path and get the same answers. A row keyed under a retired
//! pseudonym key moves to the current key at the address's next attempt. Before its password is checked, an
//! attempt is admitted in one transaction on its row (`FOR UPDATE` on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite), and takes a slot only while
//! the failures counted plus the attempts in flight stay below the
//! threshold. Afterwards it settles its slot: a wrong password becomes a
//! failure (the one that reaches the threshold locks the key), a right one
//! resets the count but never ends a lock, and a slot whose check never ran
//! is given back. A lock that ends, or a window that passes after the
//! latest failure, starts a new generation: attempts of the one before no
//! longer count.
//!
//! The way back in: when a key gets locked, an unlock link is made (kept
//! hashed) that the caller e-mails to the account's owner, if there is one.
//! It allows `auth.unlock_link_attempts` password checks despite the lock
//! for `auth.unlock_link_minutes`, and the right password with it lifts the
//! lock. A new link is made only when the last one no longer works.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

mod lock;

use lock::{carry_over, hash_link, insert, locked_row, save, Lock};

use super::accounts::normalise_email;
use super::StaffError;
use crate::config::AuthSettings;
use crate::db::schema::login_locks as locks;
use crate::db::{delete_expired, write_transaction, DbConnection};
use crate::privacy::keyed_hash;
use crate::secrets::Key;

/// The row an attempt with `email` counts against.
pub fn key_of(pseudonym_key: &Key, email: &str) -> String {
    keyed_hash(
        pseudonym_key,
        "login-email",
        normalise_email(email).as_bytes(),
    )
}

/// The rows `email` may have: under the pseudonym key, then under each
/// retired one (rows written before a rotation).
pub fn keys_of<'k>(pseudonym_keys: impl IntoIterator<Item = &'k Key>, email: &str) -> Vec<String> {
    pseudonym_keys
        .into_iter()
        .map(|k| key_of(k, email))
        .collect()
}

/// The sign-in settings, as this module uses them.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    threshold: i32,
    window: Duration,
    lock_for: Duration,
    link_for: Duration,
    link_attempts: i32,
    /// Retry-After when every slot is taken by attempts still running.
    busy_retry_secs: u64,
    sweep_batch: i64,
}

impl Policy {
    pub fn new(auth: &AuthSettings) -> Self {
        Self {
            threshold: i32::try_from(auth.lockout_threshold).unwrap_or(i32::MAX),
            window: Duration::minutes(i64::from(auth.lockout_window_minutes)),
            lock_for: Duration::minutes(i64::from(auth.lockout_minutes)),
            link_for: Duration::minutes(i64::from(auth.unlock_link_minutes)),
            link_attempts: i32::try_from(auth.unlock_link_attempts).unwrap_or(i32::MAX),
            busy_retry_secs: auth.hash_queue_timeout_secs + 1,
            sweep_batch: i64::from(auth.sweep_batch),
        }
    }
}

/// What an attempt may do.
#[derive(Debug)]
pub enum Admission {
    /// Check the password, then settle the ticket.
    Check(Ticket),
    /// Refused without checking the password, even a right one.
    Refused { retry_after_secs: u64 },
}

/// An admitted attempt: its slot, or one use of an unlock link.
#[derive(Debug, Clone)]
pub struct Ticket {
    key: String,
    generation: i64,
    /// The hash of the unlock link the attempt came with and used.
    link: Option<String>,
}

/// Admits an attempt with `email`'s key, or refuses it. `account_id` is the
/// account that has the address, if any; `link` the unlock link's token
/// the attempt came with, if any (one that does not work is ignored).
pub fn admit(
    conn: &mut DbConnection,
    key: &str,
    account_id: Option<&str>,
    link: Option<&str>,
    now: NaiveDateTime,
    p: &Policy,
) -> Result<Admission, StaffError> {
    admit_carrying(conn, key, &[], account_id, link, now, p)
}

/// [`admit`], after moving to `key` the row the address has under a
/// `retired` key (`keys_of`), if `key` has none yet.
pub fn admit_carrying(
    conn: &mut DbConnection,
    key: &str,
    retired: &[String],
    account_id: Option<&str>,
    link: Option<&str>,
    now: NaiveDateTime,
    p: &Policy,
) -> Result<Admission, StaffError> {
    let (admission, created) = write_transaction(conn, |conn| {
        carry_over(conn, key, retired)?;
        let fresh = Lock::fresh(key, now, p);
        let mut created = insert(conn, &fresh)?;
        let mut row = match locked_row(conn, key)? {
            Some(row) => row,
            None => {
                // A sweep took the forgotten row between the two statements
                // (PostgreSQL): a fresh one, which no sweep takes, instead.
                created |= insert(conn, &fresh)?;
                locked_row(conn, key)?.ok_or(diesel::result::Error::NotFound)?
            }
        };
        row.roll(now, p);
        row.account_id = account_id.map(str::to_owned);
        let link = link
            .map(hash_link)
            .filter(|h| row.link_works(now) && row.unlock_hash.as_ref() == Some(h));
        let admission = if link.is_some() {
            row.unlock_attempts -= 1;
            Admission::Check(Ticket {
                key: key.to_owned(),
                generation: row.generation,
                link,
            })
        } else if let Some(until) = row.locked_until {
            Admission::Refused {
                retry_after_secs: (until - now).num_seconds().max(1).unsigned_abs(),
            }
        } else if row.failures.saturating_add(row.in_flight) >= p.threshold {
            Admission::Refused {
                retry_after_secs: p.busy_retry_secs,
            }
        } else {
            row.in_flight += 1;
            Admission::Check(Ticket {
                key: key.to_owned(),
                generation: row.generation,
                link: None,
            })
        };
        save(conn, &mut row)?;
        Ok::<_, StaffError>((admission, created))
    })?;
    if created {
        // Each new row takes away up to a batch of forgotten ones: the table
        // never holds many more rows than the keys tried within a window.
        if let Err(e) = delete_expired(
            conn,
            "login_locks",
            "lock_key",
            "forget_at",
            now,
            p.sweep_batch,
        ) {
            tracing::warn!(error = %e, "expired sign-in locks not removed");
        }
    }
    Ok(admission)
}

/// How a checked attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Wrong password, unknown or disabled account.
    Failed,
    Succeeded,
    /// The password was not checked (no hashing slot in time).
    NotChecked,
}

/// What settling an attempt changed.
#[derive(Debug, Default)]
pub struct Settled {
    /// The lock this failure set, if it set one.
    pub locked_until: Option<NaiveDateTime>,
    /// A new unlock link for the account's owner, made with the lock.
    pub link: Option<String>,
    /// The right password came with an unlock link: the lock is lifted.
    pub lifted: bool,
}

/// Settles an admitted attempt, in the caller's transaction if any.
pub fn settle(
    conn: &mut DbConnection,
    ticket: &Ticket,
    outcome: Outcome,
    now: NaiveDateTime,
    p: &Policy,
) -> Result<Settled, StaffError> {
    write_transaction(conn, |conn| {
        let mut settled = Settled::default();
        // A row forgotten meanwhile has nothing left to settle.
        let Some(mut row) = locked_row(conn, &ticket.key)? else {
            return Ok(settled);
        };
        if let Some(link) = &ticket.link {
            match outcome {
                Outcome::Succeeded => {
                    row.restart(now, p);
                    row.unlock_hash = None;
                    row.unlock_until = None;
                    row.unlock_attempts = 0;
                    settled.lifted = true;
                }
                Outcome::Failed => {}
                Outcome::NotChecked => {
                    if row.unlock_hash.as_ref() == Some(link) {
                        row.unlock_attempts += 1;
                    }
                }
            }
        } else if row.generation == ticket.generation {
            row.in_flight = (row.in_flight - 1).max(0);
            match outcome {
                Outcome::Failed => {
                    row.count_failure(now, p);
                    if row.failures >= p.threshold && row.locked_until.is_none() {
                        let until = now + p.lock_for;
                        row.locked_until = Some(until);
                        settled.locked_until = Some(until);
                        if !row.link_works(now) {
                            let token = new_link_token();
                            row.unlock_hash = Some(hash_link(&token));
                            row.unlock_until = Some(now + p.link_for);
                            row.unlock_attempts = p.link_attempts;
                            settled.link = Some(token);
                        }
                    }
                }
                // A success resets the count; a lock that other attempts
                // set stays.
                Outcome::Succeeded => row.failures = 0,
                Outcome::NotChecked => {}
            }
        }
        save(conn, &mut row)?;
        Ok(settled)
    })
}

fn new_link_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Whether `token` can be an unlock link's token (it is then only ever
/// compared by its hash).
pub fn is_link_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Forgets the locks and unlock links of an account (its password changed).
pub fn lift_for_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
    diesel::delete(locks::table.filter(locks::account_id.eq(account_id))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_have_the_shape_of_the_ones_made() {
        assert!(is_link_token(&new_link_token()));
        assert!(!is_link_token("short"));
        assert!(!is_link_token(&"a".repeat(42).replace('a', "é")));
    }
}
