//! Layered configuration: the embedded `config/default.toml`, then
//! `config/{GUICHET_ENV}.toml` when present, then the file named by
//! `--config`, then `GUICHET__SECTION__KEY` environment variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment as EnvSource, File, FileFormat};
use serde::Deserialize;

use crate::tenants::TenantConfig;

mod validate;

/// The defaults compiled into the binary, so that it serves with no setup.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Deployment environment, from `GUICHET_ENV` (default `development`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
    Other(String),
}

impl Environment {
    pub fn from_env() -> Self {
        Self::parse(&std::env::var("GUICHET_ENV").unwrap_or_default())
    }

    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "" | "development" => Self::Development,
            "test" => Self::Test,
            "production" => Self::Production,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
            Self::Other(name) => name,
        }
    }

    pub fn is_production(&self) -> bool {
        *self == Self::Production
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub log: LogSettings,
    pub limits: LimitSettings,
    pub mail: MailSettings,
    pub auth: AuthSettings,
    pub consent: ConsentSettings,
    pub requests: RequestSettings,
    pub retention: crate::retention::RetentionSettings,
    #[serde(default)]
    pub secrets: SecretSettings,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Not read from files: set from `GUICHET_ENV` by [`Settings::load`].
    #[serde(skip, default = "default_env")]
    pub env: Environment,
}

fn default_env() -> Environment {
    Environment::Development
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: String,
    /// Worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Public base URL, used in links sent by email.
    pub public_url: String,
    /// Seconds a client has to send its request head.
    pub client_request_timeout_secs: u64,
    /// Seconds a request body may stop arriving before the request ends
    /// in a 408.
    pub body_idle_timeout_secs: u64,
    /// Seconds a whole request body may take, from the request head.
    pub body_timeout_secs: u64,
    /// Seconds given to in-flight requests at shutdown.
    pub shutdown_timeout_secs: u64,
    /// Reverse proxies whose forwarding header is believed; from anyone
    /// else the peer address is the client's.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header the trusted proxies write the client's address in.
    #[serde(default)]
    pub forwarded_header: ForwardedHeader,
}

