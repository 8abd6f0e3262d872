//! Group commit: consents arriving together share one transaction. One
//! writer thread takes whatever has queued up while the previous commit
//! was running, inserts it in one statement, commits, then answers every
//! request of the batch. No request is answered before its row is
//! committed, and no request waits for a timer. While the database cannot
//! be reached, every consent waiting is answered 503 once the pool has
//! waited `database.acquire_timeout_secs` for a connection, not after a
//! wait per batch.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use tokio::sync::{mpsc, oneshot};

use std::sync::Arc;

use super::events;
use super::files::ConsentFiles;
use super::store::ConsentEvent;
use crate::db::{DbError, Pool};
use crate::error::ApiError;

type Reply = oneshot::Sender<Result<(), String>>;

struct Job {
    row: ConsentEvent,
    reply: Reply,
}

#[derive(Clone)]
pub struct ConsentWriter {
    queue: mpsc::Sender<Job>,
    enqueue_timeout: Duration,
}

impl ConsentWriter {
    /// Starts the writer thread; it stops when the last `ConsentWriter` is
    /// dropped.
    pub fn start(
        pool: Pool,
        files: Option<Arc<ConsentFiles>>,
        capacity: usize,
        max_batch: usize,
        enqueue_timeout: Duration,
    ) -> Self {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        std::thread::Builder::new()
            .name("consent-writer".into())
            .spawn(move || run(pool, files, rx, max_batch.max(1)))
            .expect("spawn the consent writer thread");
        Self {
            queue,
            enqueue_timeout,
        }
    }

    /// Returns once the event is committed.
    pub async fn write(&self, row: ConsentEvent) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        let busy = || {
            ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many consents are waiting to be recorded; try again shortly.",
            )
            .with_header("retry-after", "1")
        };
        self.queue
            .send_timeout(Job { row, reply }, self.enqueue_timeout)
            .await
            .map_err(|_| busy())?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(unavailable)) if unavailable == UNAVAILABLE => Err(ApiError::unavailable(
                anyhow::anyhow!("consent writer: database unavailable"),
            )),
            Ok(Err(refused)) if refused == NO_STORAGE => Err(ApiError::storage_unavailable(
                anyhow::anyhow!("consent writer: the disk refused the write"),
            )),
            Ok(Err(e)) => Err(ApiError::internal(anyhow::anyhow!("consent writer: {e}"))),
            Err(_) => Err(ApiError::internal(anyhow::anyhow!(
                "consent writer stopped"
            ))),
        }
    }
}

const UNAVAILABLE: &str = "database unavailable";
const NO_STORAGE: &str = "no storage";

fn run(
    pool: Pool,
    files: Option<Arc<ConsentFiles>>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(unreachable) = commit(&pool, files.as_deref(), &mut batch) {
            // What queued up meanwhile has waited for the database as long
            // as the batch did (up to `database.acquire_timeout_secs`):
            // answered now, not after another wait of its own.
            tracing::warn!(error = %unreachable, "consent writer has no connection");
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(UNAVAILABLE.into()));
            }
        }
    }
}

/// Commits the batch and answers it; `Err` when no connection could be had.
fn commit(
    pool: &Pool,
    files: Option<&ConsentFiles>,
    batch: &mut Vec<Job>,
) -> Result<(), r2d2::Error> {
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(UNAVAILABLE.into()));
            }
            return Err(e);
        }
    };
    let rows: Vec<ConsentEvent> = batch.iter().map(|j| j.row.clone()).collect();
    let error = match events::insert(&mut conn, files, &rows) {
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
            let _ = job.reply.send(Err(NO_STORAGE.into()));
        }
        return Ok(());
    }
    let alive = conn.batch_execute("SELECT 1").is_ok();
    if error.is_unavailable() || !alive {
        conn.mark_failed();
        tracing::warn!(error = %error, "consent writer lost the database");
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(UNAVAILABLE.into()));
        }
        return Ok(());
    }
    if batch.len() == 1 {
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(error.to_string()));
        }
        return Ok(());
    }
    // One bad row must not fail its neighbours: retry them one by one.
    tracing::warn!(error = %error, size = batch.len(), "consent batch failed; retrying singly");
    for job in batch.drain(..) {
        let result = events::insert(&mut conn, files, std::slice::from_ref(&job.row))
            .map_err(|e| e.to_string());
        let _ = job.reply.send(result);
    }
    Ok(())
}
