//! The e-mails of a request's life, queued in the transaction of the change
//! that causes them. The DPO's never carry the free text or the document;
//! the requester's announce the DPO's answers (messages, closing notes,
//! rejection reasons) with a tracking link, never their text or files.

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;

use super::error::RightsError;
use super::lifecycle::Kind;
use super::service::RightsService;
use super::store::RequestRow;
use crate::db::DbConnection;
use crate::mail::{Letter, Template};
use crate::tenants::{Greeting, Locale, Tenant};

pub const CNIL_COMPLAINTS: &str = "https://www.cnil.fr/fr/plaintes";

/// A date as people write it: "2 avril 2026", "2 April 2026".
pub fn human_date(at: DateTime<Utc>, locale: Locale, tz: chrono_tz::Tz) -> String {
    const FR: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let local = at.with_timezone(&tz);
    let month = local.month0() as usize;
    match locale {
        Locale::Fr => format!("{} {} {}", local.day(), FR[month], local.year()),
        Locale::En => format!("{} {} {}", local.day(), EN[month], local.year()),
    }
}

/// How long a copy of an identity document asked for is kept: the
/// tenant's own period, in its language's words (the letters asking for
/// it say so).
pub fn id_retention(state: &RightsService, tenant: &Tenant, kind: Kind) -> String {
    let periods = state.settings.periods_of(tenant);
    let period = match kind {
        Kind::Opposition => periods.id_documents_opposition,
        _ => periods.id_documents,
    };
    period.in_words(tenant.config.locale == Locale::Fr)
}

pub fn tracking_link(state: &RightsService, token: &str) -> String {
    format!(
        "{}/v1/requests/track/{token}",
        state.settings.server.public_url.trim_end_matches('/')
    )
}

pub struct Notifier<'a> {
    pub state: &'a RightsService,
    pub tenant: &'a Tenant,
}

