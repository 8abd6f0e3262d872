//! Mail that always arrives: messages are rendered and queued in the
//! outbox inside the transaction of the change that causes them, then
//! delivered by a worker with retries; templates in French and English.

pub mod admin;
pub mod outbox;
pub mod templates;
pub mod transport;
pub mod worker;

use chrono::{DateTime, NaiveDateTime, Utc};
use lettre::message::Mailbox;
use serde::Serialize;

use crate::config::{MailSettings, Settings};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::tenants::{Locale, Tenant};
pub use templates::{Template, Templates};
pub use transport::Transport;

/// Why a message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The recipient's address cannot receive mail.
    #[error("the recipient's address is not deliverable")]
    Undeliverable,
    /// A template failed to render (a bug: every template is tested).
    #[error("{0}")]
    Template(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Undeliverable => ApiError::field("email", "is not a deliverable address"),
            MailError::Template(why) => ApiError::internal(anyhow::anyhow!(why)),
            MailError::Database(e) => e.into(),
        }
    }
}

/// Who a message is for, and which template says it.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The tenant on whose behalf it is written (its name, DPO and address
    /// go into every template).
    pub tenant: Option<&'a Tenant>,
    pub locale: Locale,
    pub to: &'a str,
    pub template: Template,
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
    ) -> Result<String, MailError> {
        let Letter {
            tenant,
            locale,
            to,
            template,
        } = letter;
        let mut ctx = serde_json::to_value(ctx).map_err(|e| MailError::Template(e.to_string()))?;
        if let (Some(t), Some(map)) = (tenant, ctx.as_object_mut()) {
            map.entry("tenant_name")
                .or_insert(t.config.name.clone().into());
            map.entry("dpo_email")
                .or_insert(t.config.dpo_email.clone().into());
            map.entry("postal_address")
                .or_insert(t.config.postal_address.clone().into());
            if let Some(accent) = t.config.theme.accent() {
                map.entry("accent").or_insert(accent.css().into());
            }
        }
        let rendered = self.templates.render(template, locale, &ctx)?;
        let to = to.trim();
        if to.parse::<Mailbox>().is_err() {
            return Err(MailError::Undeliverable);
        }
        let id = uuid::Uuid::now_v7();
        let row = outbox::OutboxRow {
            id: id.to_string(),
            tenant_id: tenant.map(|t| t.id.clone()),
            message_id: format!("<{}@{}>", id.simple(), self.host),
            template: template.as_str().to_owned(),
            recipient: to.to_owned(),
            subject: rendered.subject,
            body_text: rendered.text,
            body_html: rendered.html,
            status: outbox::Status::Pending.as_str().into(),
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
            sender_name: tenant.map(|t| t.config.sender_name().to_owned()),
            reply_to: tenant.map(|t| t.config.reply_address().to_owned()),
        };
        outbox::insert(conn, &row)?;
        Ok(row.id)
    }
}

impl Mail {
    /// Writes the test message to `to` and sends it through the transport
    /// now, without the outbox (`guichet mail-test`). Returns its
    /// Message-ID.
    pub fn send_test(&self, to: &str, now: DateTime<Utc>) -> Result<String, String> {
        let ctx = serde_json::json!({
            "tenant_name": "Guichet",
            "dpo_email": self.from.email.to_string(),
            "postal_address": "",
            "sent_at": now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        });
        let rendered = self
            .templates
            .render(Template::Test, Locale::Fr, &ctx)
            .map_err(|e| e.to_string())?;
        let id = uuid::Uuid::now_v7();
        let message_id = format!("<{}@{}>", id.simple(), self.host);
        let message = transport::build(
            &transport::Sender {
                from: &self.from,
                name: None,
                reply_to: None,
            },
            to,
            &message_id,
            &rendered.subject,
            &rendered.text,
            &rendered.html,
        )
        .map_err(|e| e.to_string())?;
        self.transport
            .send(&message, &id.to_string())
            .map_err(|e| format!("not sent: {e}"))?;
        Ok(message_id)
    }
}
