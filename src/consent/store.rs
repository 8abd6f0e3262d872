//! The consent store: the one way in to the consent events, whatever holds
//! them (PostgreSQL's table or SQLite's month files, `place.rs`). It owns
//! the database pool it uses, the files, the memory of current consents
//! (`cache.rs`), the PostgreSQL listener that keeps that memory right
//! (`sync.rs`) and the writer thread that commits consents in groups
//! (`writer.rs`); `stop` and `join` end its threads with the service.
//!
//! A read of the current consent that arrives at `t` is answered from
//! memory only when that is as good as the database: on SQLite, always
//! (one instance, whose writes go through this memory); on PostgreSQL,
//! once the listener has heard every event committed before `t`. When the
//! listener is down, or that takes longer than `consent.cache_sync_wait_ms`,
//! the read goes to the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::QueryResult;

use super::cache::{ConsentCache, Lookup};
use super::error::ConsentError;
use super::files::ConsentFiles;
use super::place::Place;
use super::queries::{self, ConsentEvent, Cursor, DailyCount, WITHDRAWN};
use super::stored::Read;
use super::sync::Listener;
use super::writer::ConsentWriter;
use crate::config::{ConsentSettings, DatabaseSettings};
use crate::db::{write_transaction, Backend, Db, DbConnection, DbError};

/// The database and where in it the events are: what the writer thread
/// shares with the store.
pub(crate) struct Storage {
    pub(crate) db: Db,
    pub(crate) place: Place,
    /// This instance's name as a writer of consents on PostgreSQL
    /// (`lease.rs`); empty when it never holds the lease.
    writer: String,
}

impl Storage {
    /// Inserts events as this instance (see `Place::insert`).
    pub(crate) fn insert(&self, main: &mut DbConnection, rows: &[ConsentEvent]) -> QueryResult<()> {
        self.place.insert(main, rows, &self.writer)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ConsentError>
    where
        F: FnOnce(&mut DbConnection, &Storage) -> Result<T, ConsentError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = this.db.pool().get().map_err(DbError::from)?;
            let result = f(&mut conn, &this);
            if matches!(&result, Err(e) if e.spoils_connection()) {
                conn.mark_failed();
            }
            result
        })
        .await
        .map_err(|e| ConsentError::Internal(format!("database task failed: {e}")))?
    }
}

/// The consent events of one database. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct ConsentStore {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<Storage>,
    cache: Arc<ConsentCache>,
    listener: Option<Arc<Listener>>,
    /// None: each consent is committed on its own, by its request.
    writer: Option<ConsentWriter>,
    /// How long a read waits for the listener to have heard the others.
    wait: Duration,
}

impl ConsentStore {
    /// The store of the database `db` serves, without threads or memory:
    /// for the command line and maintenance.
    pub fn open(db: Db, database: &DatabaseSettings) -> Self {
        Self::build(db, database, None)
    }

    /// The store of a running service: the writer thread, the memory of
    /// current consents and, on PostgreSQL, its listener.
    pub fn serve(db: Db, database: &DatabaseSettings, settings: &ConsentSettings) -> Self {
        Self::build(db, database, Some(settings))
    }

    fn build(db: Db, database: &DatabaseSettings, serve: Option<&ConsentSettings>) -> Self {
        let place = match ConsentFiles::for_database(database) {
            Some(files) => Place::Months(Box::new(files)),
            None => Place::Table,
        };
        let cache = Arc::new(ConsentCache::new(serve.map_or(0, |s| s.cache_entries)));
        let listens = cache.enabled() && db.backend() == Backend::Postgres;
        // A listening instance may hold the lease; a tool never does.
        let writer = match serve {
            Some(_) if listens => uuid::Uuid::new_v4().simple().to_string(),
            _ => String::new(),
        };
        let listener = serve.filter(|_| listens).map(|s| {
            Listener::start(
                db.manager().clone(),
                cache.clone(),
                writer.clone(),
                Duration::from_millis(s.alone_lease_ms),
            )
        });
        let storage = Arc::new(Storage { db, place, writer });
        let writer = serve.map(|s| {
            ConsentWriter::start(
                storage.clone(),
                s.write_queue,
                s.max_batch,
                Duration::from_millis(s.enqueue_timeout_ms),
            )
        });
        Self {
            inner: Arc::new(Inner {
                storage,
                cache,
                listener,
                writer,
                wait: Duration::from_millis(serve.map_or(0, |s| s.cache_sync_wait_ms)),
            }),
        }
    }

    /// On SQLite, the month files (the retention sweep removes them).
    pub fn month_files(&self) -> Option<&ConsentFiles> {
        match &self.inner.storage.place {
            Place::Months(files) => Some(files),
            Place::Table => None,
        }
    }

    /// The counter of reads answered from memory, to register in the
    /// service's metrics.
    pub fn cache_hits(&self) -> &prometheus::IntCounter {
        self.inner.cache.hits()
    }

