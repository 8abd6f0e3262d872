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

use super::accounts::normalise_email;
use crate::config::AuthSettings;
use crate::db::schema::login_locks as locks;
use crate::db::{delete_expired, write_transaction, DbConnection};
use crate::error::ApiError;
use crate::on_backend;
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

/// Moves the row of a retired key to `key`, when `key` has none: a lock
/// set before the pseudonym key was rotated still holds. Should an attempt
/// write `key`'s row first, it wins (the move is undone, in a savepoint),
/// and the retired row is forgotten in time.
fn carry_over(conn: &mut DbConnection, key: &str, retired: &[String]) -> QueryResult<()> {
    if retired.is_empty() || locks::table.find(key).count().get_result::<i64>(conn)? > 0 {
        return Ok(());
    }
    let found: Vec<String> = locks::table
        .filter(locks::lock_key.eq_any(retired))
        .select(locks::lock_key)
        .load(conn)?;
    // The newest retired key first, as `keys_of` gives them.
    let Some(from) = retired.iter().find(|k| found.contains(k)) else {
        return Ok(());
    };
    let moved = conn.transaction(|conn| {
        diesel::update(locks::table.find(from))
            .set(locks::lock_key.eq(key))
            .execute(conn)
    });
    match moved {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(()),
        other => other.map(|_| ()),
    }
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = locks, primary_key(lock_key), treat_none_as_null = true)]
struct Lock {
    lock_key: String,
    account_id: Option<String>,
    generation: i64,
    window_until: NaiveDateTime,
    failures: i32,
    in_flight: i32,
    locked_until: Option<NaiveDateTime>,
    unlock_hash: Option<String>,
    unlock_until: Option<NaiveDateTime>,
    unlock_attempts: i32,
    forget_at: NaiveDateTime,
}

impl Lock {
    fn fresh(key: &str, now: NaiveDateTime, p: &Policy) -> Self {
        Self {
            lock_key: key.to_owned(),
            account_id: None,
            generation: 0,
            window_until: now + p.window,
            failures: 0,
            in_flight: 0,
            locked_until: None,
            unlock_hash: None,
            unlock_until: None,
            unlock_attempts: 0,
            forget_at: now + p.window,
        }
    }

    /// Starts a new generation once the lock has ended, or once the window
    /// has passed without a lock.
    fn roll(&mut self, now: NaiveDateTime, p: &Policy) {
        let over = match self.locked_until {
            Some(until) => until <= now,
            None => self.window_until <= now,
        };
        if over {
            self.restart(now, p);
        }
    }

    fn restart(&mut self, now: NaiveDateTime, p: &Policy) {
        self.generation += 1;
        self.failures = 0;
        self.in_flight = 0;
        self.locked_until = None;
        self.window_until = now + p.window;
    }

    /// One more failure in a row: the count lasts a window after the
    /// latest failure, so failures in a row lock however they are spaced,
    /// unless a whole window passes between two of them.
    fn count_failure(&mut self, now: NaiveDateTime, p: &Policy) {
        self.failures = self.failures.saturating_add(1);
        self.window_until = self.window_until.max(now + p.window);
    }

    fn link_works(&self, now: NaiveDateTime) -> bool {
        self.unlock_hash.is_some()
            && self.unlock_until.is_some_and(|u| u > now)
            && self.unlock_attempts > 0
    }

    /// When nothing in the row matters any more.
    fn set_forget_at(&mut self) {
        self.forget_at = [self.locked_until, self.unlock_until]
            .into_iter()
            .flatten()
            .fold(self.window_until, NaiveDateTime::max);
    }
}

fn hash_link(token: &str) -> String {
    crate::privacy::token_hash(token)
}

/// The row, locked until the end of the transaction.
fn locked_row(conn: &mut DbConnection, key: &str) -> QueryResult<Option<Lock>> {
    let query = locks::table.find(key);
    match conn {
        DbConnection::Pg(c) => query
            .select(Lock::as_select())
            .for_update()
            .first(c)
            .optional(),
        DbConnection::Sqlite(c) => query.select(Lock::as_select()).first(c).optional(),
    }
}

/// Inserts the row unless the key has one; whether it did.
fn insert(conn: &mut DbConnection, row: &Lock) -> QueryResult<bool> {
    let n = on_backend!(conn, |c| diesel::insert_into(locks::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n > 0)
}

fn save(conn: &mut DbConnection, row: &mut Lock) -> QueryResult<()> {
    row.set_forget_at();
    diesel::update(locks::table.find(&row.lock_key))
        .set(&*row)
        .execute(conn)?;
    Ok(())
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
) -> Result<Admission, ApiError> {
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
) -> Result<Admission, ApiError> {
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
        Ok::<_, ApiError>((admission, created))
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
) -> Result<Settled, ApiError> {
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

    fn policy() -> Policy {
        Policy {
            threshold: 5,
            window: Duration::minutes(15),
            lock_for: Duration::minutes(15),
            link_for: Duration::minutes(60),
            link_attempts: 3,
            busy_retry_secs: 6,
            sweep_batch: 100,
        }
    }

    fn at(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_780_000_000, 0)
            .unwrap()
            .naive_utc()
            + Duration::minutes(minutes)
    }

    #[test]
    fn a_row_is_forgotten_when_its_window_lock_and_link_are_all_over() {
        let p = policy();
        let mut row = Lock::fresh("k", at(0), &p);
        row.set_forget_at();
        assert_eq!(row.forget_at, at(15));
        row.locked_until = Some(at(20));
        row.unlock_until = Some(at(65));
        row.set_forget_at();
        assert_eq!(row.forget_at, at(65));
    }

    #[test]
    fn a_new_generation_starts_when_the_lock_ends_or_the_window_passes() {
        let p = policy();
        let mut row = Lock::fresh("k", at(0), &p);
        row.failures = 3;
        row.roll(at(14), &p);
        assert_eq!((row.generation, row.failures), (0, 3));
        row.roll(at(15), &p);
        assert_eq!((row.generation, row.failures), (1, 0));
        row.failures = 5;
        row.locked_until = Some(at(40));
        row.roll(at(39), &p);
        assert_eq!(row.generation, 1, "a lock outlives its window");
        row.roll(at(40), &p);
        assert_eq!(
            (row.generation, row.failures, row.locked_until),
            (2, 0, None)
        );
    }

    #[test]
    fn failures_in_a_row_count_however_they_are_spaced_within_a_window() {
        let p = policy();
        let mut row = Lock::fresh("k", at(0), &p);
        for minute in [0, 14, 28, 42] {
            row.roll(at(minute), &p);
            row.count_failure(at(minute), &p);
        }
        assert_eq!((row.generation, row.failures), (0, 4));
        assert_eq!(row.window_until, at(57));
        row.roll(at(57), &p);
        assert_eq!(
            (row.generation, row.failures),
            (1, 0),
            "a whole window without a failure"
        );
    }

    #[test]
    fn link_tokens_have_the_shape_of_the_ones_made() {
        assert!(is_link_token(&new_link_token()));
        assert!(!is_link_token("short"));
        assert!(!is_link_token(&"a".repeat(42).replace('a', "é")));
    }
}
