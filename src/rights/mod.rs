//! Rights requests: from the citizen's form to the DPO's decision, on time.

pub mod counts;
pub mod deadline;
pub mod digest;
pub mod documents;
pub mod dpo;
pub mod form;
pub mod forms;
pub mod intake;
pub mod lifecycle;
pub mod limits;
pub mod mail_text;
pub mod notify;
pub mod opening;
pub mod queue;
pub mod reference;
pub mod sealing;
pub mod search;
pub mod service;
pub mod store;
pub mod submit;
pub mod suppression;
pub mod track;
pub mod uploads;

use actix_web::web;

/// Under `/v1/tenants/{tenant}`.
pub fn tenant_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/requests").post(submit::submit));
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/requests/track/{token}").get(track::track))
        .service(web::resource("/v1/requests/track/{token}/documents").post(track::upload))
        .service(web::resource("/v1/dpo/requests").get(queue::queue))
        .service(web::resource("/v1/dpo/suppression/check").get(suppression::suppression_check))
        .service(web::resource("/v1/dpo/requests/{id}").get(queue::detail))
        .service(web::resource("/v1/dpo/requests/{id}/transitions").post(dpo::transition))
        .service(web::resource("/v1/dpo/requests/{id}/extension").post(dpo::extend))
        .service(web::resource("/v1/dpo/requests/{id}/messages").post(dpo::message))
        .service(
            web::resource("/v1/dpo/requests/{id}/documents/{document_id}").get(opening::document),
        );
}