/// Where a reverse proxy writes the address it received a request from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Maximum pooled connections.
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    pub acquire_timeout_secs: u64,
    /// Seconds to wait when opening a PostgreSQL connection.
    pub connect_timeout_secs: u64,
    /// Milliseconds SQLite waits on a locked database before failing.
    pub sqlite_busy_timeout_ms: u64,
    /// The same for the short reads made on the HTTP workers themselves.
    pub sqlite_reader_busy_timeout_ms: u64,
    /// Free bytes the SQLite file's disk must keep for `/readyz` to answer
    /// 200 (a read-only disk is never ready).
    pub sqlite_min_free_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Folder for the SQLite file, generated secrets and file mail.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `guichet=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest JSON body accepted, in bytes.
    pub json_body_bytes: usize,
    /// Largest `per_page` of a list.
    pub max_page_size: u32,
    /// Largest `page` of a list.
    pub max_page: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Lifetime of a staff session token, in seconds.
    pub token_lifetime_secs: u64,
    /// Failed sign-ins for one e-mail address, within the window, that lock
    /// it; at most this many wrong passwords are ever checked per window.
    pub lockout_threshold: u32,
    /// How long a locked address stays locked, in minutes.
    pub lockout_minutes: u32,
    /// Minutes a failure is remembered after the latest one: failures in a
    /// row count until a success or a quiet window.
    pub lockout_window_minutes: u32,
    /// Minutes an unlock link e-mailed to a locked account's owner works.
    pub unlock_link_minutes: u32,
    /// Password checks one unlock link allows despite the lock.
    pub unlock_link_attempts: u32,
    /// Expired sign-in locks (and expired revoked tokens) removed at a time,
    /// whenever a new one is written.
    pub sweep_batch: u32,
    /// Login attempts one client address may make per minute.
    pub login_per_ip_per_minute: u32,
    /// Password hashes computed at once; 0 means half the CPUs (at least 1).
    pub hash_concurrency: usize,
    /// Seconds a login waits for a hashing slot before answering 503.
    pub hash_queue_timeout_secs: u64,
    /// Shortest password accepted for a staff account.
    pub min_password_length: usize,
}

impl AuthSettings {
    pub fn hash_slots(&self) -> usize {
        match self.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    /// Consents waiting to be committed before new ones are refused (503).
    pub write_queue: usize,
    /// Most consents committed in one transaction.
    pub max_batch: usize,
    /// Milliseconds a consent may wait for room in the queue.
    pub enqueue_timeout_ms: u64,
    /// Subjects whose latest consent event is kept in memory; 0 keeps none.
    pub cache_entries: usize,
    /// On PostgreSQL, how long a read waits for this instance to have heard
    /// the other instances' writes before it asks the database instead.
    pub cache_sync_wait_ms: u64,
    /// Characters of the user agent kept.
    pub user_agent_max: usize,
    /// Longest TCF string accepted, in bytes.
    pub tc_string_max: usize,
    /// Longest page URL accepted, in bytes.
    pub page_url_max: usize,
    /// Most events returned by a subject's history.
    pub history_max: i64,
    /// Longest range of the statistics and the export, in days.
    pub stats_max_days: u32,
    /// Rows read per page while streaming an export.
    pub export_page_rows: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSettings {
    /// Largest identity document, in bytes.
    pub max_document_bytes: usize,
    /// Most identity documents per submission or upload.
    pub max_documents: usize,
    /// Largest total of the text fields of a form, in bytes.
    pub max_text_bytes: usize,
    /// Longest `details`, in characters.
    pub details_max_chars: usize,
    /// Bytes of uploads (multipart forms) read into memory at once, all
    /// requests together; beyond, uploads answer 503 `uploads_busy`.
    pub upload_memory_bytes: usize,
    /// Submissions one client address may make per hour.
    pub submissions_per_ip_per_hour: u32,
    /// Submissions one e-mail address may make per day.
    pub submissions_per_email_per_day: u32,
    /// Keys (client addresses, e-mail addresses) each submission limit
    /// holds at most; beyond, while none is done with, submissions answer
    /// 503 `submissions_busy`.
    pub submission_limit_keys: usize,
    /// Time zone of the dates written to people (e-mails).
    pub timezone: String,
}

impl RequestSettings {
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Paris)
    }
}

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
    pub password: Option<String>,
    pub timeout_secs: u64,
}

/// Keys, each 32 bytes in standard base64. Any left unset is generated once
/// under `storage.data_dir` — refused with `GUICHET_ENV=production`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// Signs staff session tokens (HS256).
    pub jwt: Option<String>,
    /// Keys the pseudonyms of IP addresses and e-mail addresses.
    pub pseudonym: Option<String>,
    /// Seed of the Ed25519 key that signs consent receipts.
    pub receipt: Option<String>,
    /// Encrypts identity documents at rest.
    pub document: Option<String>,
    /// Former document keys, still able to decrypt (key rotation).
    #[serde(default)]
    pub document_retired: Vec<String>,
    /// Former pseudonym keys: records hashed under them (the suppression
    /// list, requests' e-mail pseudonyms) still match after a rotation.
    #[serde(default)]
    pub pseudonym_retired: Vec<String>,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("SecretSettings")
            .field("jwt", &shown(&self.jwt))
            .field("pseudonym", &shown(&self.pseudonym))
            .field("receipt", &shown(&self.receipt))
            .field("document", &shown(&self.document))
            .field("document_retired", &self.document_retired.len())
            .field("pseudonym_retired", &self.pseudonym_retired.len())
            .finish()
    }
}

/// A configuration problem, naming the key and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    fn key(key: &str, why: impl std::fmt::Display) -> Self {
        Self(format!("`{key}` {why}"))
    }
}

impl Settings {
    /// Loads the layers in order, with `extra` the `--config` file if any.
    pub fn load(extra: Option<&Path>) -> Result<Self, ConfigError> {
        let env = Environment::from_env();
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        let env_file = PathBuf::from("config").join(format!("{}.toml", env.as_str()));
        builder = builder.add_source(File::from(env_file).required(false));
        if let Some(path) = extra {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "--config {}: no such file",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path.to_path_buf()));
        }
        builder = builder.add_source(
            EnvSource::with_prefix("GUICHET")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let raw = builder.build().map_err(|e| ConfigError(e.to_string()))?;
        let mut settings: Settings = raw
            .try_deserialize()
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.env = env;
        settings.validate()?;
        Ok(settings)
    }

    /// Only the embedded defaults, as used by tests before they adjust them.
    pub fn embedded_defaults() -> Result<Self, ConfigError> {
        let raw = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError(e.to_string()))?;
        let settings: Settings = raw
            .try_deserialize()
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .bind
            .parse()
            .map_err(|_| ConfigError::key("server.bind", "must be an address like 127.0.0.1:8080"))
    }

    pub fn worker_count(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// Where file mail is written.
    pub fn mail_dir(&self) -> PathBuf {
        self.storage.data_dir.join(&self.mail.file_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_serve_without_setup() {
        let s = Settings::embedded_defaults().expect("defaults are valid");
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.database.url, "sqlite://data/guichet.db");
        assert_eq!(s.storage.data_dir, PathBuf::from("data"));
        assert_eq!(s.mail.transport, MailTransportKind::File);
        assert_eq!(s.mail_dir(), PathBuf::from("data/mail"));
        let slugs: Vec<_> = s.tenants.keys().map(String::as_str).collect();
        assert_eq!(
            slugs,
            ["dunkerque", "guadeloupe", "nimes", "sevres", "valparisis"]
        );
    }

    #[test]
    fn production_refuses_file_mail() {
        let mut s = Settings::embedded_defaults().unwrap();
        s.env = Environment::Production;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`mail.transport`"), "{err}");
    }

    #[test]
    fn invalid_bind_names_the_key() {
        let mut s = Settings::embedded_defaults().unwrap();
        s.server.bind = "localhost-8080".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`server.bind`"), "{err}");
    }
}
