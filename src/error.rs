//! One error type for every HTTP answer that is not a success, rendered as
//! RFC 9457 `application/problem+json`. Causes are logged, never sent.

use std::borrow::Cow;

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

mod db;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The code of a 503 for a database busy with another writer.
pub const BUSY: &str = "busy";

/// A field that failed validation.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field in the request (`choices.matomo`).
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

/// The RFC 9457 body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:guichet:problem:not_found")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// Stable machine-readable code.
    #[schema(example = "not_found")]
    pub code: String,
    /// Present on validation errors (422).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Logged when the error is a 5xx; never sent.
    pub cause: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            cause: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn conflict(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("The request body must be {expected}."),
        )
    }

    /// A 422 listing the fields at fault, in field order.
    pub fn validation(mut errors: Vec<FieldError>) -> Self {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Some fields are invalid; see `errors`.",
        );
        e.errors = errors;
        e
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn too_many_requests(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
            .with_header("retry-after", &retry_after_secs.max(1).to_string())
    }

    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "The service cannot reach its database right now; try again shortly.",
        )
        .with_header("retry-after", "5");
        e.cause = Some(cause.into());
        e
    }

    /// SQLite's writer held the database longer than the wait allows:
    /// nothing was recorded, and the client may try again at once.
    pub fn busy(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            BUSY,
            "The database is busy with other changes; nothing was recorded. Try again.",
        )
        .with_header("retry-after", "1");
        e.cause = Some(cause.into());
        e
    }

    /// PostgreSQL gave this change up against a concurrent one (a deadlock
    /// it broke, a serialization failure): nothing was recorded.
    pub fn concurrent_change(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::conflict(
            "concurrent_change",
            "A concurrent change to the same data got in the way; nothing was recorded. Try again.",
        );
        e.cause = Some(cause.into());
        e
    }

    /// A write the disk refused (full, read-only): nothing was recorded.
    pub fn storage_unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "The service cannot record anything right now; nothing was recorded. Try again later.",
        )
        .with_header("retry-after", "30");
        e.cause = Some(cause.into());
        e
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An unexpected error occurred; it has been logged.",
        );
        e.cause = Some(cause.into());
        e
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }

    /// The generic problem for a status that has no more specific story.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, detail) = match status.as_u16() {
            400 => ("malformed_request", "The request could not be understood."),
            401 => ("unauthorized", "Authentication is required."),
            403 => ("forbidden", "This action is not allowed."),
            404 => ("not_found", "No resource lives at this address."),
            405 => (
                "method_not_allowed",
                "This method is not allowed here; see the Allow header.",
            ),
            406 => ("not_acceptable", "No acceptable representation."),
            408 => ("request_timeout", "The request took too long to arrive."),
            409 => ("conflict", "The request conflicts with the current state."),
            411 => ("length_required", "A Content-Length is required."),
            413 => ("payload_too_large", "The request body is too large."),
            414 => ("uri_too_long", "The request URI is too long."),
            415 => (
                "unsupported_media_type",
                "This media type is not accepted here.",
            ),
            422 => ("validation_failed", "Some fields are invalid."),
            429 => ("rate_limited", "Too many requests; slow down."),
            431 => ("headers_too_large", "The request headers are too large."),
            503 => (
                "service_unavailable",
                "The service is unavailable; try again shortly.",
            ),
            s if s >= 500 => (
                "internal_error",
                "An unexpected error occurred; it has been logged.",
            ),
            _ => ("client_error", "The request was refused."),
        };
        Self::new(status, code, detail)
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:guichet:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
        }
    }
}

/// A single field at fault: a 422 naming it.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::validation(vec![e])
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            if self.status.is_server_error() {
                tracing::error!(code = %self.code, error = format!("{cause:#}"), "request failed");
            }
        }
        let mut builder = HttpResponse::build(self.status);
        builder.insert_header((CONTENT_TYPE, PROBLEM_JSON));
        for (name, value) in &self.headers {
            builder.insert_header((name.clone(), value.clone()));
        }
        builder.json(self.problem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_never_carry_their_cause() {
        let e = ApiError::internal(anyhow::anyhow!("password=hunter2 at db.internal"));
        let body = serde_json::to_string(&e.problem()).unwrap();
        assert!(!body.contains("hunter2"));
        assert!(!body.contains("db.internal"));
        assert!(body.contains("\"code\":\"internal_error\""));
    }

    #[test]
    fn every_status_has_a_code() {
        for s in 400..=599u16 {
            if let Ok(status) = StatusCode::from_u16(s) {
                let p = ApiError::from_status(status).problem();
                assert_eq!(p.status, s);
                assert!(!p.code.is_empty());
            }
        }
    }
}
