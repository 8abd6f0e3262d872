//! The database: one connection type over SQLite and PostgreSQL, a pool,
//! embedded migrations, and the few places where the two backends differ.

pub mod columns;
pub mod copy;
mod manager;
pub mod migrate;
pub mod online_backup;
pub mod schema;
pub mod storage;
pub mod transfer;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

pub(crate) use manager::{existing_file_uri, prepare_sqlite_file};
pub use manager::{first_line, init_openssl, ConnectionManager, Pooled};

pub(crate) use crate::config::sqlite_path;
use crate::config::DatabaseSettings;
pub use crate::config::{describe_url, Backend};

/// Runs the same diesel code on the inner connection of either backend, for
/// what the multi-backend connection does not carry: `ON CONFLICT`, batch
/// inserts, `FOR UPDATE SKIP LOCKED`.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// A transaction that reads then writes. On SQLite it takes the write lock
/// at `BEGIN` (`BEGIN IMMEDIATE`): a deferred transaction that read first
/// would fail at once, not wait, if another connection wrote in between.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    use diesel::Connection;
    let DbConnection::Sqlite(inner) = conn else {
        return conn.transaction(f);
    };
    let depth = AnsiTransactionManager::transaction_manager_status_mut(inner)
        .transaction_depth()
        .ok()
        .flatten();
    if depth.is_some() {
        // Already inside a transaction (which holds or will take the lock):
        // a savepoint.
        return conn.transaction(f);
    }
    let DbConnection::Sqlite(inner) = conn else {
        unreachable!("matched above")
    };
    // The multi-backend connection shares the inner connection's
    // transaction state, so nested transactions become savepoints.
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(v) => {
            let DbConnection::Sqlite(inner) = conn else {
                unreachable!("the backend does not change")
            };
            AnsiTransactionManager::commit_transaction(inner)?;
            Ok(v)
        }
        Err(e) => {
            if let DbConnection::Sqlite(inner) = conn {
                let _ = AnsiTransactionManager::rollback_transaction(inner);
            }
            Err(e)
        }
    }
}

/// Deletes at most `limit` rows of `table` whose `column` is before `now`,
/// oldest first, and returns how many went. On PostgreSQL, rows another
/// transaction holds are left for a later call rather than waited for.
/// The names are the caller's constants, never input.
pub fn delete_expired(
    conn: &mut DbConnection,
    table: &'static str,
    key: &'static str,
    column: &'static str,
    now: chrono::NaiveDateTime,
    limit: i64,
) -> diesel::QueryResult<usize> {
    use diesel::sql_types::{BigInt, Timestamp};
    use diesel::RunQueryDsl;
    match conn {
        DbConnection::Pg(c) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
             WHERE {column} < $1 ORDER BY {column} LIMIT $2 FOR UPDATE SKIP LOCKED)"
        ))
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .execute(c),
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
             WHERE {column} < ? ORDER BY {column} LIMIT ?)"
        ))
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .execute(c),
    }
}

/// A connection to whichever backend the URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("database task failed: {0}")]
    Task(String),
}

/// What [`Db::run`] and [`Db::read`] need of the error their closure
/// returns: made from a [`DbError`], and telling whether the connection it
/// came from can still be trusted.
pub trait TaskError: From<DbError> + Send + 'static {
    /// The connection may be broken (the database went away or stopped
    /// answering): it is dropped rather than given back to the pool. A
    /// connection that waited too long for a writer is sound.
    fn connection_suspect(&self) -> bool;

    /// The failure was the server's, not a refusal of the input: a
    /// read-only connection that met it is opened afresh next time.
    fn is_server_fault(&self) -> bool;
}

impl DbError {
    /// True when the database could not be reached or dropped the
    /// connection, as opposed to a query that the database refused.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Self::Connect { .. } | Self::Pool(_) => true,
            Self::Query(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            Self::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                let m = info.message();
                // PostgreSQL shutting down, restarting or gone.
                [
                    "terminating connection",
                    "server closed the connection",
                    "no connection to the server",
                    "the database system is",
                    "could not receive data from server",
                    "connection to server",
                ]
                .iter()
                .any(|needle| m.contains(needle))
            }
            _ => false,
        }
    }

    /// True when PostgreSQL gave up a transaction that raced another: a
    /// deadlock it broke, or a serializable transaction it could not order.
    /// Nothing of it was recorded.
    pub fn is_concurrent_change(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Self::Query(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => true,
            Self::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                info.message().contains("deadlock detected")
            }
            _ => false,
        }
    }

    /// True when SQLite waited `database.sqlite_busy_timeout_ms` for
    /// another writer and gave up. Nothing of it was recorded.
    pub fn is_busy(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Self::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                let m = info.message();
                m.starts_with("database is locked") || m.starts_with("database table is locked")
            }
            _ => false,
        }
    }

    /// True when SQLite could not write for want of storage: a full or
    /// read-only disk, an I/O error.
    pub fn is_storage_failure(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Self::Query(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                storage::is_storage_message(info.message())
            }
            _ => false,
        }
    }
}

