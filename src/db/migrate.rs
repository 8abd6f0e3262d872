//! Migrations embedded in the binary, one folder per backend with the same
//! version names, applied under a lock so that instances starting together
//! take turns.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, DbError};
use crate::config::DatabaseSettings;

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Key of the PostgreSQL advisory lock held while an instance migrates and
/// synchronises its tenants ("guichet" in ASCII, as a number).
const STARTUP_LOCK: i64 = 0x67_75_69_63_68_65_74;

/// Applies the pending migrations; returns the versions applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES).map(versions),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
}

fn versions(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    v.into_iter().map(|v| v.to_string()).collect()
}

/// Opens (creating it if need be) a file that serves only to be locked:
/// an exclusive lock on it goes away with the process that held it.
pub fn lock_file(path: &str) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// On SQLite, the lock that makes `guichet serve` the only service on its
/// file (what it keeps in memory, such as the current consents, is then
/// never staler than the file): `Ok(None)` on PostgreSQL, an error naming
/// the lock file when another service holds it. Held until dropped.
pub fn single_instance(
    settings: &DatabaseSettings,
) -> Result<Option<std::fs::File>, SingleInstanceError> {
    let Some(file) = settings.sqlite_path() else {
        return Ok(None);
    };
    let path = format!("{file}.serve.lock");
    let fail = |reason: String| SingleInstanceError {
        path: path.clone(),
        reason,
    };
    super::manager::create_parent_dir(std::path::Path::new(&path))
        .map_err(|e| fail(e.to_string()))?;
    let file = lock_file(&path).map_err(|e| fail(e.to_string()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(fail(
            "another `guichet serve` uses this SQLite database; SQLite serves one instance, \
             use PostgreSQL to run several"
                .into(),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(fail(e.to_string())),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SingleInstanceError {
    pub path: String,
    pub reason: String,
}

/// Runs `f` while holding the start-up lock: a PostgreSQL advisory lock;
/// on SQLite, an exclusive lock on a file beside the database (processes
/// started together on one file take turns).
pub fn with_startup_lock<T>(
    conn: &mut DbConnection,
    settings: &DatabaseSettings,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let is_pg = matches!(conn, DbConnection::Pg(_));
    if !is_pg {
        let path = format!("{}.lock", settings.sqlite_path().unwrap_or_default());
        let io = |e: std::io::Error| DbError::Migration(format!("{path}: {e}"));
        let file = lock_file(&path).map_err(io)?;
        file.lock().map_err(io)?;
        let result = f(conn);
        let _ = file.unlock();
        return result;
    }
    if is_pg {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({STARTUP_LOCK})"))?;
    }
    let result = f(conn);
    if is_pg {
        // Also released when the connection closes, should this fail.
        let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({STARTUP_LOCK})"));
    }
    result
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn names(dir: &str) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let pg = names(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"));
        let sqlite = names(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"));
        assert!(!pg.is_empty());
        assert_eq!(pg, sqlite);
    }
}
