//! The PostgreSQL listener that keeps the memory of current consents
//! (`cache.rs`) as good as the database when several instances share it.
//!
//! Every insert of a consent event notifies channel `guichet_consent` in
//! its own transaction (`notify`). The listener of each instance
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
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::DateTime;
use diesel::connection::SimpleConnection;
use diesel::PgConnection;
use diesel::RunQueryDsl;
use tokio::sync::watch;

use super::cache::ConsentCache;
use super::queries::ConsentEvent;
use crate::db::{ConnectionManager, DbConnection};

pub const CHANNEL: &str = "guichet_consent";

#[derive(Default)]
struct Wake {
    /// A read waits for a sync.
    wanted: bool,
    /// The service is stopping: the thread ends.
    stopping: bool,
}

/// The PostgreSQL listener of this instance, on a thread of its own.
pub struct Listener {
    /// When the last completed sync started.
    synced: watch::Sender<Option<Instant>>,
    wake: Mutex<Wake>,
    bell: Condvar,
    up: AtomicBool,
    syncs: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Listener {
    pub fn start(manager: ConnectionManager, cache: Arc<ConsentCache>) -> Arc<Self> {
        let listener = Arc::new(Self {
            synced: watch::channel(None).0,
            wake: Mutex::default(),
            bell: Condvar::new(),
            up: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            thread: Mutex::new(None),
        });
        let this = listener.clone();
        let thread = std::thread::Builder::new()
            .name("consent-listener".into())
            .spawn(move || this.run(manager, cache))
            .expect("spawn the consent listener thread");
        *lock(&listener.thread) = Some(thread);
        listener
    }

    /// Asks the thread to end (it closes its connection); see `join`.
    pub fn stop(&self) {
        lock(&self.wake).stopping = true;
        self.up.store(false, Ordering::Release);
        self.bell.notify_all();
    }

    /// The thread, once asked to stop, to be waited for.
    pub fn take_thread(&self) -> Option<JoinHandle<()>> {
        lock(&self.thread).take()
    }

    fn stopping(&self) -> bool {
        lock(&self.wake).stopping
    }

    /// Waits (at most `wait`) for a sync that started after `arrival`.
    pub async fn synced_after(&self, arrival: Instant, wait: Duration) -> bool {
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
            let mut wake = lock(&self.wake);
            if !wake.wanted {
                wake.wanted = true;
                self.bell.notify_all();
            }
        }
        let synced = tokio::time::timeout(wait, rx.wait_for(|s| s.is_some_and(|s| s >= arrival)))
            .await
            .is_ok_and(|r| r.is_ok());
        synced
    }

    fn run(self: Arc<Self>, manager: ConnectionManager, cache: Arc<ConsentCache>) {
        let token = uuid::Uuid::new_v4().simple().to_string();
        while !self.stopping() {
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
            // A second before trying again, unless the service stops.
            let wake = lock(&self.wake);
            let _ = self
                .bell
                .wait_timeout_while(wake, Duration::from_secs(1), |w| !w.stopping);
        }
    }

    /// Listens until the connection fails or the service stops.
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
                let wake = lock(&self.wake);
                // Even when no read waits, a sync a second keeps the
                // notifications drained and the connection checked.
                let (mut wake, _) = self
                    .bell
                    .wait_timeout_while(wake, Duration::from_secs(1), |w| !w.wanted && !w.stopping)
                    .unwrap_or_else(|p| p.into_inner());
                if wake.stopping {
                    return Ok(());
                }
                wake.wanted = false;
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

/// Tells every instance's listener, on commit, which subjects have a new
/// latest event. A notification carries at most 8000 bytes: the lines are
/// sent in chunks, all in one statement.
pub fn notify(conn: &mut PgConnection, rows: &[ConsentEvent]) -> diesel::QueryResult<()> {
    let mut chunks: Vec<String> = Vec::new();
    for row in rows {
        let line = payload(row);
        match chunks.last_mut() {
            Some(chunk) if chunk.len() + line.len() < 7900 => {
                chunk.push('\n');
                chunk.push_str(&line);
            }
            _ => chunks.push(line),
        }
    }
    diesel::sql_query("SELECT pg_notify($1, chunk) FROM unnest($2) AS chunk")
        .bind::<diesel::sql_types::Text, _>(CHANNEL)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(chunks)
        .execute(conn)?;
    Ok(())
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
fn payload(row: &ConsentEvent) -> String {
    format!(
        "{} {} {} {}",
        row.tenant_id,
        row.subject_id,
        row.id,
        row.at.and_utc().timestamp_micros()
    )
}
