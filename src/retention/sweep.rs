//! One sweep: per tenant, as of an instant, remove what has outlived its
//! period, in bounded batches of short transactions. Each batch commits its
//! removals and the run's counts together, so a sweep stopped anywhere
//! leaves consistent data, an exact record, and work the next one finishes.
//! The one exception is a batch of consents deleted from a SQLite month
//! file (`consent_files`), which commits before the record: stopped in
//! between, the record is a batch short, never a batch over.
//! Open requests are never touched.
//!
//! (Over 400 lines: the sweep's loop and its batch commit are one
//! transaction design; kept together so its invariants read in one place.)

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::Serialize;

use super::consent_files::{self as monthly, Fate};
use super::runs::{self, NewRun, Removed, Trigger, PLATFORM};
use super::steps::{
    candidates, category, consent_count, delete_consents, remove, step_category, would_remove, Key,
    Step, PLATFORM_STEPS, TENANT_STEPS,
};
use super::RetentionError;
use crate::clock::Cutoffs;
use crate::config::{Periods, RetentionSettings};
use crate::consent::{partitions, ConsentStore};
use crate::db::schema::tenants;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::tenants::Tenants;

pub struct Options<'a> {
    pub as_of: DateTime<Utc>,
    pub dry_run: bool,
    /// Only this tenant (by slug); records of no tenant are then left.
    pub tenant: Option<&'a str>,
    pub trigger: Trigger,
    pub slot: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// None for a dry run, which leaves no record.
    pub run_id: Option<String>,
    pub as_of: DateTime<Utc>,
    pub dry_run: bool,
    pub status: &'static str,
    pub error: Option<String>,
    pub removed: Removed,
    pub total: i64,
}

/// A tenant as the sweep sees it: every stored tenant, the inactive ones
/// too (their data keep their promises), with the configured periods or,
/// for a tenant no longer configured, the defaults.
struct Scope {
    tenant_id: Option<String>,
    slug: String,
    periods: Periods,
}

fn scopes(
    conn: &mut DbConnection,
    configured: &Tenants,
    settings: &RetentionSettings,
    only: Option<&str>,
) -> Result<(Vec<Scope>, BTreeMap<String, String>), RetentionError> {
    let stored: Vec<(String, String)> = tenants::table
        .select((tenants::id, tenants::slug))
        .order(tenants::slug.asc())
        .load(conn)?;
    if let Some(slug) = only {
        if !stored.iter().any(|(_, s)| s == slug) {
            return Err(RetentionError::UnknownTenant(slug.to_owned()));
        }
    }
    let mut out: Vec<Scope> = stored
        .iter()
        .filter(|(_, slug)| only.is_none_or(|o| o == slug))
        .map(|(id, slug)| Scope {
            tenant_id: Some(id.clone()),
            slug: slug.clone(),
            periods: configured.get(slug).map_or(settings.periods, |t| {
                settings.periods.with(&t.config.retention)
            }),
        })
        .collect();
    if only.is_none() {
        out.push(Scope {
            tenant_id: None,
            slug: PLATFORM.to_owned(),
            periods: settings.periods,
        });
    }
    Ok((out, stored.into_iter().map(|(id, s)| (s, id)).collect()))
}

/// Tenant slug → id, of every stored tenant.
pub fn tenant_ids(conn: &mut DbConnection) -> QueryResult<BTreeMap<String, String>> {
    tenants::table
        .select((tenants::slug, tenants::id))
        .load::<(String, String)>(conn)
        .map(|rows| rows.into_iter().collect())
}

