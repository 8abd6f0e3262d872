//! The DPO's daily digest: each morning, the requests overdue and those due
//! soon. One e-mail per address, with a section per tenant: each enabled
//! DPO account gets one covering every tenant it serves, and a tenant's
//! configured `dpo_email` gets its tenant's, in the same e-mail when an
//! account has that address (no one gets two). One slot a day, claimed in
//! the database, so that several instances send it once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::error::RightsError;
use super::lifecycle::Kind;
use super::notify::human_date;
use crate::clock::Clock;
use crate::db::schema::{rights_requests as requests, staff_tenants, staff_users};
use crate::db::{Db, DbConnection, DbError};
use crate::mail::worker::Chore;
use crate::mail::{Letter, Mail, Template};
use crate::schedule::claim;
use crate::tenants::{Locale, Tenant, Tenants};

pub const JOB: &str = "dpo_digest";

/// The slot due at `now`: today's local date once the digest time has
/// come, none before.
pub fn slot(now: DateTime<Utc>, at: NaiveTime, tz: chrono_tz::Tz) -> Option<String> {
    let local = now.with_timezone(&tz);
    let today = local.date_naive();
    let due = tz.from_local_datetime(&today.and_time(at)).earliest()?;
    (now >= due.with_timezone(&Utc)).then(|| today.format("%Y-%m-%d").to_string())
}

#[derive(Debug, Serialize)]
struct Line {
    reference: String,
    kind_label: &'static str,
    due_at: String,
    days_late: i64,
    days_left: i64,
}

/// One tenant's part of a digest.
#[derive(Debug, Serialize)]
struct Section {
    tenant_name: String,
    overdue: Vec<Line>,
    due_soon: Vec<Line>,
}

/// What one run did: the slot, and how many digests were queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRun {
    pub slot: String,
    pub sent: usize,
}

/// What the digest needs: the requests, the outbox, the tenants and their
/// DPOs, the console's address and the time.
#[derive(Clone)]
pub struct Digest {
    pub db: Db,
    pub mail: Arc<Mail>,
    pub tenants: Tenants,
    pub public_url: String,
    pub clock: Clock,
}

impl Digest {
    /// Queues the DPO digest of the day when its time has come and no
    /// instance has sent it yet. Blocking.
    pub fn run_due(&self) -> Result<Option<DigestRun>, RightsError> {
        let mut conn = self.db.pool().get().map_err(DbError::from)?;
        run_due(
            &mut conn,
            &self.mail,
            &self.tenants,
            &self.public_url,
            self.clock.now(),
        )
    }

    /// The digest as a chore of the mail worker, which looks for it once a
    /// minute.
    pub fn chore(self) -> Chore {
        Arc::new(move || {
            if let Err(e) = self.run_due() {
                tracing::warn!(error = %e, "DPO digest failed; will try again");
            }
        })
    }
}

/// Who gets a digest, and of which tenants (ids, in order): every enabled
/// DPO account, for the tenants it serves (its primary first); then each
/// tenant's configured `dpo_email`, for that tenant, added to the account
/// of the same address if there is one. By address, lower case.
fn recipients(
    conn: &mut DbConnection,
    tenants: &Tenants,
) -> Result<BTreeMap<String, Vec<String>>, RightsError> {
    let served: Vec<(String, String)> = staff_users::table
        .inner_join(staff_tenants::table)
        .filter(staff_users::role.eq(crate::staff::Role::Dpo.as_str()))
        .filter(staff_users::disabled.eq(false))
        .order((staff_users::email.asc(), staff_tenants::position.asc()))
        .select((staff_users::email, staff_tenants::tenant_id))
        .load(conn)?;
    let mut to: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |address: &str, tenant_id: &str| {
        let list = to.entry(address.trim().to_lowercase()).or_default();
        if !list.iter().any(|t| t == tenant_id) {
            list.push(tenant_id.to_owned());
        }
    };
    for (email, tenant_id) in &served {
        if tenants.by_id(tenant_id).is_some() {
            add(email, tenant_id);
        }
    }
    let mut all: Vec<&Arc<Tenant>> = tenants.iter().collect();
    all.sort_by(|a, b| a.slug.cmp(&b.slug));
    for tenant in all {
        add(&tenant.config.dpo_email, &tenant.id);
    }
    Ok(to)
}

