//! The referents' reminder: once an assignment's due date has passed
//! without the referent's note, on an open request, the referent is
//! e-mailed once. Each reminder is claimed in the database with its
//! letter, so that several instances send it once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::error::RightsError;
use super::lifecycle::Kind;
use super::notify::{console_link, human_date};
use crate::clock::Clock;
use crate::db::schema::{
    request_assignments as assignments, rights_requests as requests, staff_users,
};
use crate::db::{Db, DbConnection, DbError};
use crate::mail::worker::Chore;
use crate::mail::{Letter, Mail, Template};
use crate::tenants::Tenants;

/// Reminders looked at per run; the rest wait for the next minute.
const BATCH: i64 = 100;

/// What the reminders need: the assignments, the outbox, the tenants, the
/// console's address and the time.
#[derive(Clone)]
pub struct Reminders {
    pub db: Db,
    pub mail: Arc<Mail>,
    pub tenants: Tenants,
    pub public_url: String,
    pub timezone: chrono_tz::Tz,
    pub clock: Clock,
}

type Due = (
    String,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
    String,
    String,
    Kind,
    chrono::NaiveDateTime,
    String,
    String,
);

impl Reminders {
    /// Queues the reminders due at `now`; how many. Blocking.
    pub fn run_due(&self) -> Result<usize, RightsError> {
        let mut conn = self.db.pool().get().map_err(DbError::from)?;
        self.remind(&mut conn, self.clock.now())
    }

    fn remind(&self, conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, RightsError> {
        let at = now.naive_utc();
        let due: Vec<Due> = assignments::table
            .inner_join(requests::table)
            .inner_join(staff_users::table)
            .filter(assignments::answered_at.is_null())
            .filter(assignments::reminded_at.is_null())
            .filter(assignments::due_at.le(at))
            .filter(requests::is_open.eq(true))
            .filter(staff_users::disabled.eq(false))
            .order(assignments::due_at.asc())
            .limit(BATCH)
            .select((
                assignments::id,
                assignments::due_at,
                assignments::created_at,
                staff_users::email,
                requests::reference,
                requests::kind,
                requests::due_at,
                requests::tenant_id,
                requests::id,
            ))
            .load(conn)?;
        let mut sent = 0;
        for (id, due_at, assigned_at, to, reference, kind, request_due, tenant_id, request_id) in
            due
        {
            let Some(tenant) = self.tenants.by_id(&tenant_id) else {
                continue;
            };
            let locale = tenant.config.locale;
            let tz = self.timezone;
            let ctx = serde_json::json!({
                "reference": reference,
                "kind_label": kind.label(locale),
                "due_at": human_date(due_at.and_utc(), locale, tz),
                "assigned_at": human_date(assigned_at.and_utc(), locale, tz),
                "request_due_at": human_date(request_due.and_utc(), locale, tz),
                "link": console_link(&self.public_url, &request_id),
            });
            let queued = crate::db::write_transaction(conn, |conn| {
                // The claim: of two instances, one updates the row.
                let claimed = diesel::update(
                    assignments::table
                        .filter(assignments::id.eq(&id))
                        .filter(assignments::reminded_at.is_null())
                        .filter(assignments::answered_at.is_null()),
                )
                .set(assignments::reminded_at.eq(Some(at)))
                .execute(conn)?;
                if claimed == 0 {
                    return Ok::<_, RightsError>(false);
                }
                let letter = Letter {
                    tenant: Some(&tenant),
                    locale,
                    to: &to,
                    template: Template::ReferentReminder,
                };
                self.mail.enqueue(conn, letter, ctx, at)?;
                Ok(true)
            })?;
            sent += usize::from(queued);
        }
        if sent > 0 {
            tracing::info!(reminders = sent, "referents reminded");
        }
        Ok(sent)
    }

    /// The reminders as a chore of the mail worker, which looks for them
    /// once a minute.
    pub fn chore(self) -> Chore {
        Arc::new(move || {
            if let Err(e) = self.run_due() {
                tracing::warn!(error = %e, "referent reminders failed; will try again");
            }
        })
    }
}
