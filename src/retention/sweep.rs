//! One sweep: per tenant, as of an instant, remove what has outlived its
//! period, in bounded batches of short transactions. Each batch commits its
//! removals and the run's counts together, so a sweep stopped anywhere
//! leaves consistent data, an exact record, and work the next one finishes.
//! Open requests are never touched.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::dsl::exists;
use diesel::prelude::*;
use serde::Serialize;

use super::period::Period;
use super::policy::{Periods, RetentionSettings};
use super::runs::{self, NewRun, Removed, Trigger, PLATFORM};
use crate::db::schema::{
    audit_events as journal, consent_events as consents, mail_outbox as mail,
    request_documents as docs, request_events as events, rights_requests as requests,
    suppression_list as suppression, tenants, tracking_tokens as tokens,
};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::tenants::Tenants;

/// What kind of record a step removes; the names are those of the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ConsentEvents,
    Documents { opposition: bool },
    RequesterData { opposition: bool },
    Suppression,
    Journal,
    MailSent,
    MailDead,
}

pub mod category {
    pub const CONSENT_EVENTS: &str = "consent_events";
    pub const ID_DOCUMENTS: &str = "id_documents";
    pub const REQUESTS_ERASED: &str = "requests_erased";
    pub const SUPPRESSION_ENTRIES: &str = "suppression_entries";
    pub const JOURNAL_ENTRIES: &str = "journal_entries";
    pub const MAIL_MESSAGES: &str = "mail_messages";
}

const TENANT_STEPS: [Step; 9] = [
    Step::ConsentEvents,
    Step::Documents { opposition: false },
    Step::Documents { opposition: true },
    Step::RequesterData { opposition: false },
    Step::RequesterData { opposition: true },
    Step::Suppression,
    Step::Journal,
    Step::MailSent,
    Step::MailDead,
];

/// Records of no tenant: admins' sign-ins, test messages.
const PLATFORM_STEPS: [Step; 3] = [Step::Journal, Step::MailSent, Step::MailDead];

