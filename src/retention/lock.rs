//! One sweep at a time per database, across instances and processes: a
//! PostgreSQL advisory lock held by a connection of its own, or on SQLite
//! an exclusive lock on a file beside the database. Both go away with the
//! process that held them, however it ended.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::config::DatabaseSettings;
use crate::db::{ConnectionManager, DbConnection, DbError};

/// Key of the advisory lock ("sweep" in ASCII, as a number).
const SWEEP_LOCK: i64 = 0x73_77_65_65_70;

pub struct SweepLock {
    held: Held,
}

enum Held {
    Pg(Box<DbConnection>),
    File(std::fs::File),
}

impl SweepLock {
    /// Takes the lock if no other sweep holds it; `None` when one does.
    pub fn try_acquire(settings: &DatabaseSettings) -> Result<Option<Self>, DbError> {
        let manager = ConnectionManager::new(settings)?;
        if manager.backend() == crate::db::Backend::Sqlite {
            let path = format!("{}.sweep.lock", settings.sqlite_path().unwrap_or_default());
            let io = |e: std::io::Error| DbError::Connect {
                target: path.clone(),
                reason: e.to_string(),
            };
            let file = crate::db::migrate::lock_file(&path).map_err(io)?;
            return match file.try_lock() {
                Ok(()) => Ok(Some(Self {
                    held: Held::File(file),
                })),
                Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
            };
        }
        let mut conn = manager.open()?;
        let DbConnection::Pg(pg) = &mut conn else {
            unreachable!("the backend is PostgreSQL")
        };
        let got: bool = diesel::select(diesel::dsl::sql::<Bool>(&format!(
            "pg_try_advisory_lock({SWEEP_LOCK})"
        )))
        .get_result(pg)?;
        Ok(got.then(|| Self {
            held: Held::Pg(Box::new(conn)),
        }))
    }

    /// Waits up to `wait` for the lock, looking every half second.
    pub fn acquire_within(
        settings: &DatabaseSettings,
        wait: std::time::Duration,
    ) -> Result<Option<Self>, DbError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(lock) = Self::try_acquire(settings)? {
                return Ok(Some(lock));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

impl Drop for SweepLock {
    fn drop(&mut self) {
        match &mut self.held {
            Held::File(file) => {
                let _ = file.unlock();
            }
            Held::Pg(conn) => {
                if let DbConnection::Pg(pg) = conn.as_mut() {
                    let _ = diesel::select(diesel::dsl::sql::<Bool>(&format!(
                        "pg_advisory_unlock({SWEEP_LOCK})"
                    )))
                    .get_result::<bool>(pg);
                }
            }
        }
    }
}
