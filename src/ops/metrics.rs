//! Prometheus metrics. Every label comes from a fixed set, whatever a
//! client sends: a label value is a new series held for the life of the
//! process, and a client choosing them could grow `/metrics` and the
//! service's memory without end.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::{get, web, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use super::{Monitor, Signals};
use crate::error::ApiError;

/// The service's Prometheus registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    uploads_reserved: IntGauge,
    outbox_pending: IntGauge,
    overdue: IntGaugeVec,
    last_sweep: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("guichet".into()), None).expect("a static prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer HTTP requests, by method and route.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database connections by state."),
            &["state"],
        )
        .expect("valid metric");
        let pool_max = IntGauge::new("db_pool_max_connections", "Size limit of the pool.")
            .expect("valid metric");
        let uploads_reserved = IntGauge::new(
            "upload_memory_reserved_bytes",
            "Bytes of the upload memory budget held by forms in flight.",
        )
        .expect("valid metric");
        let outbox_pending = IntGauge::new(
            "mail_outbox_pending",
            "Messages waiting in the outbox to be sent.",
        )
        .expect("valid metric");
        let overdue = IntGaugeVec::new(
            Opts::new(
                "requests_overdue",
                "Open rights requests past their due date, by tenant.",
            ),
            &["tenant"],
        )
        .expect("valid metric");
        let last_sweep = IntGauge::new(
            "retention_last_success_timestamp_seconds",
            "When the last completed retention sweep finished (0: none yet).",
        )
        .expect("valid metric");
        for c in [
            Box::new(outbox_pending.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(overdue.clone()),
            Box::new(last_sweep.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_max.clone()),
            Box::new(uploads_reserved.clone()),
        ] {
            registry
                .register(c)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            pool_connections,
            pool_max,
            uploads_reserved,
            outbox_pending,
            overdue,
            last_sweep,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a request. `route` must be a route template of the service
    /// (or `unmatched`), never the path a client sent.
    pub fn observe_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let status = status_label(status);
        self.http_requests
            .with_label_values(&[method, route, &status])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    fn render(
        &self,
        monitor: &Monitor,
        signals: Option<&Signals>,
    ) -> Result<String, prometheus::Error> {
        if let Some(signals) = signals {
            self.outbox_pending.set(signals.outbox_pending);
            // Tenants are the configured ones: a fixed set of labels.
            for (tenant, n) in &signals.overdue {
                self.overdue.with_label_values(&[tenant.as_str()]).set(*n);
            }
            self.last_sweep.set(signals.last_sweep_success.unwrap_or(0));
        }
        let pool = monitor.db.pool().state();
        let idle = i64::from(pool.idle_connections);
        self.pool_connections.with_label_values(&["idle"]).set(idle);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.connections) - idle);
        self.pool_max.set(i64::from(monitor.db.pool().max_size()));
        self.uploads_reserved
            .set(i64::try_from((monitor.upload_bytes)()).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The method as a label: one of the methods the service knows, or `other`
/// (a client may send any token as a method).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status as a label: its three digits, `other` outside 100–599.
fn status_label(status: u16) -> String {
    if (100..=599).contains(&status) {
        status.to_string()
    } else {
        "other".into()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Prometheus text exposition.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(monitor: web::Data<Monitor>) -> Result<HttpResponse, ApiError> {
    // The signals need the database; the rest does not, and is what an
    // operator reads when the database is down: then the signals keep
    // their last values.
    let read = monitor.signals.clone();
    let signals = monitor
        .db
        .run_as(move |conn| read(conn).map_err(ApiError::from))
        .await;
    if let Err(e) = &signals {
        tracing::warn!(error = %e, "metrics: the signals could not be read; their last values stay");
    }
    let text = monitor
        .metrics
        .render(&monitor, signals.ok().as_ref())
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
