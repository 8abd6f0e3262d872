//! Where the database is and how connections to it are pooled.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. It may hold
    /// a password: read it with [`DatabaseSettings::expose_url`] only to open
    /// a connection, and show [`DatabaseSettings::describe`] instead.
    pub url: SecretString,
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

impl DatabaseSettings {
    /// The URL itself, password included: for opening connections only.
    pub fn expose_url(&self) -> &str {
        self.url.expose_secret()
    }

    /// The backend the URL names, or why it names none.
    pub fn backend(&self) -> Result<Backend, String> {
        Backend::from_url(self.expose_url())
    }

    /// Where the database is, for messages: never the password.
    pub fn describe(&self) -> String {
        describe_url(self.expose_url())
    }

    /// The SQLite file, when the URL names one.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend() == Ok(Backend::Sqlite)).then(|| sqlite_path(self.expose_url()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path.contains(":memory:") {
                Err("must name a SQLite file (sqlite://path/to/file.db); in-memory databases are not shared by the pool".into())
            } else {
                Ok(Self::Sqlite)
            }
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        }
    }
}

/// Where a database URL points, for messages: never the password.
pub fn describe_url(url: &str) -> String {
    match Backend::from_url(url) {
        Ok(Backend::Sqlite) => format!("SQLite file {}", sqlite_path(url)),
        Ok(Backend::Postgres) => match url::Url::parse(url) {
            Ok(u) => format!(
                "PostgreSQL at {}:{} (database {})",
                u.host_str().unwrap_or("localhost"),
                u.port().unwrap_or(5432),
                u.path().trim_start_matches('/')
            ),
            Err(_) => "PostgreSQL (unparsable URL)".into(),
        },
        Err(_) => "an unsupported database URL".into(),
    }
}

/// The file a `sqlite://` URL names.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}
