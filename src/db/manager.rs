//! An r2d2 manager that picks the backend from the URL scheme and reports a
//! failed connection in one line that names where it tried to go.

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};
use secrecy::{ExposeSecret, SecretString};

use super::{describe_url, sqlite_path, Backend, DbConnection, DbError};
use crate::config::DatabaseSettings;

#[derive(Debug, Clone)]
pub struct ConnectionManager {
    backend: Backend,
    /// The URL connections open, password included.
    url: SecretString,
    sqlite_busy_timeout_ms: u64,
    sqlite_reader_busy_timeout_ms: u64,
}

impl ConnectionManager {
    pub fn new(settings: &DatabaseSettings) -> Result<Self, DbError> {
        tune_sqlite_library();
        init_openssl();
        let backend = settings.backend().map_err(|reason| DbError::Connect {
            target: "the database".into(),
            reason,
        })?;
        let url = match backend {
            Backend::Postgres => {
                with_connect_timeout(settings.expose_url(), settings.connect_timeout_secs).into()
            }
            Backend::Sqlite => settings.url.clone(),
        };
        Ok(Self {
            backend,
            url,
            sqlite_busy_timeout_ms: settings.sqlite_busy_timeout_ms,
            sqlite_reader_busy_timeout_ms: settings.sqlite_reader_busy_timeout_ms,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens one connection outside the pool, creating the SQLite file when
    /// it does not exist yet (first start).
    pub fn open(&self) -> Result<DbConnection, DbError> {
        self.connect_to(true)
    }

    /// A read-only SQLite connection that gives up quickly on a locked file.
    pub fn open_reader(&self) -> Result<DbConnection, DbError> {
        let mut conn = self.connect_to(false)?;
        conn.batch_execute(&format!(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = {}; PRAGMA mmap_size = 268435456;",
            self.sqlite_reader_busy_timeout_ms
        ))?;
        Ok(conn)
    }

    fn connect_to(&self, create: bool) -> Result<DbConnection, DbError> {
        let fail = |reason: String| DbError::Connect {
            target: describe_url(self.url.expose_secret()),
            reason: first_line(&reason).unwrap_or("unknown error").to_owned(),
        };
        match self.backend {
            Backend::Postgres => PgConnection::establish(self.url.expose_secret())
                .map(DbConnection::Pg)
                .map_err(|e| fail(e.to_string())),
            Backend::Sqlite => {
                let path = sqlite_path(self.url.expose_secret());
                let target = if create {
                    prepare_sqlite_file(path).map_err(|e| fail(e.to_string()))?;
                    path.to_owned()
                } else {
                    // A pooled connection never creates the file: a missing
                    // file (an unmounted volume) must fail, not start afresh.
                    existing_file_uri(path).map_err(|e| fail(e.to_string()))?
                };
                let mut conn =
                    SqliteConnection::establish(&target).map_err(|e| fail(e.to_string()))?;
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    self.sqlite_busy_timeout_ms
                ))
                .map_err(|e| fail(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A pooled connection, and whether its user saw it fail: the pool then
/// drops it instead of handing it out again, without probing every
/// connection at every checkout.
pub struct Pooled {
    conn: DbConnection,
    failed: bool,
}

impl Pooled {
    /// Marks the connection as failed: it will be closed, not reused.
    pub fn mark_failed(&mut self) {
        self.failed = true;
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = DbError;

    fn connect(&self) -> Result<Pooled, DbError> {
        Ok(Pooled {
            conn: self.connect_to(false)?,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        std::thread::panicking()
            || pooled.failed
            || match &mut pooled.conn {
                DbConnection::Pg(c) => c.is_broken(),
                DbConnection::Sqlite(c) => c.is_broken(),
            }
    }
}

/// r2d2 logs connection failures through `log` by default; they are
/// already reported to the caller (503 or a start-up error).
#[derive(Debug)]
pub struct QuietErrors;

impl r2d2::HandleError<DbError> for QuietErrors {
    fn handle_error(&self, error: DbError) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

/// Creates the folder a file is to be in, when the path names one.
pub(super) fn create_parent_dir(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// Creates the folder and an empty database file readable by the service's
/// user only: it holds personal data. SQLite gives its `-wal` and `-shm`
/// files the same mode.
pub(crate) fn prepare_sqlite_file(path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
    let path = path.as_ref();
    create_parent_dir(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Turns off SQLite's global memory statistics, whose mutex every
/// allocation of every connection would otherwise take. It must happen
/// before SQLite initialises; later calls are refused and change nothing.
pub fn tune_sqlite_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a documented configuration call with one int argument,
        // made once; SQLite answers SQLITE_MISUSE if it is too late.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0i32);
        }
    });
}

/// Initialises OpenSSL before libpq first does. libpq's own initialisation
/// registers an `atexit` cleanup that frees OpenSSL's state while the pool,
/// the consent listener and the consent writer may still hold TLS
/// connections to PostgreSQL on other threads, a use after free at process
/// exit. rust-openssl initialises without that cleanup, and the first
/// initialisation decides.
pub fn init_openssl() {
    openssl_sys::init();
}

/// A `file:` URI that opens the database read-write without creating it.
pub(crate) fn existing_file_uri(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    let absolute = std::path::absolute(path)?;
    let mut uri = url::Url::from_file_path(&absolute)
        .map_err(|()| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    uri.set_query(Some("mode=rw"));
    Ok(uri.to_string())
}

fn with_connect_timeout(url: &str, secs: u64) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={secs}")
}

/// The first line of a message that says something (a server's or a
/// tool's), trimmed.
pub fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db", 5),
            "postgres://h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable", 5),
            "postgres://h/db?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=1", 5),
            "postgres://h/db?connect_timeout=1"
        );
    }

    #[test]
    fn a_manager_never_shows_the_password() {
        let mut settings = crate::config::Settings::embedded_defaults()
            .unwrap()
            .database;
        settings.url = "postgres://guichet:db-pass-4417@db.example/guichet".into();
        let shown = format!("{:?}", ConnectionManager::new(&settings).unwrap());
        assert!(!shown.contains("db-pass-4417"), "{shown}");
    }

    #[test]
    fn descriptions_never_show_passwords() {
        let d = describe_url("postgres://app:s3cret@db.example:6432/guichet");
        assert_eq!(d, "PostgreSQL at db.example:6432 (database guichet)");
    }
}