impl Step {
    fn period(self, p: &Periods) -> Period {
        match self {
            Self::ConsentEvents => p.consent_records,
            Self::Documents { opposition: false } => p.id_documents,
            Self::Documents { opposition: true } => p.id_documents_opposition,
            Self::RequesterData { opposition: false } => p.requester_data,
            Self::RequesterData { opposition: true } => p.requester_data_opposition,
            Self::Suppression => p.suppression_list,
            Self::Journal => p.staff_journal,
            Self::MailSent | Self::MailDead => p.delivered_mail,
        }
    }
}

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
) -> Result<(Vec<Scope>, BTreeMap<String, String>), ApiError> {
    let stored: Vec<(String, String)> = tenants::table
        .select((tenants::id, tenants::slug))
        .order(tenants::slug.asc())
        .load(conn)?;
    if let Some(slug) = only {
        if !stored.iter().any(|(_, s)| s == slug) {
            return Err(ApiError::not_found(format!("No tenant is named `{slug}`.")));
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
    configured: &Tenants,
    settings: &RetentionSettings,
    opts: &Options<'_>,
    now: impl Fn() -> NaiveDateTime,
) -> Result<Report, ApiError> {
    let (scopes, tenant_ids) = scopes(conn, configured, settings, opts.tenant)?;
    if let DbConnection::Sqlite(_) = conn {
        // Freed pages are overwritten, not left holding what was removed;
        // a page cache large enough for the indexes a sweep walks.
        conn.batch_execute("PRAGMA secure_delete = ON; PRAGMA cache_size = -65536")?;
    }
    let mut sweep = Sweep {
        as_of: opts.as_of,
        batch: settings.batch_size,
        pause: Duration::from_millis(settings.batch_pause_ms),
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
    let mut outcome = Ok(());
    'all: for scope in &scopes {
        let steps: &[Step] = if scope.tenant_id.is_some() {
            &TENANT_STEPS
        } else {
            &PLATFORM_STEPS
        };
        for &step in steps {
            if let Err(e) = sweep.step(conn, scope, step, opts.dry_run) {
                outcome = Err(e);
                break 'all;
            }
        }
    }
    if let DbConnection::Sqlite(_) = conn {
        // The connection may go back to a pool: as the others again.
        let _ = conn.batch_execute("PRAGMA secure_delete = OFF; PRAGMA cache_size = -2000");
    }
    let (status, error) = match &outcome {
        Ok(()) => (runs::status::COMPLETED, None),
        Err(e) => (runs::status::FAILED, Some(e.detail.clone())),
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
    outcome?;
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

/// Keyset condition: strictly after `(t, id)` in `(timestamp, id)` order.
macro_rules! after {
    ($q:expr, $ts:expr, $id:expr, $after:expr) => {
        match $after {
            None => $q,
            // `>=` first: the bound an index range scan starts from (an OR
            // alone would make PostgreSQL walk the index from its start).
            Some((t, id)) => $q
                .filter($ts.ge(*t))
                .filter($ts.gt(*t).or($ts.eq(*t).and($id.gt(id.clone())))),
        }
    };
}

struct Sweep<'a> {
    as_of: DateTime<Utc>,
    batch: i64,
    pause: Duration,
    run_id: Option<String>,
    removed: Removed,
    now: &'a dyn Fn() -> NaiveDateTime,
}

type Key = (NaiveDateTime, String);

impl Sweep<'_> {
    /// Walks the candidates of one step in key order, batch after batch,
    /// and removes those whose period is over.
    fn step(
        &mut self,
        conn: &mut DbConnection,
        scope: &Scope,
        step: Step,
        dry_run: bool,
    ) -> Result<(), ApiError> {
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
                let n = consents::table
                    .filter(consents::tenant_id.eq(tenant.unwrap_or_default()))
                    .filter(consents::at.le(sure))
                    .count()
                    .get_result(conn)?;
                self.add(&scope.slug, category::CONSENT_EVENTS, n);
            } else {
                self.consents_up_to(conn, scope, sure)?;
            }
            after = Some((sure, String::new()));
        }
        loop {
            let batch = candidates(
                conn,
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
                    let n = would_remove(conn, step, &due)?;
                    self.add(&scope.slug, step_category(step), n);
                } else {
                    let tenant_id = scope.tenant_id.clone();
                    let as_of = self.as_of.naive_utc();
                    self.commit(conn, scope, |conn| {
                        remove(conn, step, tenant_id.as_deref(), &due, as_of)
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
        scope: &Scope,
        upto: NaiveDateTime,
    ) -> Result<(), ApiError> {
        let tenant = scope.tenant_id.clone().unwrap_or_default();
        let mut after: Option<Key> = None;
        loop {
            let batch = self.batch;
            let mut bound: Option<Key> = None;
            let from = after.clone();
            self.commit(conn, scope, |conn| {
                // Every stored instant is after the epoch: the first batch's floor.
                let (t0, id0) = from.unwrap_or((DateTime::UNIX_EPOCH.naive_utc(), String::new()));
                let in_range = consents::table
                    .filter(consents::tenant_id.eq(tenant.clone()))
                    .filter(consents::at.le(upto))
                    .filter(consents::at.ge(t0))
                    .filter(
                        consents::at
                            .gt(t0)
                            .or(consents::at.eq(t0).and(consents::id.gt(id0))),
                    );
                bound = in_range
                    .clone()
                    .select((consents::at, consents::id))
                    .order((consents::at.asc(), consents::id.asc()))
                    .offset(batch - 1)
                    .first(conn)
                    .optional()?;
                let n = match &bound {
                    Some((t, id)) => diesel::delete(
                        in_range.filter(
                            consents::at
                                .lt(*t)
                                .or(consents::at.eq(*t).and(consents::id.le(id.clone()))),
                        ),
                    )
                    .execute(conn)?,
                    None => diesel::delete(in_range).execute(conn)?,
                };
                Ok(vec![(category::CONSENT_EVENTS, n as i64)])
            })?;
            match bound {
                Some(key) => after = Some(key),
                None => return Ok(()),
            }
            self.rest(false);
        }
    }

    fn add(&mut self, slug: &str, category: &str, n: i64) {
        if n > 0 {
            *self
                .removed
                .entry(slug.to_owned())
                .or_default()
                .entry(category.to_owned())
                .or_default() += n;
        }
    }

    /// Runs `remove` and records the new counts, in one transaction.
    fn commit(
        &mut self,
        conn: &mut DbConnection,
        scope: &Scope,
        remove: impl FnOnce(&mut DbConnection) -> QueryResult<Vec<(&'static str, i64)>>,
    ) -> Result<(), ApiError> {
        let now = (self.now)();
        let run_id = self.run_id.clone().unwrap_or_default();
        let mut next = self.removed.clone();
        crate::db::write_transaction(conn, |conn| -> Result<(), ApiError> {
            for (category, n) in remove(conn)? {
                if n > 0 {
                    *next
                        .entry(scope.slug.clone())
                        .or_default()
                        .entry(category.to_owned())
                        .or_default() += n;
                }
            }
            runs::progress(conn, &run_id, &next, now)?;
            Ok(())
        })?;
        self.removed = next;
        if let DbConnection::Sqlite(_) = conn {
            // The connection whose commit finds the write-ahead log over its
            // limit copies it back into the database, there and then: let
            // that be the sweep after each batch, not the service recording
            // a consent.
            conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
        }
        Ok(())
    }
}

/// What a real run would remove of these candidates. Documents are
/// counted one by one; erasing a request destroys no more documents in a
/// real run, since the documents' period never outlasts the requester's
/// data (checked at start) and their step runs first.
fn would_remove(conn: &mut DbConnection, step: Step, ids: &[String]) -> QueryResult<i64> {
    match step {
        Step::Documents { .. } => docs::table
            .filter(docs::request_id.eq_any(ids))
            .filter(docs::purged_at.is_null())
            .count()
            .get_result(conn),
        _ => Ok(ids.len() as i64),
    }
}

fn step_category(step: Step) -> &'static str {
    match step {
        Step::ConsentEvents => category::CONSENT_EVENTS,
        Step::Documents { .. } => category::ID_DOCUMENTS,
        Step::RequesterData { .. } => category::REQUESTS_ERASED,
        Step::Suppression => category::SUPPRESSION_ENTRIES,
        Step::Journal => category::JOURNAL_ENTRIES,
        Step::MailSent | Step::MailDead => category::MAIL_MESSAGES,
    }
}

/// The next candidates of a step, `(timestamp, key)` in key order, made at
/// or before `upto`.
fn candidates(
    conn: &mut DbConnection,
    step: Step,
    tenant: Option<&str>,
    after: Option<&Key>,
    upto: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Key>> {
    let t = tenant.unwrap_or_default().to_owned();
    match step {
        Step::ConsentEvents => {
            let q = consents::table
                .filter(consents::tenant_id.eq(t))
                .filter(consents::at.le(upto))
                .into_boxed();
            after!(q, consents::at, consents::id, after)
                .select((consents::at, consents::id))
                .order((consents::at.asc(), consents::id.asc()))
                .limit(limit)
                .load(conn)
        }
        Step::Documents { opposition } | Step::RequesterData { opposition } => {
            let mut q = requests::table
                .filter(requests::tenant_id.eq(t))
                .filter(requests::erased_at.is_null())
                .filter(requests::is_open.eq(false))
                .filter(requests::closed_at.le(upto))
                .into_boxed();
            q = if opposition {
                q.filter(requests::kind.eq("opposition"))
            } else {
                q.filter(requests::kind.ne("opposition"))
            };
            if let Step::Documents { .. } = step {
                q = q.filter(exists(
                    docs::table
                        .filter(docs::request_id.eq(requests::id))
                        .filter(docs::purged_at.is_null()),
                ));
            }
            let rows: Vec<(Option<NaiveDateTime>, String)> =
                after!(q, requests::closed_at, requests::id, after)
                    .select((requests::closed_at, requests::id))
                    .order((requests::closed_at.asc(), requests::id.asc()))
                    .limit(limit)
                    .load(conn)?;
            Ok(keys(rows))
        }
        Step::Suppression => {
            let q = suppression::table
                .filter(suppression::tenant_id.eq(t))
                .filter(suppression::added_at.le(upto))
                .into_boxed();
            after!(q, suppression::added_at, suppression::email_hash, after)
                .select((suppression::added_at, suppression::email_hash))
                .order((suppression::added_at.asc(), suppression::email_hash.asc()))
                .limit(limit)
                .load(conn)
        }
        Step::Journal => {
            let mut q = journal::table
                .filter(journal::kind.like("login.%"))
                .filter(journal::at.le(upto))
                .into_boxed();
            q = match tenant {
                Some(_) => q.filter(journal::tenant_id.eq(t)),
                None => q.filter(journal::tenant_id.is_null()),
            };
            after!(q, journal::at, journal::id, after)
                .select((journal::at, journal::id))
                .order((journal::at.asc(), journal::id.asc()))
                .limit(limit)
                .load(conn)
        }
        Step::MailSent => {
            let mut q = mail::table
                .filter(mail::status.eq(crate::mail::outbox::SENT))
                .filter(mail::sent_at.le(upto))
                .into_boxed();
            q = match tenant {
                Some(_) => q.filter(mail::tenant_id.eq(t)),
                None => q.filter(mail::tenant_id.is_null()),
            };
            let rows: Vec<(Option<NaiveDateTime>, String)> =
                after!(q, mail::sent_at, mail::id, after)
                    .select((mail::sent_at, mail::id))
                    .order((mail::sent_at.asc(), mail::id.asc()))
                    .limit(limit)
                    .load(conn)?;
            Ok(keys(rows))
        }
        Step::MailDead => {
            let mut q = mail::table
                .filter(mail::status.eq(crate::mail::outbox::DEAD))
                .filter(mail::created_at.le(upto))
                .into_boxed();
            q = match tenant {
                Some(_) => q.filter(mail::tenant_id.eq(t)),
                None => q.filter(mail::tenant_id.is_null()),
            };
            after!(q, mail::created_at, mail::id, after)
                .select((mail::created_at, mail::id))
                .order((mail::created_at.asc(), mail::id.asc()))
                .limit(limit)
                .load(conn)
        }
    }
}

fn keys(rows: Vec<(Option<NaiveDateTime>, String)>) -> Vec<Key> {
    rows.into_iter()
        .filter_map(|(t, id)| Some((t?, id)))
        .collect()
}

/// Removes the records `ids` of one step; returns counts by category.
fn remove(
    conn: &mut DbConnection,
    step: Step,
    tenant: Option<&str>,
    ids: &[String],
    as_of: NaiveDateTime,
) -> QueryResult<Vec<(&'static str, i64)>> {
    let n = match step {
        Step::ConsentEvents => {
            diesel::delete(consents::table.filter(consents::id.eq_any(ids))).execute(conn)?
        }
        Step::Documents { .. } => {
            let n = destroy_documents(conn, ids, as_of)?;
            timeline(conn, ids, as_of, "retention.documents_destroyed")?;
            n
        }
        Step::RequesterData { .. } => {
            let documents = destroy_documents(conn, ids, as_of)?;
            let erased = diesel::update(
                requests::table
                    .filter(requests::id.eq_any(ids))
                    .filter(requests::erased_at.is_null()),
            )
            .set((
                requests::first_name.eq(None::<String>),
                requests::last_name.eq(None::<String>),
                requests::email.eq(None::<String>),
                requests::email_hash.eq(None::<String>),
                requests::postal_address.eq(None::<String>),
                requests::details.eq(None::<String>),
                requests::grounds.eq(None::<String>),
                requests::search_text.eq(None::<String>),
                requests::extension_reason.eq(None::<String>),
                requests::outcome_reason.eq(None::<String>),
                requests::erased_at.eq(Some(as_of)),
                requests::updated_at.eq(as_of),
            ))
            .execute(conn)?;
            // Notes, reasons and messages of the timeline are free text.
            diesel::update(events::table.filter(events::request_id.eq_any(ids)))
                .set(events::detail.eq(None::<String>))
                .execute(conn)?;
            diesel::delete(tokens::table.filter(tokens::request_id.eq_any(ids))).execute(conn)?;
            timeline(conn, ids, as_of, "retention.erased")?;
            return Ok(vec![
                (category::ID_DOCUMENTS, documents as i64),
                (category::REQUESTS_ERASED, erased as i64),
            ]);
        }
        Step::Suppression => diesel::delete(
            suppression::table
                .filter(suppression::tenant_id.eq(tenant.unwrap_or_default()))
                .filter(suppression::email_hash.eq_any(ids)),
        )
        .execute(conn)?,
        Step::Journal => {
            diesel::delete(journal::table.filter(journal::id.eq_any(ids))).execute(conn)?
        }
        Step::MailSent | Step::MailDead => {
            diesel::delete(mail::table.filter(mail::id.eq_any(ids))).execute(conn)?
        }
    };
    Ok(vec![(step_category(step), n as i64)])
}

/// Destroys the contents of the requests' documents still held; their
/// metadata stay, saying when.
fn destroy_documents(
    conn: &mut DbConnection,
    request_ids: &[String],
    as_of: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        docs::table
            .filter(docs::request_id.eq_any(request_ids))
            .filter(docs::purged_at.is_null()),
    )
    .set((
        docs::ciphertext.eq(None::<Vec<u8>>),
        docs::purged_at.eq(Some(as_of)),
    ))
    .execute(conn)
}

/// Puts what the sweep did on each request's timeline.
fn timeline(
    conn: &mut DbConnection,
    request_ids: &[String],
    as_of: NaiveDateTime,
    action: &str,
) -> QueryResult<()> {
    for id in request_ids {
        crate::requests::store::add_event(conn, id, as_of, "system", action, None, None)?;
    }
    Ok(())
}
