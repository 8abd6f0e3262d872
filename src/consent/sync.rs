//! The read of a subject's current consent, from memory when that is as
//! good as the database, and the PostgreSQL listener that makes it so when
//! several instances share the database.
//!
//! Every insert of a consent event notifies channel `guichet_consent` in
//! its own transaction (`store::notify`). The listener of each instance
//! hears them and forgets what they make stale. A read that arrives at `t`
//! is answered from memory only after a *sync* that started after `t`: the
//! listener sends a notification of its own and waits to hear it back.
//! PostgreSQL delivers notifications in commit order, so by then every
//! event committed before `t`, on any instance, has been heard. Reads
//! arriving together share one sync. When the listener is down, or a sync
//! takes longer than `consent.cache_sync_wait_ms`, the read goes to the
//! database, and the memory is emptied whenever the listener reconnects.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::DateTime;
use diesel::connection::SimpleConnection;
use diesel::PgConnection;
use tokio::sync::watch;

use super::cache::{ConsentCache, Lookup};
use super::events;
use super::store::ConsentEvent;
use crate::db::{ConnectionManager, Db, DbConnection};
use crate::error::ApiError;

pub const CHANNEL: &str = "guichet_consent";

/// How this instance reads the current consent.
#[derive(Clone)]
pub struct ConsentReads {
    cache: Arc<ConsentCache>,
    listener: Option<Arc<Listener>>,
    wait: Duration,
}

impl ConsentReads {
    /// On PostgreSQL, starts the listener thread (it stops with the process).
    pub fn start(db: &Db, entries: usize, wait: Duration) -> Self {
        let cache = Arc::new(ConsentCache::new(entries));
        let listener = (cache.enabled() && db.backend() == crate::db::Backend::Postgres)
            .then(|| Listener::start(db.manager().clone(), cache.clone()));
        Self {
            cache,
            listener,
            wait,
        }
    }

    pub fn cache(&self) -> &ConsentCache {
        &self.cache
    }

    /// The subject's latest event, whatever it is.
    pub async fn latest(
        &self,
        db: &Db,
        tenant_id: &str,
        subject_id: &str,
    ) -> Result<Option<Arc<ConsentEvent>>, ApiError> {
        let arrival = Instant::now();
        let usable = self.cache.enabled()
            && match &self.listener {
                None => true,
                Some(l) => l.synced_after(arrival, self.wait).await,
            };
        let epoch = if usable {
            match self.cache.lookup(tenant_id, subject_id) {
                Lookup::Hit(latest) => return Ok(latest),
                Lookup::Miss(epoch) => Some(epoch),
            }
        } else {
            None
        };
        let (t, s) = (tenant_id.to_owned(), subject_id.to_owned());
        let files = db.consent_files();
        let latest = db
            .read(move |conn| Ok(events::latest(conn, files.as_deref(), &t, &s)?))
            .await?
            .map(Arc::new);
        if let Some(epoch) = epoch {
            self.cache
                .fill(tenant_id, subject_id, epoch, latest.clone());
        }
        Ok(latest)
    }
}

/// The PostgreSQL listener of this instance.
pub struct Listener {
    /// When the last completed sync started.
    synced: watch::Sender<Option<Instant>>,
    /// Whether a read waits for a sync.
    wanted: Mutex<bool>,
    wake: Condvar,
    up: AtomicBool,
    syncs: AtomicU64,
}

impl Listener {
    fn start(manager: ConnectionManager, cache: Arc<ConsentCache>) -> Arc<Self> {
        let listener = Arc::new(Self {
            synced: watch::channel(None).0,
            wanted: Mutex::new(false),
            wake: Condvar::new(),
            up: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
        });
        let this = listener.clone();
        std::thread::Builder::new()
            .name("consent-listener".into())
            .spawn(move || this.run(manager, cache))
            .expect("spawn the consent listener thread");
        listener
    }

    /// Waits (at most `wait`) for a sync that started after `arrival`.
    async fn synced_after(&self, arrival: Instant, wait: Duration) -> bool {
        if !self.up.load(Ordering::Acquire) {
            return false;
        }
        let mut rx = self.synced.subscribe();
        if rx.borrow().is_some_and(|s| s >= arrival) {
            return true;
        }
        {
            // A sync already wanted has not started yet: it starts after
            // this read arrived, and the listener is already woken for it.
            let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
            if !*wanted {
                *wanted = true;
                self.wake.notify_one();
            }
        }
        let synced = tokio::time::timeout(wait, rx.wait_for(|s| s.is_some_and(|s| s >= arrival)))
            .await
            .is_ok_and(|r| r.is_ok());
        synced
    }

    fn run(self: Arc<Self>, manager: ConnectionManager, cache: Arc<ConsentCache>) {
        let token = uuid::Uuid::new_v4().simple().to_string();
        loop {
            match manager.open() {
                Ok(DbConnection::Pg(mut conn)) => {
                    if let Err(e) = self.listen(&mut conn, &cache, &token) {
                        tracing::warn!(error = %e, "consent listener lost the database");
                    }
                }
                Ok(DbConnection::Sqlite(_)) => return,
                Err(e) => tracing::warn!(error = %e, "consent listener cannot connect"),
            }
            self.up.store(false, Ordering::Release);
            cache.clear();
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn listen(
        &self,
        conn: &mut PgConnection,
        cache: &ConsentCache,
        token: &str,
    ) -> diesel::QueryResult<()> {
        // A sync's own notification need not be durable: without waiting
        // for its commit to reach the disk it is still queued, and heard,
        // in commit order.
        conn.batch_execute(&format!("SET synchronous_commit = off; LISTEN {CHANNEL}"))?;
        // What was kept before this connection listened may have missed
        // notifications.
        cache.clear();
        self.up.store(true, Ordering::Release);
        loop {
            {
                let wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
                // Even when no read waits, a sync a second keeps the
                // notifications drained and the connection checked.
                let (mut wanted, _) = self
                    .wake
                    .wait_timeout_while(wanted, Duration::from_secs(1), |w| !*w)
                    .unwrap_or_else(|p| p.into_inner());
                *wanted = false;
            }
            let started = Instant::now();
            let n = self.syncs.fetch_add(1, Ordering::Relaxed);
            let mine = format!("sync {token} {n}");
            conn.batch_execute(&format!("NOTIFY {CHANNEL}, '{mine}'"))?;
            let mut heard = false;
            for _ in 0..1000 {
                for notification in conn.notifications_iter() {
                    let payload = notification?.payload;
                    if payload == mine {
                        heard = true;
                    } else {
                        apply(cache, &payload);
                    }
                }
                if heard {
                    break;
                }
                // A round trip lets the server deliver what is pending.
                conn.batch_execute("SELECT 1")?;
            }
            if heard {
                self.synced.send_replace(Some(started));
            }
        }
    }
}

/// One notification: lines of `tenant_id subject_id event_id at_micros`.
fn apply(cache: &ConsentCache, payload: &str) {
    for line in payload.lines() {
        let mut parts = line.split(' ');
        let (Some(tenant), Some(subject), Some(id), Some(at)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if tenant == "sync" {
            continue;
        }
        let Some(at) = at
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
        else {
            continue;
        };
        cache.invalidate(tenant, subject, id, at.naive_utc());
    }
}

/// The notification of committed events, as `apply` reads it.
pub fn payload(row: &ConsentEvent) -> String {
    format!(
        "{} {} {} {}",
        row.tenant_id,
        row.subject_id,
        row.id,
        row.at.and_utc().timestamp_micros()
    )
}
