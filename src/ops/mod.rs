//! Operations: liveness, readiness, Prometheus metrics.

mod health;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

pub use health::Health;
pub use metrics::{method_label, Metrics};

use crate::config::DatabaseSettings;
use crate::db::Db;

/// What the operators' routes read, registered by `app.rs` as
/// `web::Data<Monitor>`: the database to ping, the metrics to render, and
/// the memory uploads hold, sampled when `/metrics` is read.
#[derive(Clone)]
pub struct Monitor {
    db: Db,
    metrics: Metrics,
    ready_timeout: Duration,
    upload_bytes: Arc<dyn Fn() -> usize + Send + Sync>,
}

impl Monitor {
    pub fn new(
        db: Db,
        metrics: Metrics,
        database: &DatabaseSettings,
        upload_bytes: impl Fn() -> usize + Send + Sync + 'static,
    ) -> Self {
        Self {
            db,
            metrics,
            ready_timeout: Duration::from_secs(database.acquire_timeout_secs.min(2)),
            upload_bytes: Arc::new(upload_bytes),
        }
    }
}

/// The operators' routes, each documented by its own annotation.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics);
}
