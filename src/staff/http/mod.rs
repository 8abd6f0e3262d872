//! The staff's HTTP edge: sign-in, the `Staff` extractor every staff route
//! takes, the admin API for accounts, the journal and the outbox; and the
//! problem+json answer of each [`StaffError`].

pub mod admin;
pub mod auth;
pub mod journal;
pub mod login;
pub mod mail;
pub mod vouched;

use actix_web::http::StatusCode;

use super::StaffError;
use crate::error::ApiError;

/// The staff's routes, each with its OpenAPI description
/// (`openapi::routes`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login::login)
        .service(journal::list)
        .service(admin::list_users)
        .service(admin::create_user)
        .service(admin::disable_user)
        .service(admin::set_tenants)
        .service(mail::list);
}

impl From<StaffError> for ApiError {
    fn from(e: StaffError) -> Self {
        match e {
            StaffError::EmailTaken => ApiError::conflict(
                "email_taken",
                "A staff account already uses this e-mail address.",
            ),
            StaffError::Invalid(errors) => ApiError::validation(errors),
            StaffError::BadToken => ApiError::unauthorized(
                "The access token is missing, malformed, expired or not valid.",
            )
            .with_header("www-authenticate", "Bearer"),
            StaffError::HashingBusy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many sign-ins at once; try again in a moment.",
            )
            .with_header("retry-after", "2"),
            e @ (StaffError::Signing(_) | StaffError::Hashing(_) | StaffError::HashingTask(_)) => {
                ApiError::internal(anyhow::anyhow!("{e}"))
            }
            StaffError::Database(e) => e.into(),
            StaffError::Mail(e) => e.into(),
        }
    }
}