impl Notifier<'_> {
    fn locale(&self) -> Locale {
        self.tenant.config.locale
    }

    fn date(&self, at: chrono::NaiveDateTime) -> String {
        human_date(
            at.and_utc(),
            self.locale(),
            self.state.settings.requests.tz(),
        )
    }

    /// The first name the letters greet by: none (« Madame, Monsieur, »)
    /// unless the tenant chose to greet by it.
    fn first_name<'r>(&self, row: &'r RequestRow) -> Option<&'r str> {
        match self.tenant.config.greeting {
            Greeting::Formal => None,
            Greeting::FirstName => row.first_name.as_deref(),
        }
    }

    fn kind_label(&self, row: &RequestRow) -> &'static str {
        row.kind.label(self.locale())
    }

    fn to_requester(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        template: Template,
        ctx: serde_json::Value,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let Some(email) = row.email.as_deref() else {
            return Ok(());
        };
        let letter = Letter {
            tenant: Some(self.tenant),
            locale: self.locale(),
            to: email,
            template,
        };
        self.state.mail.enqueue(conn, letter, ctx, now)?;
        Ok(())
    }

    /// The request's page in the console, for the DPO's letters.
    fn console_link(&self, row: &RequestRow) -> String {
        console_link(&self.state.settings.server.public_url, &row.id)
    }

    fn to_dpo(
        &self,
        conn: &mut DbConnection,
        template: Template,
        ctx: serde_json::Value,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let dpo = Letter {
            tenant: Some(self.tenant),
            locale: self.locale(),
            to: &self.tenant.config.dpo_email,
            template,
        };
        self.state.mail.enqueue(conn, dpo, ctx, now)?;
        Ok(())
    }

    /// The requester's acknowledgement of the requests of one submission
    /// (one per right) and, when `notify_dpo`, the DPO's notice: one letter
    /// each for them all. `token` follows every one of them.
    pub fn submitted(
        &self,
        conn: &mut DbConnection,
        rows: &[RequestRow],
        token: &str,
        has_document: bool,
        notify_dpo: bool,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let requests: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| json!({"reference": r.reference, "kind_label": self.kind_label(r)}))
            .collect();
        let references = rows
            .iter()
            .map(|r| r.reference.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let on_behalf = row.on_behalf_of().map(|o| {
            json!({
                "name": format!("{} {}", o.first_name, o.last_name),
                "relation": o.relation.label(self.locale()),
            })
        });
        let several = rows.len() > 1;
        if notify_dpo {
            let ctx = json!({
                "reference": row.reference, "kind_label": self.kind_label(row),
                "references": references, "requests": requests, "several": several,
                "received_at": self.date(row.received_at), "due_at": self.date(row.due_at),
                "link": self.console_link(row), "has_id_document": has_document,
                "on_behalf": on_behalf.is_some(),
            });
            self.to_dpo(conn, Template::DpoNewRequest, ctx, now)?;
        }
        let ctx = json!({
            "first_name": self.first_name(row), "reference": row.reference, "kind_label": self.kind_label(row),
            "references": references, "requests": requests, "several": several,
            "received_at": self.date(row.received_at), "due_at": self.date(row.due_at),
            "tracking_link": tracking_link(self.state, token),
            "has_id_document": has_document, "phone": self.tenant.config.phone,
            "cnil_url": CNIL_COMPLAINTS, "on_behalf": on_behalf,
        });
        self.to_requester(conn, row, Template::RequesterAck, ctx, now)
    }

    /// The DPO's notice that the identity document asked for arrived:
    /// the reference, the dates and the link, as the new-request notice
    /// (never the documents).
    pub fn document_received(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        documents: usize,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let ctx = json!({
            "reference": row.reference, "kind_label": self.kind_label(row),
            "uploaded_at": self.date(now), "due_at": self.date(row.due_at),
            "documents": documents, "link": self.console_link(row),
        });
        self.to_dpo(conn, Template::DpoNewDocument, ctx, now)
    }

    pub fn identity_requested(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        note: Option<&str>,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let retention = id_retention(self.state, self.tenant, row.kind);
        let token = super::store::new_tracking_token(conn, &row.id, now)?;
        let ctx = json!({
            "first_name": self.first_name(row), "reference": row.reference,
            "tracking_link": tracking_link(self.state, &token),
            "note": note.unwrap_or(""), "id_retention": retention,
        });
        self.to_requester(conn, row, Template::IdentityRequested, ctx, now)
    }

    pub fn extended(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let ctx = json!({
            "first_name": self.first_name(row), "reference": row.reference,
            "reason": row.extension_reason, "due_at": self.date(row.due_at),
        });
        self.to_requester(conn, row, Template::Extension, ctx, now)
    }

    /// The request is completed; its closing note and files, if any, wait
    /// on the tracking page (`answer`: how many files, with a note).
    pub fn completed(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        answer: Option<usize>,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let token = super::store::new_tracking_token(conn, &row.id, now)?;
        let ctx = json!({
            "first_name": self.first_name(row), "reference": row.reference,
            "kind_label": self.kind_label(row),
            "answered": answer.is_some(), "attachments": answer.unwrap_or(0),
            "tracking_link": tracking_link(self.state, &token),
        });
        self.to_requester(conn, row, Template::Completed, ctx, now)
    }

    /// The request is rejected; its reason and files wait on the tracking
    /// page.
    pub fn rejected(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        attachments: usize,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let token = super::store::new_tracking_token(conn, &row.id, now)?;
        let ctx = json!({
            "first_name": self.first_name(row), "reference": row.reference,
            "kind_label": self.kind_label(row), "attachments": attachments,
            "tracking_link": tracking_link(self.state, &token),
            "cnil_url": CNIL_COMPLAINTS,
        });
        self.to_requester(conn, row, Template::Rejected, ctx, now)
    }

    /// A message of the DPO (with `attachments` files) waits on the
    /// tracking page: the letter says so, never what it says.
    pub fn message(
        &self,
        conn: &mut DbConnection,
        row: &RequestRow,
        attachments: usize,
        now: chrono::NaiveDateTime,
    ) -> Result<(), RightsError> {
        let token = super::store::new_tracking_token(conn, &row.id, now)?;
        let ctx = json!({
            "first_name": self.first_name(row), "reference": row.reference,
            "attachments": attachments,
            "tracking_link": tracking_link(self.state, &token),
        });
        self.to_requester(conn, row, Template::DpoMessage, ctx, now)
    }
}

/// The console's page of a request, for the staff's letters.
pub fn console_link(public_url: &str, request_id: &str) -> String {
    format!(
        "{}/console/requests/{request_id}",
        public_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_for_people_in_the_tenant_time_zone() {
        let at: DateTime<Utc> = "2026-03-31T22:30:00Z".parse().unwrap();
        assert_eq!(
            human_date(at, Locale::Fr, chrono_tz::Europe::Paris),
            "1 avril 2026"
        );
        assert_eq!(human_date(at, Locale::En, chrono_tz::UTC), "31 March 2026");
    }
}
