//! The delivery worker: claims due messages, sends them with no database
//! transaction open, and records the outcome. Transient failures are tried
//! again with exponential backoff and jitter, for as long as it takes;
//! permanent ones are marked dead with their reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use prometheus::{IntCounterVec, IntGauge, Opts};
use rand::Rng;

use super::outbox::{self, Status};
use super::transport::{self, SendError};
use super::Mail;
use crate::clock::Clock;
use crate::db::Db;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
}

#[derive(Clone)]
pub struct MailMetrics {
    outcomes: IntCounterVec,
    dead: IntGauge,
}

impl MailMetrics {
    pub fn register(registry: &prometheus::Registry) -> Self {
        let outcomes = IntCounterVec::new(
            Opts::new(
                "mail_deliveries_total",
                "Delivery attempts by outcome (sent, retry, dead).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let dead = IntGauge::new(
            "mail_dead_messages",
            "Messages given up on, waiting for an operator.",
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(outcomes.clone()));
        let _ = registry.register(Box::new(dead.clone()));
        Self { outcomes, dead }
    }
}

/// Work the mail worker's thread does besides delivering, once a minute
/// (the DPO digest, which the rights requests provide).
pub type Chore = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub mail: Arc<Mail>,
    pub clock: Clock,
    pub metrics: MailMetrics,
    pub chores: Vec<Chore>,
}

impl Worker {
    /// Delivers every message due now, batch after batch. Blocking.
    pub fn deliver_due(&self) -> Result<Pass, crate::db::DbError> {
        let settings = &self.mail.settings;
        let mut pass = Pass::default();
        loop {
            let now = self.clock.now().naive_utc();
            let lease = Span::seconds(settings.lease_secs as i64);
            let batch = {
                let mut conn = self.db.pool().get()?;
                outbox::claim(&mut conn, now, lease, settings.batch_size)?
            };
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                let sender = transport::Sender {
                    from: &self.mail.from,
                    name: row.sender_name.as_deref(),
                    reply_to: row.reply_to.as_deref(),
                };
                let result = transport::build(
                    &sender,
                    &row.recipient,
                    &row.message_id,
                    &row.subject,
                    &row.body_text,
                    &row.body_html,
                )
                .and_then(|m| self.mail.transport.send(&m, &row.id));
                let mut conn = self.db.pool().get()?;
                let now = self.clock.now().naive_utc();
                match result {
                    Ok(()) => {
                        outbox::mark_sent(&mut conn, &row.id, now)?;
                        pass.sent += 1;
                        self.metrics.outcomes.with_label_values(&["sent"]).inc();
                        tracing::info!(message = %row.id, template = %row.template, "mail sent");
                    }
                    Err(SendError::Transient(why)) => {
                        let reason = transport::transient_reason(&why);
                        let wait = outbox::backoff(
                            row.attempts,
                            Span::seconds(settings.retry_base_secs as i64),
                            Span::seconds(settings.retry_max_secs as i64),
                            rand::rng().random::<f64>(),
                        );
                        outbox::mark_retry(
                            &mut conn,
                            &row.id,
                            now + wait,
                            &scrub(&why, &row.recipient),
                        )?;
                        pass.retried += 1;
                        self.metrics.outcomes.with_label_values(&["retry"]).inc();
                        tracing::warn!(message = %row.id, attempts = row.attempts, retry_in_secs = wait.num_seconds(), reason, "mail delivery failed; will retry");
                    }
                    Err(SendError::Permanent(why)) => {
                        outbox::mark_dead(&mut conn, &row.id, &scrub(&why, &row.recipient))?;
                        pass.dead += 1;
                        self.metrics.outcomes.with_label_values(&["dead"]).inc();
                        tracing::error!(message = %row.id, template = %row.template, reason = "refused", "mail refused for good; marked dead");
                    }
                }
            }
            if (batch.len() as i64) < settings.batch_size {
                break;
            }
        }
        let mut conn = self.db.pool().get()?;
        self.metrics
            .dead
            .set(outbox::count_by_status(&mut conn, Status::Dead)?);
        Ok(pass)
    }

    /// Runs passes in a thread of its own until the service stops; does its
    /// chores (the digest) once a minute.
    pub fn spawn(self, stop: crate::shutdown::Stop) -> std::thread::JoinHandle<()> {
        let every = Duration::from_millis(self.mail.settings.poll_interval_ms);
        std::thread::Builder::new()
            .name("mail-worker".into())
            .spawn(move || {
                let mut last_chores: Option<std::time::Instant> = None;
                loop {
                    if last_chores.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        last_chores = Some(std::time::Instant::now());
                        for chore in &self.chores {
                            chore();
                        }
                    }
                    if let Err(e) = self.deliver_due() {
                        tracing::warn!(error = %e, "mail worker pass failed");
                    }
                    if !stop.pause(every) {
                        return;
                    }
                }
            })
            .expect("spawn the mail worker thread")
    }
}

/// An SMTP error may quote the recipient: keep it out of what is stored
/// and shown.
fn scrub(why: &str, recipient: &str) -> String {
    why.replace(recipient, "<recipient>")
        .chars()
        .take(500)
        .collect()
}