/// Runs a sweep on `conn`. A real one (not `dry_run`) must hold the sweep
/// lock; it leaves a record whatever happens, unless the database itself
/// is gone, in which case the next sweep marks it interrupted.
pub fn run(
    conn: &mut DbConnection,
    consents: &ConsentStore,
    configured: &Tenants,
    settings: &RetentionSettings,
    opts: &Options<'_>,
    now: impl Fn() -> NaiveDateTime,
) -> Result<Report, RetentionError> {
    let (scopes, tenant_ids) = scopes(conn, configured, settings, opts.tenant)?;
    let mut sweep = Sweep {
        as_of: opts.as_of,
        batch: settings.batch_size,
        pause: Duration::from_millis(settings.batch_pause_ms),
        partitioning: partitions::Partitioning::of(settings),
        run_id: None,
        removed: Removed::new(),
        now: &now,
    };
    if !opts.dry_run {
        let only_id = opts.tenant.and_then(|s| tenant_ids.get(s)).cloned();
        sweep.run_id = Some(runs::start(
            conn,
            NewRun {
                trigger: opts.trigger,
                slot: opts.slot,
                tenant_id: only_id.as_deref(),
                as_of: opts.as_of,
            },
            now(),
        )?);
    }
    let outcome = conn
        .batch_execute(session(conn, true))
        .map_err(RetentionError::from)
        .and_then(|()| {
            // A month goes whole only in a sweep of every tenant: its
            // partition holds the records of all.
            if opts.tenant.is_none() {
                sweep.whole_months(conn, &scopes, opts.dry_run)?;
            }
            sweep.scopes(conn, consents, &scopes, opts.dry_run)
        });
    // The connection may go back to a pool: as the others again, before
    // the record's last commit, which is then flushed with all before it.
    let _ = conn.batch_execute(session(conn, false));
    // The reason recorded is the one staff would be told.
    let (status, error) = match outcome {
        Ok(()) => (runs::status::COMPLETED, None),
        Err(e) => (runs::status::FAILED, Some(ApiError::from(e).detail)),
    };
    if let Some(id) = &sweep.run_id {
        runs::finish(conn, id, status, error.as_deref(), now(), &tenant_ids)?;
    }
    let total = sweep.removed.values().flat_map(|c| c.values()).sum();
    tracing::info!(
        run = sweep.run_id.as_deref().unwrap_or("dry-run"),
        as_of = %opts.as_of,
        status,
        removed = total,
        "retention sweep"
    );
    if let Some(told) = &error {
        return Err(RetentionError::Failed(told.clone()));
    }
    Ok(Report {
        run_id: sweep.run_id,
        as_of: opts.as_of,
        dry_run: opts.dry_run,
        status,
        error,
        removed: sweep.removed,
        total,
    })
}

/// The settings of the sweep's connection while it sweeps, or back to
/// those of the others.
///
/// SQLite overwrites freed pages, so that they no longer hold what was
/// removed, and caches enough pages for the indexes a sweep walks.
///
/// PostgreSQL commits each batch without waiting for its write-ahead log to
/// reach the disk: the walwriter flushes it within a fraction of a second,
/// together with the consents' own commits, instead of a flush per batch. A
/// crash can lose only the last batches, and then with everything after
/// them, since the log is replayed in order: a batch and its counts stay
/// together, and the next sweep deletes those rows again. The run's last
/// commit is made with the setting back, so a finished run is on disk.
fn session(conn: &DbConnection, sweeping: bool) -> &'static str {
    match (conn, sweeping) {
        (DbConnection::Sqlite(_), true) => "PRAGMA secure_delete = ON; PRAGMA cache_size = -65536",
        (DbConnection::Sqlite(_), false) => "PRAGMA secure_delete = OFF; PRAGMA cache_size = -2000",
        (DbConnection::Pg(_), true) => "SET synchronous_commit = off",
        (DbConnection::Pg(_), false) => "RESET synchronous_commit",
    }
}

struct Sweep<'a> {
    as_of: DateTime<Utc>,
    batch: i64,
    pause: Duration,
    /// How months' partitions are detached and attached again.
    partitioning: partitions::Partitioning,
    run_id: Option<String>,
    removed: Removed,
    now: &'a dyn Fn() -> NaiveDateTime,
}

