//! The HTTP edge's translation of a [`RightsError`]: the problem+json
//! answer of each (status, code, detail, fields, `Retry-After`). The
//! handlers of the capability convert with `?`; the pages read the same
//! answer (`pages::errors`).

use actix_web::http::StatusCode;

use super::error::RightsError;
use crate::db::DbError;
use crate::error::ApiError;

/// Seconds a refused upload is told to wait.
const UPLOADS_RETRY_AFTER_SECS: &str = "5";

/// Seconds a submission is told to wait when the limits are full.
const SUBMISSIONS_RETRY_AFTER_SECS: &str = "60";

impl From<RightsError> for ApiError {
    fn from(e: RightsError) -> Self {
        match e {
            RightsError::Invalid(errors) => ApiError::validation(errors),
            RightsError::UnreadableForm(why) => {
                ApiError::bad_request(format!("The form could not be read: {why}."))
            }
            RightsError::UnknownRequest => ApiError::not_found("No request has this id."),
            RightsError::UnknownDocument => ApiError::not_found("No document has this id."),
            RightsError::UnknownAttachment => ApiError::not_found("No attachment has this id."),
            RightsError::AttachmentPurged => ApiError::new(
                StatusCode::GONE,
                "attachment_purged",
                "This attachment was destroyed with the requester's data at the end of their retention period.",
            ),
            RightsError::UnknownTracking => {
                ApiError::not_found("No request has this tracking link.")
            }
            RightsError::UnknownTenant(tenant) => tenant.into(),
            RightsError::NotForRole(why) => ApiError::forbidden(why),
            RightsError::DocumentPurged => ApiError::new(
                StatusCode::GONE,
                "document_purged",
                "This document was destroyed at the end of its retention period.",
            ),
            RightsError::DocumentDestroyedOnVerification => ApiError::new(
                StatusCode::GONE,
                "document_purged",
                "This document's content was destroyed once the requester's identity was verified.",
            ),
            RightsError::RequestClosed => ApiError::conflict(
                "request_closed",
                "This request is closed: its requester's identity is no longer decided.",
            ),
            RightsError::TransitionNotAllowed { from, to } => ApiError::conflict(
                "transition_not_allowed",
                format!(
                    "A request {} cannot move to {}.",
                    from.as_str(),
                    to.as_str()
                ),
            ),
            RightsError::ExtensionNotAllowed(why) => {
                ApiError::conflict("extension_not_allowed", why)
            }
            RightsError::NotAwaitingIdentity => ApiError::conflict(
                "not_awaiting_identity",
                "No identity document is awaited for this request.",
            ),
            RightsError::RequesterErased => ApiError::conflict(
                "requester_erased",
                "The requester's address is no longer kept.",
            ),
            RightsError::TooManyFromAddress { retry_after_secs } => ApiError::too_many_requests(
                retry_after_secs,
                "Too many requests from this address; try again later.",
            ),
            RightsError::TooManyFromEmail { retry_after_secs } => ApiError::too_many_requests(
                retry_after_secs,
                "Too many requests from this e-mail address; try again later.",
            ),
            RightsError::SubmissionsBusy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "submissions_busy",
                "Too many senders are being counted at once; try again in a minute.",
            )
            .with_header("retry-after", SUBMISSIONS_RETRY_AFTER_SECS),
            RightsError::UploadsBusy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "uploads_busy",
                "Too many documents are being received at this moment; try again in a few seconds.",
            )
            .with_header("retry-after", UPLOADS_RETRY_AFTER_SECS),
            // What a query met is told as the database's other errors are
            // (a unique key's race is a 409 `unique_violation`).
            RightsError::Database(DbError::Query(e)) => ApiError::from(e),
            RightsError::Database(e) => ApiError::from(e),
            RightsError::Mail(e) => ApiError::from(e),
            // As the consent's own routes tell them (503 when the database
            // is away).
            RightsError::Consents(e) => ApiError::from(e),
            e @ RightsError::Internal(_) => ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(e: &ApiError, name: &str) -> Option<String> {
        e.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn the_busy_and_the_limited_are_told_when_to_come_back() {
        let uploads = ApiError::from(RightsError::UploadsBusy);
        assert_eq!(
            (uploads.status.as_u16(), &*uploads.code),
            (503, "uploads_busy")
        );
        assert_eq!(header(&uploads, "retry-after").as_deref(), Some("5"));
        let senders = ApiError::from(RightsError::SubmissionsBusy);
        assert_eq!(header(&senders, "retry-after").as_deref(), Some("60"));
        let limited = ApiError::from(RightsError::TooManyFromEmail {
            retry_after_secs: 42,
        });
        assert_eq!(
            (limited.status.as_u16(), &*limited.code),
            (429, "rate_limited")
        );
        assert_eq!(header(&limited, "retry-after").as_deref(), Some("42"));
    }

    #[test]
    fn a_race_on_a_unique_key_stays_a_conflict() {
        let raced = RightsError::from(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            Box::new("UNIQUE constraint failed".to_owned()),
        ));
        assert!(raced.is_unique_violation());
        let e = ApiError::from(raced);
        assert_eq!((e.status.as_u16(), &*e.code), (409, "unique_violation"));
    }

    #[test]
    fn a_forbidden_move_names_both_statuses() {
        use super::super::lifecycle::Status;
        let e = ApiError::from(RightsError::TransitionNotAllowed {
            from: Status::Completed,
            to: Status::Received,
        });
        assert_eq!(e.code, "transition_not_allowed");
        assert_eq!(e.detail, "A request completed cannot move to received.");
    }
}