/// The lines of one tenant's section, in the letter's locale.
fn section(
    tenant: &Tenant,
    rows: &[(String, String, chrono::NaiveDateTime)],
    locale: Locale,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Section {
    let (mut overdue, mut due_soon) = (Vec::new(), Vec::new());
    for (reference, kind, due) in rows {
        let due_utc = due.and_utc();
        let line = Line {
            reference: reference.clone(),
            kind_label: Kind::parse(kind).map_or("", |k| k.label(locale)),
            due_at: human_date(due_utc, locale, tz),
            days_late: (now - due_utc).num_days().max(0),
            days_left: (due_utc - now).num_days().max(0),
        };
        if due_utc < now {
            overdue.push(line);
        } else {
            due_soon.push(line);
        }
    }
    Section {
        tenant_name: tenant.config.name.clone(),
        overdue,
        due_soon,
    }
}

/// Sends the digest of the slot due at `now`, unless it was sent already.
/// The claim and the messages commit together.
pub fn run_due(
    conn: &mut DbConnection,
    mail: &Mail,
    tenants: &Tenants,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<Option<DigestRun>, RightsError> {
    let s = &mail.settings;
    let at = NaiveTime::parse_from_str(&s.digest_time, "%H:%M").unwrap_or(NaiveTime::MIN);
    let tz: chrono_tz::Tz = s
        .digest_timezone
        .parse()
        .unwrap_or(chrono_tz::Europe::Paris);
    let Some(slot) = slot(now, at, tz) else {
        return Ok(None);
    };
    crate::db::write_transaction(conn, |conn| {
        if !claim(conn, JOB, &slot, now)? {
            return Ok(None);
        }
        let horizon = (now + Duration::days(s.digest_window_days)).naive_utc();
        let due: Vec<(String, String, String, chrono::NaiveDateTime)> = requests::table
            .filter(requests::is_open.eq(true))
            .filter(requests::paused_at.is_null())
            .filter(requests::due_at.le(horizon))
            .order((requests::due_at.asc(), requests::id.asc()))
            .select((
                requests::tenant_id,
                requests::reference,
                requests::kind,
                requests::due_at,
            ))
            .load(conn)?;
        let mut by_tenant: HashMap<String, Vec<(String, String, chrono::NaiveDateTime)>> =
            HashMap::new();
        for (tenant_id, reference, kind, due_at) in due {
            by_tenant
                .entry(tenant_id)
                .or_default()
                .push((reference, kind, due_at));
        }
        let console_link = format!("{}/console", public_url.trim_end_matches('/'));
        let mut sent = 0;
        for (address, ids) in recipients(conn, tenants)? {
            let served: Vec<Arc<Tenant>> = ids.iter().filter_map(|id| tenants.by_id(id)).collect();
            let Some(first) = served.first() else {
                continue;
            };
            // In the locale of the account's primary tenant (or the
            // address's first); sections by the communes' names.
            let locale = first.config.locale;
            let mut due_here: Vec<&Arc<Tenant>> = served
                .iter()
                .filter(|t| by_tenant.contains_key(&t.id))
                .collect();
            due_here.sort_by(|a, b| a.config.name.cmp(&b.config.name));
            let sections: Vec<Section> = due_here
                .iter()
                .map(|t| section(t, &by_tenant[&t.id], locale, now, tz))
                .collect();
            let (tenant, tenant_name) = match due_here.as_slice() {
                [] => continue,
                [one] => (Some(one.as_ref()), one.config.name.clone()),
                several => (None, several_tenants(locale, several.len())),
            };
            let mut ctx = serde_json::json!({
                "date": human_date(now, locale, tz),
                "overdue_count": sections.iter().map(|s| s.overdue.len()).sum::<usize>(),
                "due_soon_count": sections.iter().map(|s| s.due_soon.len()).sum::<usize>(),
                "sections": sections,
                "console_link": console_link,
                "tenant_name": tenant_name,
                "window_days": s.digest_window_days,
            });
            if tenant.is_none() {
                // Of several tenants: the letter's foot names the DPO they
                // share, and no one tenant's address.
                ctx["dpo_email"] = address.clone().into();
                ctx["postal_address"] = "".into();
            }
            let letter = Letter {
                tenant,
                locale,
                to: &address,
                template: Template::Digest,
            };
            mail.enqueue(conn, letter, ctx, now.naive_utc())?;
            sent += 1;
        }
        tracing::info!(slot = %slot, digests = sent, "DPO digest");
        Ok(Some(DigestRun {
            slot: slot.clone(),
            sent,
        }))
    })
}

/// How a digest of several tenants names them, in its heading and subject.
fn several_tenants(locale: Locale, n: usize) -> String {
    match locale {
        Locale::Fr => format!("{n} collectivités"),
        Locale::En => format!("{n} authorities"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_opens_at_the_local_time() {
        let at = NaiveTime::from_hms_opt(8, 0, 0).unwrap();
        let paris = chrono_tz::Europe::Paris;
        // 08:00 in Paris is 07:00 UTC in winter, 06:00 UTC in summer.
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(slot(t("2026-03-02T06:59:59Z"), at, paris), None);
        assert_eq!(
            slot(t("2026-03-02T07:00:00Z"), at, paris).as_deref(),
            Some("2026-03-02")
        );
        assert_eq!(
            slot(t("2026-07-01T06:00:00Z"), at, paris).as_deref(),
            Some("2026-07-01")
        );
        assert_eq!(slot(t("2026-07-01T05:59:00Z"), at, paris), None);
        // Half past midnight in Paris: the new day's digest is not due yet.
        assert_eq!(slot(t("2026-03-02T23:30:00Z"), at, paris), None);
    }
}
