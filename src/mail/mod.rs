//! Mail that always arrives: messages are rendered and queued in the
//! outbox inside the transaction of the change that causes them, then
//! delivered by a worker with retries; templates in French and English.

pub mod admin;
pub mod digest;
pub mod outbox;
pub mod templates;
pub mod transport;
pub mod worker;

use chrono::NaiveDateTime;
use lettre::message::Mailbox;
use serde::Serialize;

use crate::config::{MailSettings, Settings};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::tenants::{Locale, Tenant};
pub use templates::Templates;
pub use transport::Transport;

/// Who a message is for, and which template says it.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The tenant on whose behalf it is written (its name, DPO and address
    /// go into every template).
    pub tenant: Option<&'a Tenant>,
    pub locale: Locale,
    pub to: &'a str,
    pub template: &'a str,
}

/// Everything needed to write and send mail.
pub struct Mail {
    pub templates: Templates,
    pub transport: Transport,
    pub from: Mailbox,
    pub settings: MailSettings,
    /// Domain part of Message-IDs.
    pub host: String,
}

impl Mail {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        let from: Mailbox = settings
            .mail
            .from
            .parse()
            .map_err(|e| format!("`mail.from` is not a mailbox: {e}"))?;
        let host = from.email.domain().to_owned();
        Ok(Self {
            templates: Templates::new(),
            transport: Transport::from_settings(&settings.mail, settings.mail_dir())?,
            from,
            settings: settings.mail.clone(),
            host,
        })
    }

    /// Renders the letter's template and queues it, in the caller's
    /// transaction. Returns the outbox id.
    pub fn enqueue(
        &self,
        conn: &mut DbConnection,
        letter: Letter<'_>,
        ctx: impl Serialize,
        now: NaiveDateTime,
    ) -> Result<String, ApiError> {
        let Letter {
            tenant,
            locale,
            to,
            template,
        } = letter;
        let mut ctx = serde_json::to_value(ctx).map_err(ApiError::internal)?;
        if let (Some(t), Some(map)) = (tenant, ctx.as_object_mut()) {
            map.entry("tenant_name")
                .or_insert(t.config.name.clone().into());
            map.entry("dpo_email")
                .or_insert(t.config.dpo_email.clone().into());
            map.entry("postal_address")
                .or_insert(t.config.postal_address.clone().into());
        }
        let rendered = self.templates.render(template, locale, &ctx)?;
        let to = to.trim();
        if to.parse::<Mailbox>().is_err() {
            return Err(ApiError::field("email", "is not a deliverable address"));
        }
        let id = uuid::Uuid::now_v7();
        let row = outbox::OutboxRow {
            id: id.to_string(),
            tenant_id: tenant.map(|t| t.id.clone()),
            message_id: format!("<{}@{}>", id.simple(), self.host),
            template: template.to_owned(),
            recipient: to.to_owned(),
            subject: rendered.subject,
            body_text: rendered.text,
            body_html: rendered.html,
            status: outbox::PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
        };
        outbox::insert(conn, &row)?;
        Ok(row.id)
    }
}
