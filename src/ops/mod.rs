//! Operations: liveness, readiness, Prometheus metrics.

mod health;
mod metrics;

pub use health::{__path_healthz, __path_readyz, healthz, readyz, Health};
pub use metrics::{__path_metrics, method_label, metrics, Metrics};