    /// Records a consent; returns once it is committed.
    pub async fn record(&self, row: ConsentEvent) -> Result<(), ConsentError> {
        let cached = row.clone();
        match &self.inner.writer {
            Some(writer) => writer.write(row).await?,
            None => {
                let rows = [row];
                self.inner
                    .storage
                    .run(move |conn, s| Ok(s.insert(conn, &rows)?))
                    .await?
            }
        }
        self.inner.cache.put(cached);
        Ok(())
    }

    /// The subject's latest event, whatever it is.
    pub async fn latest(
        &self,
        tenant_id: &str,
        subject_id: &str,
    ) -> Result<Option<Arc<ConsentEvent>>, ConsentError> {
        let inner = &self.inner;
        let arrival = Instant::now();
        let usable = inner.cache.enabled()
            && match &inner.listener {
                None => true,
                Some(l) => l.synced_after(arrival, inner.wait).await,
            };
        let epoch = if usable {
            match inner.cache.lookup(tenant_id, subject_id) {
                Lookup::Hit(latest) => return Ok(latest),
                Lookup::Miss(epoch) => Some(epoch),
            }
        } else {
            None
        };
        // SQLite's files are read right here, on this thread's read-only
        // connections: in WAL mode a reader never waits for a writer, and a
        // point query takes less than handing it to another thread would.
        let latest = match inner.storage.place.latest_in_files(tenant_id, subject_id) {
            Some(found) => found?,
            None => {
                let (t, s) = (tenant_id.to_owned(), subject_id.to_owned());
                inner
                    .storage
                    .run(move |conn, _| Ok(queries::latest(conn, &t, &s)?))
                    .await?
            }
        }
        .map(Arc::new);
        if let Some(epoch) = epoch {
            inner
                .cache
                .fill(tenant_id, subject_id, epoch, latest.clone());
        }
        Ok(latest)
    }

    /// Records the withdrawal of the subject's consent in force at `now`;
    /// `None` when there is none.
    pub async fn withdraw(
        &self,
        tenant_id: &str,
        subject_id: &str,
        now: NaiveDateTime,
        ip_pseudonym: Option<String>,
    ) -> Result<Option<ConsentEvent>, ConsentError> {
        let (t, s) = (tenant_id.to_owned(), subject_id.to_owned());
        let withdrawn = self
            .inner
            .storage
            .run(move |conn, storage| {
                write_transaction(conn, |conn| {
                    let current = storage
                        .place
                        .latest(conn, &t, &s)?
                        .filter(|e| queries::in_force(e, now));
                    let Some(consent) = current else {
                        return Ok(None);
                    };
                    let row = ConsentEvent {
                        id: uuid::Uuid::now_v7().to_string(),
                        event: WITHDRAWN.into(),
                        at: now.max(consent.at),
                        expires_at: None,
                        ip_pseudonym,
                        user_agent: None,
                        page_url: None,
                        tc_string: None,
                        receipt: None,
                        ..consent
                    };
                    storage.insert(conn, std::slice::from_ref(&row))?;
                    Ok(Some(row))
                })
                .map_err(|e: diesel::result::Error| ConsentError::from(e))
            })
            .await?;
        if let Some(row) = &withdrawn {
            self.inner.cache.put(row.clone());
        }
        Ok(withdrawn)
    }

    /// The subject's events, oldest first (at most `limit`).
    pub async fn history(
        &self,
        tenant_id: &str,
        subject_id: &str,
        limit: i64,
    ) -> Result<Vec<ConsentEvent>, ConsentError> {
        // SQLite's files are read right here, as for the latest event: a
        // handful of point queries, one a month, on this thread's read-only
        // connections, which stay open as long as the thread (the blocking
        // pool's threads come and go, each opening every file again).
        if let Some(found) = self
            .inner
            .storage
            .place
            .history_in_files(tenant_id, subject_id, limit)
        {
            return Ok(found?);
        }
        let (t, s) = (tenant_id.to_owned(), subject_id.to_owned());
        self.inner
            .storage
            .run(move |conn, storage| Ok(storage.place.history(conn, &t, &s, limit)?))
            .await
    }

    /// Daily counts between two days (`YYYY-MM-DD`, inclusive), of some
    /// tenants (ids) or all.
    pub async fn daily_counts(
        &self,
        tenant_ids: Option<Vec<String>>,
        from: String,
        to: String,
    ) -> Result<Vec<DailyCount>, ConsentError> {
        self.inner
            .storage
            .run(move |conn, storage| {
                Ok(storage
                    .place
                    .daily_counts(conn, tenant_ids.as_deref(), &from, &to)?)
            })
            .await
    }

