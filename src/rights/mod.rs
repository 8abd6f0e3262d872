//! Rights requests: from the citizen's form to the DPO's decision, on time.
//!
//! The rules and their storage return a [`RightsError`]; the HTTP edge
//! (`http_error`) turns it into problem+json, which the handlers of this
//! capability answer and the pages turn into a page.

pub mod access;
pub mod answer_form;
pub mod arrival;
pub mod attachments;
pub mod counts;
pub mod deadline;
pub mod digest;
pub mod documents;
pub mod downloads;
pub mod dpo;
pub mod entry;
pub mod error;
pub mod export;
pub mod form;
mod http_error;
pub mod identity;
pub mod intake;
pub mod lifecycle;
pub mod limits;
pub mod mail_text;
pub mod messages;
pub mod notify;
pub mod opening;
pub mod patterns;
pub mod queue;
pub mod reference;
pub mod referents;
pub mod related;
pub mod reminders;
pub mod report;
pub mod sealing;
pub mod search;
pub mod service;
pub mod store;
pub mod submit;
pub mod suppression;
pub mod track;
pub mod uploads;

pub use error::RightsError;

/// Under `/v1/tenants/{tenant}` (`consent::tenant_scope`): the form.
pub fn tenant_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(submit::submit);
}

/// The requester's tracking and the DPO's work, each route with its
/// OpenAPI description (`openapi::routes`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(track::track)
        .service(track::upload)
        .service(queue::queue)
        .service(entry::enter_request)
        .service(report::requests_report)
        .service(suppression::suppression_check)
        .service(queue::detail)
        .service(dpo::transition)
        .service(dpo::extend)
        .service(dpo::message)
        .service(identity::decide)
        .service(referents::assign_route)
        .service(referents::note_route)
        .service(opening::document)
        .service(export::export)
        .service(downloads::dpo_attachment)
        .service(downloads::requester_attachment);
}
