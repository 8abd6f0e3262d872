//! The DPO's daily digest: each morning, per tenant, the requests overdue
//! and those due soon. One slot a day, claimed in the database, so that
//! several instances send it once.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::error::RightsError;
use super::lifecycle::Kind;
use super::notify::human_date;
use crate::clock::Clock;
use crate::db::schema::rights_requests as requests;
use crate::db::{Db, DbConnection, DbError};
use crate::mail::worker::Chore;
use crate::mail::{Letter, Mail, Template};
use crate::schedule::claim;
use crate::tenants::Tenants;

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
        let mut sent = 0;
        let mut all: Vec<_> = tenants.iter().cloned().collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        for tenant in all {
            let rows: Vec<(String, String, chrono::NaiveDateTime)> = requests::table
                .filter(requests::tenant_id.eq(&tenant.id))
                .filter(requests::is_open.eq(true))
                .filter(requests::paused_at.is_null())
                .filter(requests::due_at.le(horizon))
                .order(requests::due_at.asc())
                .select((requests::reference, requests::kind, requests::due_at))
                .load(conn)?;
            if rows.is_empty() {
                continue;
            }
            let locale = tenant.config.locale;
            let (mut overdue, mut due_soon) = (Vec::new(), Vec::new());
            for (reference, kind, due) in rows {
                let due_utc = due.and_utc();
                let line = Line {
                    reference,
                    kind_label: Kind::parse(&kind).map_or("", |k| k.label(locale)),
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
            let ctx = serde_json::json!({
                "date": human_date(now, locale, tz),
                "overdue": overdue,
                "due_soon": due_soon,
                "console_link": format!("{}/console", public_url.trim_end_matches('/')),
            });
            let letter = Letter {
                tenant: Some(&tenant),
                locale,
                to: &tenant.config.dpo_email,
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
