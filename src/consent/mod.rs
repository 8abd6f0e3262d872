//! Cookie consent: the banner's routes, receipts, group-committed records,
//! anonymous daily counts, and the DPO's statistics and export.

mod cache;
pub mod cors;
mod error;
pub mod files;
pub mod http;
mod months;
mod place;
pub mod policy;
pub mod queries;
pub mod receipt;
pub mod stats;
mod store;
mod sync;
pub mod upgrade;
mod writer;

use actix_web::middleware::from_fn;
use actix_web::web;

pub use error::ConsentError;
pub use queries::ConsentEvent;
pub use receipt::ReceiptSigner;
pub use store::ConsentStore;

/// The public routes under `/v1/tenants/{tenant}`: consent, then what
/// `more` adds (the rights request form), behind the tenant's CORS policy.
pub fn tenant_scope(
    more: fn(&mut web::ServiceConfig),
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/v1/tenants/{tenant}")
        .wrap(from_fn(cors::tenant_cors))
        .service(web::resource("/consent-policy").get(http::policy))
        .service(web::resource("/consents").post(http::record))
        .service(
            web::resource("/consents/{subject_id}")
                .get(http::current)
                .delete(http::withdraw),
        )
        .service(web::resource("/consents/{subject_id}/history").get(http::history))
        .configure(more)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.well-known/jwks.json").get(http::jwks))
        .service(web::resource("/v1/dpo/consents/stats").get(stats::stats))
        .service(web::resource("/v1/dpo/consents/export").get(stats::export));
}
