//! Operations: liveness, readiness, Prometheus metrics.

mod health;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

pub use health::Health;
pub use metrics::{method_label, Metrics};

use crate::config::DatabaseSettings;
use crate::db::{Db, DbConnection, DbError};

/// What the capabilities say of their state when `/metrics` is read: read
/// from the database by a function `app.rs` gives (this layer knows no
/// capability).
#[derive(Debug, Default, Clone)]
pub struct Signals {
    /// Messages waiting in the outbox (`pending`).
    pub outbox_pending: i64,
    /// Open requests past their due date, per tenant slug.
    pub overdue: Vec<(String, i64)>,
    /// When the last completed retention sweep finished, in seconds since
    /// the epoch; none before the first.
    pub last_sweep_success: Option<i64>,
}

/// Reads the signals on a connection.
pub type ReadSignals = Arc<dyn Fn(&mut DbConnection) -> Result<Signals, DbError> + Send + Sync>;

/// What the operators' routes read, registered by `app.rs` as
/// `web::Data<Monitor>`: the database to ping, the metrics to render, and
/// the memory uploads hold, sampled when `/metrics` is read.
#[derive(Clone)]
pub struct Monitor {
    db: Db,
    metrics: Metrics,
    ready_timeout: Duration,
    upload_bytes: Arc<dyn Fn() -> usize + Send + Sync>,
    signals: ReadSignals,
}

impl Monitor {
    pub fn new(
        db: Db,
        metrics: Metrics,
        database: &DatabaseSettings,
        upload_bytes: impl Fn() -> usize + Send + Sync + 'static,
        signals: ReadSignals,
    ) -> Self {
        Self {
            db,
            metrics,
            ready_timeout: Duration::from_secs(database.acquire_timeout_secs.min(2)),
            upload_bytes: Arc::new(upload_bytes),
            signals,
        }
    }
}

/// The operators' routes, each documented by its own annotation.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics);
}
