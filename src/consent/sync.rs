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
//!
//! An instance that finds itself the only one listening takes the lease of
//! `lease.rs` and, while it holds it, answers without a sync: no one else
//! writes. It renews the lease every fifth of `consent.alone_lease_ms` and
//! gives it up as soon as another instance or a tool waits to write.

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
use super::lease;
use super::queries::ConsentEvent;
use crate::db::{ConnectionManager, DbConnection};

pub const CHANNEL: &str = "guichet_consent";

/// How often an instance that is not alone tries to take the lease.
const TRY_ALONE_EVERY: Duration = Duration::from_secs(1);

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
    /// This instance's name as a writer of consents (`lease.rs`).
    writer: String,
    lease: Duration,
    /// While it holds the lease: until when, in nanoseconds after `epoch`,
    /// a read may be answered without a sync; 0 otherwise.
    alone_until: AtomicU64,
    epoch: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Listener {
    /// The listener of the instance that writes as `writer`, which holds
    /// the lease for `lease` at a time when it is alone.
    pub fn start(
        manager: ConnectionManager,
        cache: Arc<ConsentCache>,
        writer: String,
        lease: Duration,
    ) -> Arc<Self> {
        let listener = Arc::new(Self {
            synced: watch::channel(None).0,
            wake: Mutex::default(),
            bell: Condvar::new(),
            up: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            thread: Mutex::new(None),
            writer,
            lease,
            alone_until: AtomicU64::new(0),
            epoch: Instant::now(),
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

    /// Whether a read that arrived at `at` may be answered without a sync:
    /// this instance held the lease then.
    pub fn alone_at(&self, at: Instant) -> bool {
        let at = at.saturating_duration_since(self.epoch).as_nanos() as u64;
        at < self.alone_until.load(Ordering::Acquire)
    }

    /// A lease renewed by a call sent at `sent` runs at least until
    /// `sent + lease` on the database's clock: reads are answered alone
    /// until nine tenths of that, a margin for the clocks' rates.
    fn alone_from(&self, sent: Instant) {
        let until = sent.saturating_duration_since(self.epoch) + self.lease * 9 / 10;
        self.alone_until
            .store(until.as_nanos() as u64, Ordering::Release);
    }

    fn not_alone(&self) {
        self.alone_until.store(0, Ordering::Release);
    }

    /// Waits (at most `wait`) for a sync that started after `arrival`; at
    /// once while this instance holds the lease.
    pub async fn synced_after(&self, arrival: Instant, wait: Duration) -> bool {
        if self.alone_at(arrival) {
            return true;
        }
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
        while !self.stopping() {
            match manager.open() {
                Ok(DbConnection::Pg(mut conn)) => {
                    if let Err(e) = self.listen(&mut conn, &cache) {
                        tracing::warn!(error = %e, "consent listener lost the database");
                    }
                }
                Ok(DbConnection::Sqlite(_)) => return,
                Err(e) => tracing::warn!(error = %e, "consent listener cannot connect"),
            }
            self.not_alone();
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
    fn listen(&self, conn: &mut PgConnection, cache: &ConsentCache) -> diesel::QueryResult<()> {
        // A sync's own notification need not be durable: without waiting
        // for its commit to reach the disk it is still queued, and heard,
        // in commit order. The name lets an operator find the connection.
        conn.batch_execute(&format!(
            "SET synchronous_commit = off; SET application_name = 'guichet consent listener'; \
             LISTEN {CHANNEL}"
        ))?;
        lease::join(conn)?;
        // What was kept before this connection listened may have missed
        // notifications.
        cache.clear();
        self.up.store(true, Ordering::Release);
        let renew_every = self.lease / 5;
        let mut alone = false;
        let mut last_try: Option<Instant> = None;
        let mut last_renew = Instant::now();
        loop {
            let tick = if alone {
                renew_every.saturating_sub(last_renew.elapsed())
            } else {
                Duration::from_secs(1)
            };
            let wanted = {
                let wake = lock(&self.wake);
                // Even when no read waits, a sync a second keeps the
                // notifications drained and the connection checked.
                let (mut wake, _) = self
                    .bell
                    .wait_timeout_while(wake, tick, |w| !w.wanted && !w.stopping)
                    .unwrap_or_else(|p| p.into_inner());
                if wake.stopping {
                    drop(wake);
                    if alone {
                        self.not_alone();
                        lease::leave(conn, &self.writer)?;
                    }
                    return Ok(());
                }
                std::mem::take(&mut wake.wanted)
            };
            if alone && last_renew.elapsed() >= renew_every {
                let sent = Instant::now();
                if lease::renew(conn, &self.writer, self.lease_ms())? {
                    self.alone_from(sent);
                    last_renew = sent;
                } else {
                    // Reads from now on wait for a sync, before anyone else
                    // may write.
                    self.not_alone();
                    lease::leave(conn, &self.writer)?;
                    alone = false;
                }
            } else if !alone && last_try.is_none_or(|t| t.elapsed() >= TRY_ALONE_EVERY) {
                let sent = Instant::now();
                last_try = Some(sent);
                if lease::try_take(conn, &self.writer, self.lease_ms())? {
                    // Alone once every write committed before the lease
                    // was taken has been heard.
                    if let Some(started) = self.sync(conn, cache)? {
                        self.synced.send_replace(Some(started));
                        self.alone_from(sent);
                        alone = true;
                        last_renew = sent;
                    } else {
                        lease::leave(conn, &self.writer)?;
                    }
                }
            }
            if wanted || !alone {
                if let Some(started) = self.sync(conn, cache)? {
                    self.synced.send_replace(Some(started));
                }
            } else {
                // This instance's own notifications, drained.
                drain(conn, cache)?;
            }
        }
    }

    fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }

    /// Sends a notification of its own and waits to hear it back: every
    /// event committed before has then been heard. Answers when it started,
    /// or `None` when it was not heard back.
    fn sync(
        &self,
        conn: &mut PgConnection,
        cache: &ConsentCache,
    ) -> diesel::QueryResult<Option<Instant>> {
        let started = Instant::now();
        let n = self.syncs.fetch_add(1, Ordering::Relaxed);
        let mine = format!("sync {} {n}", self.writer);
        conn.batch_execute(&format!("NOTIFY {CHANNEL}, '{mine}'"))?;
        for _ in 0..1000 {
            let mut heard = false;
            for notification in conn.notifications_iter() {
                let payload = notification?.payload;
                if payload == mine {
                    heard = true;
                } else {
                    apply(cache, &payload);
                }
            }
            if heard {
                return Ok(Some(started));
            }
            // A round trip lets the server deliver what is pending.
            conn.batch_execute("SELECT 1")?;
        }
        Ok(None)
    }
}

/// Applies the notifications already received.
fn drain(conn: &mut PgConnection, cache: &ConsentCache) -> diesel::QueryResult<()> {
    for notification in conn.notifications_iter() {
        apply(cache, &notification?.payload);
    }
    Ok(())
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
