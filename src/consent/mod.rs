//! Cookie consent: the banner's routes, receipts, group-committed records,
//! anonymous daily counts, and the DPO's statistics and export.

pub mod cache;
pub mod cors;
pub mod events;
pub mod files;
pub mod handlers;
mod months;
pub mod policy;
pub mod receipt;
pub mod stats;
pub mod store;
pub mod sync;
pub mod writer;

use actix_web::middleware::from_fn;
use actix_web::web;

pub use receipt::ReceiptSigner;
pub use sync::ConsentReads;
pub use writer::ConsentWriter;

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
        .service(web::resource("/consent-policy").get(handlers::policy))
        .service(web::resource("/consents").post(handlers::record))
        .service(
            web::resource("/consents/{subject_id}")
                .get(handlers::current)
                .delete(handlers::withdraw),
        )
        .service(web::resource("/consents/{subject_id}/history").get(handlers::history))
        .configure(more)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.well-known/jwks.json").get(handlers::jwks))
        .service(web::resource("/v1/dpo/consents/stats").get(stats::stats))
        .service(web::resource("/v1/dpo/consents/export").get(stats::export));
}
