//! Operations: liveness, readiness, Prometheus metrics.

mod health;
mod metrics;

pub use health::{healthz, readyz, Health, __path_healthz, __path_readyz};
pub use metrics::{metrics, Metrics, __path_metrics};
