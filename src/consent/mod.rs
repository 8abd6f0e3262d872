//! Cookie consent: the banner's routes, receipts, group-committed records,
//! anonymous daily counts, and the DPO's statistics and export.

mod cache;
pub mod cors;
mod dictionary;
mod error;
pub mod files;
pub mod http;
pub mod idempotency;
mod lease;
mod months;
pub mod partitions;
mod place;
pub mod policy;
pub mod queries;
pub mod receipt;
pub mod script;
mod service;
pub mod state;
pub mod stats;
mod store;
pub(crate) mod stored;
mod sync;
pub mod transfer;
pub mod upgrade;
pub mod views;
mod writer;

use actix_web::middleware::from_fn;

pub use error::ConsentError;
pub use queries::ConsentEvent;
pub use receipt::ReceiptSigner;
pub use service::{recorded_counter, ConsentService};
pub use store::ConsentStore;
pub use views::Policies;

/// The public routes under `/v1/tenants/{tenant}`: consent, then what
/// `more` adds (the rights request form), behind the tenant's CORS policy.
pub fn tenant_scope(
    more: fn(&mut utoipa_actix_web::service_config::ServiceConfig),
) -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope("/v1/tenants/{tenant}")
        .service(http::policy)
        .service(state::policy_versions)
        .service(state::consent_state)
        .service(http::record)
        .service(http::current)
        .service(http::withdraw)
        .service(http::history)
        .service(script::script)
        .configure(more)
        .map(|scope| scope.wrap(from_fn(cors::tenant_cors)))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(http::jwks)
        .service(stats::stats)
        .service(stats::export);
}
