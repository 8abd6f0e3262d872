//! Outgoing mail: transport, delivery worker, daily digest.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransportKind,
    /// Sender of every message, e.g. `Guichet <no-reply@example.org>`.
    pub from: String,
    /// Folder of `.eml` files for the `file` transport, relative to `storage.data_dir`.
    pub file_dir: PathBuf,
    /// Run the delivery worker inside `guichet serve`.
    pub worker: bool,
    /// Milliseconds between two passes of the worker.
    pub poll_interval_ms: u64,
    /// Messages claimed per batch.
    pub batch_size: i64,
    /// Seconds a claimed message stays reserved to its worker.
    pub lease_secs: u64,
    /// First retry delay, doubled at each failure up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Local time (`HH:MM`) of the DPO's daily digest, in `digest_timezone`.
    pub digest_time: String,
    pub digest_timezone: String,
    /// The digest lists requests due within this many days, and overdue ones.
    pub digest_window_days: i64,
    pub smtp: SmtpSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    pub timeout_secs: u64,
}