/// The pool and the way to use it off the async executor.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    sqlite_file: Option<std::path::PathBuf>,
    sqlite_min_free_bytes: u64,
    manager: ConnectionManager,
}

thread_local! {
    /// Read-only SQLite connections of this thread, by database file.
    static SQLITE_READERS: std::cell::RefCell<std::collections::HashMap<String, DbConnection>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

impl Db {
    /// Builds the pool without waiting for the database: a database that is
    /// down now makes requests answer 503 until it is back.
    pub fn new(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let manager = ConnectionManager::new(settings)?;
        let backend = manager.backend();
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(settings.acquire_timeout_secs))
            // A connection that failed is marked and dropped on return
            // (see `Pooled`); checking each one at checkout would cost a
            // round trip per query.
            .test_on_check_out(false)
            .error_handler(Box::new(manager::QuietErrors))
            .build_unchecked(manager.clone());
        let sqlite_file = settings.sqlite_path().map(std::path::PathBuf::from);
        Ok(Self {
            pool,
            backend,
            sqlite_file,
            sqlite_min_free_bytes: settings.sqlite_min_free_bytes,
            manager,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens connections outside the pool (listeners, long jobs).
    pub fn manager(&self) -> &ConnectionManager {
        &self.manager
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    /// (`Db::run`, in `crate::error`, is this with the HTTP edge's error.)
    pub async fn run_as<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: TaskError,
    {
        let pool = self.pool.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            let result = f(&mut conn);
            if matches!(&result, Err(e) if e.connection_suspect()) {
                conn.mark_failed();
            }
            result
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs a short read-only query. On SQLite it runs right here, on a
    /// read-only connection of this thread: in WAL mode a reader never waits
    /// for a writer, and a point query takes microseconds, less than handing
    /// it to another thread would. On PostgreSQL it goes to the blocking pool
    /// like any other query.
    ///
    /// (`Db::read`, in `crate::error`, is this with the HTTP edge's error.)
    pub async fn read_as<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: TaskError,
    {
        let Some(file) = &self.sqlite_file else {
            return self.run_as(f).await;
        };
        let key = file.to_string_lossy().into_owned();
        SQLITE_READERS.with(|readers| {
            let mut readers = readers.borrow_mut();
            let conn = match readers.entry(key.clone()) {
                std::collections::hash_map::Entry::Occupied(held) => held.into_mut(),
                std::collections::hash_map::Entry::Vacant(none) => {
                    none.insert(self.manager.open_reader()?)
                }
            };
            let result = f(conn);
            if matches!(&result, Err(e) if e.is_server_fault()) {
                // Start afresh next time rather than reuse a doubtful connection.
                readers.remove(&key);
            }
            result
        })
    }

    /// Answers whether the database serves a real query within `timeout`
    /// and, on SQLite, whether its disk can take writes.
    pub async fn ping(&self, timeout: Duration) -> Result<(), DbError> {
        let pool = self.pool.clone();
        let sqlite_file = self.sqlite_file.clone();
        let min_free = self.sqlite_min_free_bytes;
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = pool.get_timeout(timeout)?;
            if let Err(e) = conn.batch_execute("SELECT 1 FROM tenants LIMIT 1") {
                conn.mark_failed();
                return Err(e.into());
            }
            if let Some(file) = &sqlite_file {
                // An open connection keeps reading a file that was moved or
                // unmounted; the next one would not find it.
                std::fs::metadata(file).map_err(|e| DbError::Connect {
                    target: format!("SQLite file {}", file.display()),
                    reason: e.to_string(),
                })?;
                storage::check_writable(file, min_free).map_err(|reason| DbError::Connect {
                    target: format!("SQLite file {}", file.display()),
                    reason,
                })?;
            }
            Ok(())
        })
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
    }
}
