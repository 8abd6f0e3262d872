//! Group commit: consents arriving together share one transaction. One
//! writer thread takes whatever has queued up while the previous commit
//! was running, inserts it in one statement, commits, then answers every
//! request of the batch. No request is answered before its row is
//! committed, and no request waits for a timer. While the database cannot
//! be reached, every consent waiting is answered 503 once the pool has
//! waited `database.acquire_timeout_secs` for a connection, not after a
//! wait per batch.

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use tokio::sync::{mpsc, oneshot};

use super::error::ConsentError;
use super::queries::ConsentEvent;
use super::store::Storage;
use crate::db::DbError;

type Reply = oneshot::Sender<Result<(), ConsentError>>;

struct Job {
    row: ConsentEvent,
    reply: Reply,
}

pub struct ConsentWriter {
    /// Taken away when the service stops: the thread then commits what is
    /// queued and ends.
    queue: RwLock<Option<mpsc::Sender<Job>>>,
    enqueue_timeout: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn poisoned<T>(r: Result<T, std::sync::PoisonError<T>>) -> T {
    r.unwrap_or_else(|p| p.into_inner())
}

impl ConsentWriter {
    /// Starts the writer thread; it ends once `stop` is called (or the
    /// writer dropped) and the queue is empty.
    pub(crate) fn start(
        storage: Arc<Storage>,
        capacity: usize,
        max_batch: usize,
        enqueue_timeout: Duration,
    ) -> Self {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("consent-writer".into())
            .spawn(move || run(&storage, rx, max_batch.max(1)))
            .expect("spawn the consent writer thread");
        Self {
            queue: RwLock::new(Some(queue)),
            enqueue_timeout,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Returns once the event is committed.
    pub async fn write(&self, row: ConsentEvent) -> Result<(), ConsentError> {
        let queue = poisoned(self.queue.read())
            .clone()
            .ok_or_else(|| ConsentError::Internal("consent writer stopped".into()))?;
        let (reply, answer) = oneshot::channel();
        queue
            .send_timeout(Job { row, reply }, self.enqueue_timeout)
            .await
            .map_err(|_| ConsentError::QueueFull)?;
        drop(queue);
        answer
            .await
            .unwrap_or_else(|_| Err(ConsentError::Internal("consent writer stopped".into())))
    }

    /// Closes the queue: the thread commits what is in it, then ends.
    pub fn stop(&self) {
        poisoned(self.queue.write()).take();
    }

    /// The thread, once asked to stop, to be waited for.
    pub fn take_thread(&self) -> Option<JoinHandle<()>> {
        poisoned(self.thread.lock()).take()
    }
}

fn run(storage: &Storage, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(unreachable) = commit(storage, &mut batch) {
            // What queued up meanwhile has waited for the database as long
            // as the batch did (up to `database.acquire_timeout_secs`):
            // answered now, not after another wait of its own.
            tracing::warn!(error = %unreachable, "consent writer has no connection");
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(ConsentError::Unavailable));
            }
        }
    }
}

/// Commits the batch and answers it; `Err` when no connection could be had.
fn commit(storage: &Storage, batch: &mut Vec<Job>) -> Result<(), r2d2::Error> {
    let mut conn = match storage.db.pool().get() {
        Ok(c) => c,
        Err(e) => {
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(ConsentError::Unavailable));
            }
            return Err(e);
        }
    };
    let rows: Vec<ConsentEvent> = batch.iter().map(|j| j.row.clone()).collect();
    let error = match storage.insert(&mut conn, &rows) {
        Ok(()) => {
            for job in batch.drain(..) {
                let _ = job.reply.send(Ok(()));
            }
            return Ok(());
        }
        Err(e) => DbError::from(e),
    };
    if error.is_storage_failure() {
        // A full or read-only disk fails every row alike.
        tracing::warn!(error = %error, "consent writer cannot write to the disk");
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(ConsentError::NoStorage));
        }
        return Ok(());
    }
    let alive = conn.batch_execute("SELECT 1").is_ok();
    if error.is_unavailable() || !alive {
        conn.mark_failed();
        tracing::warn!(error = %error, "consent writer lost the database");
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(ConsentError::Unavailable));
        }
        return Ok(());
    }
    let failed = |e: &dyn std::fmt::Display| ConsentError::Internal(format!("consent writer: {e}"));
    if batch.len() == 1 {
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(failed(&error)));
        }
        return Ok(());
    }
    // One bad row must not fail its neighbours: retry them one by one.
    tracing::warn!(error = %error, size = batch.len(), "consent batch failed; retrying singly");
    for job in batch.drain(..) {
        let result = storage
            .insert(&mut conn, std::slice::from_ref(&job.row))
            .map_err(|e| failed(&e));
        let _ = job.reply.send(result);
    }
    Ok(())
}
