//! A sign-in lock's row: its counts and generations (the rules of
//! `super`), and the statements that read, write and carry it over.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::Policy;
use crate::db::schema::login_locks as locks;
use crate::db::DbConnection;
use crate::on_backend;

/// Moves the row of a retired key to `key`, when `key` has none: a lock
/// set before the pseudonym key was rotated still holds. Should an attempt
/// write `key`'s row first, it wins (the move is undone, in a savepoint),
/// and the retired row is forgotten in time.
pub(super) fn carry_over(
    conn: &mut DbConnection,
    key: &str,
    retired: &[String],
) -> QueryResult<()> {
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = locks, primary_key(lock_key), treat_none_as_null = true)]
pub(super) struct Lock {
    pub(super) lock_key: String,
    pub(super) account_id: Option<String>,
    pub(super) generation: i64,
    pub(super) window_until: NaiveDateTime,
    pub(super) failures: i32,
    pub(super) in_flight: i32,
    pub(super) locked_until: Option<NaiveDateTime>,
    pub(super) unlock_hash: Option<String>,
    pub(super) unlock_until: Option<NaiveDateTime>,
    pub(super) unlock_attempts: i32,
    pub(super) forget_at: NaiveDateTime,
}

impl Lock {
    pub(super) fn fresh(key: &str, now: NaiveDateTime, p: &Policy) -> Self {
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
    pub(super) fn roll(&mut self, now: NaiveDateTime, p: &Policy) {
        let over = match self.locked_until {
            Some(until) => until <= now,
            None => self.window_until <= now,
        };
        if over {
            self.restart(now, p);
        }
    }

    pub(super) fn restart(&mut self, now: NaiveDateTime, p: &Policy) {
        self.generation += 1;
        self.failures = 0;
        self.in_flight = 0;
        self.locked_until = None;
        self.window_until = now + p.window;
    }

    /// One more failure in a row: the count lasts a window after the
    /// latest failure, so failures in a row lock however they are spaced,
    /// unless a whole window passes between two of them.
    pub(super) fn count_failure(&mut self, now: NaiveDateTime, p: &Policy) {
        self.failures = self.failures.saturating_add(1);
        self.window_until = self.window_until.max(now + p.window);
    }

    pub(super) fn link_works(&self, now: NaiveDateTime) -> bool {
        self.unlock_hash.is_some()
            && self.unlock_until.is_some_and(|u| u > now)
            && self.unlock_attempts > 0
    }

    /// When nothing in the row matters any more.
    pub(super) fn set_forget_at(&mut self) {
        self.forget_at = [self.locked_until, self.unlock_until]
            .into_iter()
            .flatten()
            .fold(self.window_until, NaiveDateTime::max);
    }
}

pub(super) fn hash_link(token: &str) -> String {
    crate::privacy::token_hash(token)
}

/// The row, locked until the end of the transaction.
pub(super) fn locked_row(conn: &mut DbConnection, key: &str) -> QueryResult<Option<Lock>> {
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
pub(super) fn insert(conn: &mut DbConnection, row: &Lock) -> QueryResult<bool> {
    let n = on_backend!(conn, |c| diesel::insert_into(locks::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n > 0)
}

pub(super) fn save(conn: &mut DbConnection, row: &mut Lock) -> QueryResult<()> {
    row.set_forget_at();
    diesel::update(locks::table.find(&row.lock_key))
        .set(&*row)
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

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
}
