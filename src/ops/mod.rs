//! Operations: liveness, readiness, Prometheus metrics.

mod health;
mod metrics;

pub use health::Health;
pub use metrics::{method_label, Metrics};

/// The operators' routes, each documented by its own annotation.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics);
}