    /// The next events (at most `limit`; none at the end) after `cursor`
    /// in `(at, id)` order, of some tenants (ids) or all, made in `[from, to)`:
    /// as read, for the taker to make (`Read::events`).
    pub async fn export_page(
        &self,
        tenant_ids: Option<Vec<String>>,
        range: (NaiveDateTime, NaiveDateTime),
        cursor: Cursor,
        limit: i64,
    ) -> Result<Read, ConsentError> {
        self.inner
            .storage
            .run(move |conn, storage| {
                Ok(storage
                    .place
                    .export_page(conn, tenant_ids.as_deref(), range, &cursor, limit)?)
            })
            .await
    }

    /// Inserts events as they are, on `main` (a connection to the main
    /// database), for tools and tests that write what the service would:
    /// as a tool, not through this instance's memory, so an instance that
    /// holds the lease of the only writer gives it up first.
    pub fn insert_on(&self, main: &mut DbConnection, rows: &[ConsentEvent]) -> QueryResult<()> {
        self.inner.storage.place.insert(main, rows, "")
    }

    /// Whether this instance now answers current consents from memory
    /// without hearing the others' news: on PostgreSQL, while it holds the
    /// lease of the only writer (`lease.rs`).
    pub fn alone(&self) -> bool {
        self.inner
            .listener
            .as_ref()
            .is_some_and(|l| l.alone_at(Instant::now()))
    }

    /// How many events are kept, of one tenant or all.
    pub fn count_on(&self, main: &mut DbConnection, tenant_id: Option<&str>) -> QueryResult<i64> {
        self.inner.storage.place.count(main, tenant_id)
    }

    /// Daily counts between two days (inclusive), of one tenant or all.
    pub fn daily_counts_on(
        &self,
        main: &mut DbConnection,
        tenant_id: Option<&str>,
        from: &str,
        to: &str,
    ) -> QueryResult<Vec<DailyCount>> {
        let one = tenant_id.map(|t| vec![t.to_owned()]);
        self.inner
            .storage
            .place
            .daily_counts(main, one.as_deref(), from, to)
    }

    /// Every event kept, of one tenant or all, in `(at, id)` order.
    pub fn all_on(
        &self,
        main: &mut DbConnection,
        tenant_id: Option<&str>,
    ) -> QueryResult<Vec<ConsentEvent>> {
        self.inner.storage.place.all(main, tenant_id)
    }

    /// Asks the threads to end: the writer once it has committed what is
    /// queued (new consents are then refused), the listener at once.
    pub fn stop(&self) {
        if let Some(writer) = &self.inner.writer {
            writer.stop();
        }
        if let Some(listener) = &self.inner.listener {
            listener.stop();
        }
    }

    /// Stops the threads and waits for them, at most `timeout`; answers
    /// whether they all ended.
    pub fn join(&self, timeout: Duration) -> bool {
        self.stop();
        let threads = [
            self.inner.writer.as_ref().and_then(|w| w.take_thread()),
            self.inner.listener.as_ref().and_then(|l| l.take_thread()),
        ];
        let deadline = Instant::now() + timeout;
        let mut all = true;
        for thread in threads.into_iter().flatten() {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                all = false;
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0190f3a4-0000-7000-8000-000000000001";
    const SUBJECT: &str = "6f1c2b9e-5d4a-4e3b-9c2d-1a0b9c8d7e6f";

    #[tokio::test]
    async fn its_threads_end_when_stopped_and_it_then_refuses_consents() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::embedded_defaults().unwrap();
        settings.database.url = format!("sqlite://{}", dir.path().join("g.db").display()).into();
        let manager = crate::db::ConnectionManager::new(&settings.database).unwrap();
        crate::db::migrate::run_pending(&mut manager.open().unwrap()).unwrap();
        let db = Db::new(&settings.database).unwrap();
        let store = ConsentStore::serve(db, &settings.database, &settings.consent);
        let row = ConsentEvent {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: TENANT.into(),
            subject_id: SUBJECT.into(),
            event: queries::GIVEN.into(),
            policy_version: "v1".into(),
            choices: "{}".into(),
            gpc: false,
            at: "2026-03-02T09:30:00".parse().unwrap(),
            expires_at: None,
            ip_pseudonym: None,
            user_agent: None,
            page_url: None,
            tc_string: None,
            receipt: None,
        };
        store.record(row.clone()).await.unwrap();
        let read = store.latest(TENANT, SUBJECT).await.unwrap();
        assert_eq!(read.map(|e| e.id.clone()), Some(row.id.clone()));
        assert_eq!(store.cache_hits().get(), 1, "read from memory");
        // An id that is not a UUID names no subject kept: nothing, no error.
        assert!(store.history(TENANT, "s-1", 10).await.unwrap().is_empty());
        assert!(store.join(Duration::from_secs(5)), "the writer ended");
        let refused = store.record(row).await.unwrap_err();
        assert!(matches!(refused, ConsentError::Internal(_)), "{refused}");
    }
}
