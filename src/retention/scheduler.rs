//! Sweeps on a schedule inside `guichet serve`. Every instance looks at the
//! schedule; the one that takes the sweep lock and claims the slot in the
//! database runs it, so each slot runs once however many instances share
//! the database. A sweep left `running` by a process that died is closed as
//! interrupted and its work finished at the next look.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::lock::SweepLock;
use super::runs::{self, Trigger};
use super::sweep::{self, Options, Report};
use super::RetentionError;
use crate::clock::Clock;
use crate::config::DatabaseSettings;
use crate::config::RetentionSettings;
use crate::consent::ConsentStore;
use crate::db::{Db, DbError};
use crate::error::ApiError;
use crate::tenants::Tenants;

pub const JOB: &str = "retention";

#[derive(Clone)]
pub struct Scheduler {
    pub db: Db,
    pub database: DatabaseSettings,
    pub settings: RetentionSettings,
    pub tenants: Tenants,
    pub clock: Clock,
    pub consents: ConsentStore,
}

/// What one look at the schedule did.
#[derive(Debug)]
pub enum Tick {
    /// Nothing was due.
    Idle,
    /// Another sweep holds the lock; the next look tries again.
    Busy,
    Ran(Report),
}

impl Scheduler {
    /// The latest instant the schedule names, at or before `now`.
    pub fn slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = self.settings.cron().ok()?;
        let local = now.with_timezone(&self.settings.tz());
        cron.find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Runs the sweep of the slot due now, unless it ran already, and
    /// finishes the work of interrupted sweeps. Blocking.
    pub fn tick(&self) -> Result<Tick, RetentionError> {
        let now = self.clock.now();
        let slot = self
            .slot(now)
            .map(|s| s.to_rfc3339_opts(SecondsFormat::Secs, true));
        let mut conn = self.db.pool().get().map_err(DbError::from)?;
        let slot_free = match &slot {
            Some(s) => !crate::schedule::is_claimed(&mut conn, JOB, s)?,
            None => false,
        };
        if !slot_free && !runs::any_running(&mut conn)? {
            return Ok(Tick::Idle);
        }
        let Some(_lock) = SweepLock::try_acquire(&self.database)? else {
            return Ok(Tick::Busy);
        };
        let tenant_ids = sweep::tenant_ids(&mut conn)?;
        let interrupted = runs::close_interrupted(&mut conn, now.naive_utc(), &tenant_ids)?;
        let claimed = match &slot {
            Some(s) => {
                crate::db::write_transaction(&mut conn, |c| crate::schedule::claim(c, JOB, s, now))?
            }
            None => false,
        };
        let trigger = if claimed {
            Trigger::Schedule
        } else if !interrupted.is_empty() {
            Trigger::Resume
        } else {
            return Ok(Tick::Idle);
        };
        let opts = Options {
            as_of: now,
            dry_run: false,
            tenant: None,
            trigger,
            slot: slot.as_deref().filter(|_| claimed),
        };
        let clock = self.clock.clone();
        let report = sweep::run(
            &mut conn,
            &self.consents,
            &self.tenants,
            &self.settings,
            &opts,
            || clock.now().naive_utc(),
        )?;
        Ok(Tick::Ran(report))
    }

    /// On PostgreSQL, creates the consent partitions of the coming months
    /// that are missing (`consent::partitions`).
    pub fn prepare_months(&self) -> Result<(), RetentionError> {
        let mut conn = self.db.pool().get().map_err(DbError::from)?;
        let now = self.clock.now().naive_utc();
        let rules = crate::consent::partitions::Partitioning::of(&self.settings);
        crate::consent::partitions::ensure_ahead(&mut conn, rules, now)?;
        Ok(())
    }

    /// Looks at the schedule every `tick_secs` in a thread of its own until
    /// the service stops.
    pub fn spawn(self, stop: crate::shutdown::Stop) -> std::thread::JoinHandle<()> {
        let every = Duration::from_secs(self.settings.tick_secs);
        std::thread::Builder::new()
            .name("retention".into())
            .spawn(move || loop {
                if let Err(e) = self.prepare_months() {
                    tracing::warn!(error = %ApiError::from(e).detail, "consent partitions not created; will try again");
                }
                if let Err(e) = self.tick() {
                    tracing::warn!(error = %ApiError::from(e).detail, "retention sweep failed; will try again");
                }
                if !stop.pause(every) {
                    return;
                }
            })
            .expect("spawn the retention scheduler thread")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_of(schedule: &str, now: &str) -> Option<String> {
        let mut settings = crate::config::Settings::embedded_defaults().unwrap();
        settings.retention.schedule = schedule.into();
        let db = Db::new(&settings.database).unwrap();
        let s = Scheduler {
            consents: ConsentStore::open(db.clone(), &settings.database),
            db,
            database: settings.database.clone(),
            settings: settings.retention.clone(),
            tenants: Tenants::default(),
            clock: Clock::system(),
        };
        s.slot(now.parse().unwrap())
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    #[test]
    fn the_slot_is_the_last_one_the_schedule_names_in_paris() {
        // 03:00 in Paris is 02:00 UTC in winter, 01:00 UTC in summer.
        assert_eq!(
            slot_of("0 3 * * *", "2026-12-01T02:00:00Z").as_deref(),
            Some("2026-12-01T02:00:00Z")
        );
        assert_eq!(
            slot_of("0 3 * * *", "2026-12-01T01:59:59Z").as_deref(),
            Some("2026-11-30T02:00:00Z")
        );
        assert_eq!(
            slot_of("0 3 * * *", "2026-07-01T12:00:00Z").as_deref(),
            Some("2026-07-01T01:00:00Z")
        );
        assert_eq!(
            slot_of("30 2 * * 0", "2026-12-01T12:00:00Z").as_deref(),
            Some("2026-11-29T01:30:00Z")
        );
    }
}