impl Sweep<'_> {
    /// Every step of every scope, in order, up to the first error.
    fn scopes(
        &mut self,
        conn: &mut DbConnection,
        consents: &ConsentStore,
        scopes: &[Scope],
        dry_run: bool,
    ) -> Result<(), RetentionError> {
        for scope in scopes {
            let steps: &[Step] = if scope.tenant_id.is_some() {
                &TENANT_STEPS
            } else {
                &PLATFORM_STEPS
            };
            for &step in steps {
                match step {
                    Step::ConsentEvents => self.consent_events(conn, consents, scope, dry_run)?,
                    _ => self.step(conn, None, scope, step, dry_run)?,
                }
            }
        }
        Ok(())
    }

    /// On PostgreSQL, the months whose every record is due go whole, before
    /// the batches: those past the period of some tenant, where each other
    /// tenant's period is over too or the tenant has no record. Each
    /// partition is detached, then in one transaction its events' counts by
    /// tenant (kept as they were written and removed: no row is read) are
    /// added to the run's and the table dropped (their daily counts were
    /// kept as they were recorded). Should a tenant whose period is not
    /// over have a record there after all (written meanwhile), the month is
    /// attached again and left to the batches. A month left detached by a
    /// stopped sweep is finished the same way. A dry run counts only such
    /// leftovers: the batches' count covers the rest.
    fn whole_months(
        &mut self,
        conn: &mut DbConnection,
        scopes: &[Scope],
        dry_run: bool,
    ) -> Result<(), RetentionError> {
        let DbConnection::Pg(_) = conn else {
            return Ok(());
        };
        let now = (self.now)();
        let tenants: Vec<(&Scope, Cutoffs)> = scopes
            .iter()
            .filter(|s| s.tenant_id.is_some())
            .map(|s| {
                (
                    s,
                    Step::ConsentEvents.period(&s.periods).cutoffs(self.as_of),
                )
            })
            .collect();
        let slug_of = |tenant_id: &str| {
            tenants
                .iter()
                .find(|(s, _)| s.tenant_id.as_deref() == Some(tenant_id))
                .map_or_else(|| tenant_id.to_owned(), |(s, _)| s.slug.clone())
        };
        for table in partitions::tables(conn)? {
            // The tenants whose records of this month may not all be due.
            let kept: Vec<String> = tenants
                .iter()
                .filter(|(_, cut)| monthly::fate(table.month, cut, now) != Fate::Whole)
                .filter_map(|(s, _)| s.tenant_id.clone())
                .collect();
            // Due for one tenant at least, and none of the others has a
            // record there (an empty month still to come stays).
            let due = kept.len() < tenants.len()
                && (kept.is_empty() || !partitions::holds_any(conn, &table, &kept)?);
            if dry_run {
                if due && !table.attached {
                    for (tenant_id, n) in partitions::counts(conn, &table)? {
                        self.add(&slug_of(&tenant_id), category::CONSENT_EVENTS, n);
                    }
                }
                continue;
            }
            if !due {
                if !table.attached {
                    partitions::attach(conn, self.partitioning, table.month)?;
                }
                continue;
            }
            if table.attached && !partitions::detach(conn, self.partitioning, &table)? {
                tracing::warn!(month = %table.month, "consent month busy; swept in batches");
                continue;
            }
            let (run_id, at) = (self.run_id.clone().unwrap_or_default(), (self.now)());
            let mut next = self.removed.clone();
            let dropped = crate::db::write_transaction(conn, |c| -> QueryResult<bool> {
                let counts = partitions::counts(c, &table)?;
                if counts.iter().any(|(t, _)| kept.contains(t)) {
                    return Ok(false);
                }
                for (tenant_id, n) in counts {
                    let slug = slug_of(&tenant_id);
                    count_in(&mut next, &slug, vec![(category::CONSENT_EVENTS, n)]);
                }
                partitions::drop_detached(c, &table)?;
                runs::progress(c, &run_id, &next, at)?;
                Ok(true)
            })?;
            if dropped {
                self.removed = next;
            } else {
                partitions::attach(conn, self.partitioning, table.month)?;
            }
            self.rest(false);
        }
        Ok(())
    }

    /// The consents: PostgreSQL's table, or on SQLite the tenant's files,
    /// whole or row by row, as `consent_files` says (the main file keeps
    /// none: those recorded before the files moved into them at start).
    fn consent_events(
        &mut self,
        conn: &mut DbConnection,
        consents: &ConsentStore,
        scope: &Scope,
        dry_run: bool,
    ) -> Result<(), RetentionError> {
        let Some(files) = consents.month_files() else {
            return self.step(conn, None, scope, Step::ConsentEvents, dry_run);
        };
        let Some(tenant) = scope.tenant_id.as_deref() else {
            return Ok(());
        };
        let cut = Step::ConsentEvents
            .period(&scope.periods)
            .cutoffs(self.as_of);
        for file in files.files(tenant)?.iter() {
            match monthly::fate(file.month, &cut, (self.now)()) {
                Fate::Whole if dry_run => {
                    let n = monthly::would_remove(conn, files, file)?;
                    self.add(&scope.slug, category::CONSENT_EVENTS, n);
                }
                Fate::Whole => {
                    let contents = monthly::freeze(files, file)?;
                    let (run_id, now) = (self.run_id.clone(), (self.now)());
                    self.commit(conn, None, scope, |main| {
                        let n = monthly::fold(main, file, &contents, run_id.as_deref(), now)?;
                        Ok(vec![(category::CONSENT_EVENTS, n)])
                    })?;
                    files.remove(file, self.pause)?;
                }
                Fate::Rows => {
                    let mut records = files.open(file)?;
                    if !dry_run {
                        records.batch_execute("PRAGMA secure_delete = ON")?;
                    }
                    self.step(
                        conn,
                        Some(&mut records),
                        scope,
                        Step::ConsentEvents,
                        dry_run,
                    )?;
                }
                Fate::Keep => {}
            }
        }
        Ok(())
    }

    /// Walks the candidates of one step in key order, batch after batch,
    /// and removes those whose period is over. The records are on `conn`
    /// or, for a file of consents, on `apart`; the run's record is on
    /// `conn`.
    fn step(
        &mut self,
        conn: &mut DbConnection,
        mut apart: Option<&mut DbConnection>,
        scope: &Scope,
        step: Step,
        dry_run: bool,
    ) -> Result<(), RetentionError> {
        let period = step.period(&scope.periods);
        let cut = period.cutoffs(self.as_of);
        let sure = cut.sure.naive_utc();
        let tenant = scope.tenant_id.as_deref();
        let mut after: Option<Key> = None;
        // Consents come by the million: those surely due go by ranges of
        // the time index, without their keys travelling; only the few of
        // the month-end window are looked at one by one.
        let ranged = step == Step::ConsentEvents;
        if ranged {
            if dry_run {
                let records = apart.as_deref_mut().unwrap_or(&mut *conn);
                let n = consent_count(records, tenant.unwrap_or_default(), sure)?;
                self.add(&scope.slug, category::CONSENT_EVENTS, n);
            } else {
                self.consents_up_to(conn, apart.as_deref_mut(), scope, sure)?;
            }
            // Past those, the month-end window, from the nil UUID on.
            after = Some((sure, uuid::Uuid::nil().to_string()));
        }
        loop {
            let records = apart.as_deref_mut().unwrap_or(&mut *conn);
            let batch = candidates(
                records,
                step,
                tenant,
                after.as_ref(),
                cut.edge.naive_utc(),
                self.batch,
            )?;
            let Some(last) = batch.last().cloned() else {
                break;
            };
            let full = batch.len() as i64 == self.batch;
            let due: Vec<String> = batch
                .into_iter()
                .filter(|(t, _)| {
                    if ranged {
                        *t > sure && period.is_over(t.and_utc(), self.as_of)
                    } else {
                        *t <= sure || period.is_over(t.and_utc(), self.as_of)
                    }
                })
                .map(|(_, id)| id)
                .collect();
            after = Some(last);
            if !due.is_empty() {
                if dry_run {
                    let records = apart.as_deref_mut().unwrap_or(&mut *conn);
                    let n = would_remove(records, step, &due)?;
                    self.add(&scope.slug, step_category(step), n);
                } else {
                    let tenant_id = scope.tenant_id.clone();
                    let as_of = self.as_of.naive_utc();
                    self.commit(conn, apart.as_deref_mut(), scope, |records| {
                        remove(records, step, tenant_id.as_deref(), &due, as_of)
                    })?;
                }
            }
            if !full {
                break;
            }
            self.rest(dry_run);
        }
        Ok(())
    }

    fn rest(&self, dry_run: bool) {
        if !dry_run && !self.pause.is_zero() {
            std::thread::sleep(self.pause);
        }
    }

    /// Deletes the tenant's consents given at or before `upto`, a batch at
    /// a time in `(at, id)` order: each batch ends at the key found
    /// `batch` rows after the previous one, so no scan walks again over
    /// what was deleted.
    fn consents_up_to(
        &mut self,
        conn: &mut DbConnection,
        mut apart: Option<&mut DbConnection>,
        scope: &Scope,
        upto: NaiveDateTime,
    ) -> Result<(), RetentionError> {
        let tenant = scope.tenant_id.clone().unwrap_or_default();
        let mut after: Option<Key> = None;
        loop {
            let batch = self.batch;
            let mut bound: Option<Key> = None;
            let from = after.clone();
            self.commit(conn, apart.as_deref_mut(), scope, |records| {
                let (found, n) = delete_consents(records, &tenant, upto, from.as_ref(), batch)?;
                bound = found;
                Ok(vec![(category::CONSENT_EVENTS, n as i64)])
            })?;
            match bound {
                Some(key) => after = Some(key),
                None => return Ok(()),
            }
            self.rest(false);
        }
    }

    fn add(&mut self, slug: &str, category: &'static str, n: i64) {
        count_in(&mut self.removed, slug, vec![(category, n)]);
    }

    /// Runs `remove` and records the new counts, in one transaction when
    /// the records are on `conn`. When they are `apart` (a file of
    /// consents), their removal commits first: a sweep stopped in between
    /// has removed a batch more than its record says, never less.
    fn commit(
        &mut self,
        conn: &mut DbConnection,
        apart: Option<&mut DbConnection>,
        scope: &Scope,
        remove: impl FnOnce(&mut DbConnection) -> QueryResult<Vec<(&'static str, i64)>>,
    ) -> Result<(), RetentionError> {
        let now = (self.now)();
        let run_id = self.run_id.clone().unwrap_or_default();
        let mut next = self.removed.clone();
        let records = match apart {
            Some(records) => {
                let removed = crate::db::write_transaction(records, remove)?;
                count_in(&mut next, &scope.slug, removed);
                crate::db::write_transaction(conn, |conn| {
                    runs::progress(conn, &run_id, &next, now)
                })?;
                records
            }
            None => {
                crate::db::write_transaction(conn, |conn| -> QueryResult<()> {
                    count_in(&mut next, &scope.slug, remove(conn)?);
                    runs::progress(conn, &run_id, &next, now)
                })?;
                conn
            }
        };
        self.removed = next;
        if let DbConnection::Sqlite(_) = records {
            // The connection whose commit finds the write-ahead log over its
            // limit copies it back into the database, there and then: let
            // that be the sweep after each batch, not the service recording
            // a consent.
            records.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
        }
        Ok(())
    }
}

fn count_in(removed: &mut Removed, slug: &str, more: Vec<(&'static str, i64)>) {
    for (category, n) in more {
        if n > 0 {
            *removed
                .entry(slug.to_owned())
                .or_default()
                .entry(category.to_owned())
                .or_default() += n;
        }
    }
}
