//! The requester's identity on a request's page in the console: the
//! decision recorded, the form that records one (read as the JSON API's
//! body, by the same rules), and why a document's content is gone.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use validator::Validate;

use super::render::{date_time, text};
use crate::error::{ApiError, FieldError};
use crate::rights::identity::{IdentityMethod, IdentityOutcome, IdentityRequest};
use crate::rights::queue::RequestDetail;
use crate::rights::service::RightsService;
use crate::tenants::Locale;

fn outcome_label(lang: Locale, outcome: IdentityOutcome) -> String {
    text(lang, &format!("identity_outcome_{}", outcome.as_str()))
}

fn method_label(lang: Locale, method: IdentityMethod) -> String {
    text(lang, &format!("identity_method_{}", method.as_str()))
}

/// What the page shows: the decision (if any), the form's choices, and
/// whether a verified identity destroys the documents for this tenant.
pub fn view(rights: &RightsService, lang: Locale, detail: &RequestDetail) -> Value {
    let tz = rights.settings.requests.tz();
    let decision = detail.identity.as_ref().map(|i| {
        json!({
            "outcome": i.outcome.as_str(),
            "outcome_label": outcome_label(lang, i.outcome),
            "method_label": method_label(lang, i.method),
            "at": date_time(i.at, lang, tz),
            "by": i.by,
            "note": i.note,
        })
    });
    let outcomes: Vec<Value> = IdentityOutcome::ALL
        .iter()
        .map(|&o| json!({"value": o.as_str(), "label": outcome_label(lang, o)}))
        .collect();
    let methods: Vec<Value> = IdentityMethod::ALL
        .iter()
        .map(|&m| json!({"value": m.as_str(), "label": method_label(lang, m)}))
        .collect();
    let destroys = rights
        .tenants
        .get(&detail.tenant)
        .is_ok_and(|t| t.config.delete_id_documents_on_verification);
    json!({
        "decision": decision,
        "outcomes": outcomes,
        "methods": methods,
        "destroys": destroys,
    })
}

/// Why a document's content is gone: destroyed by the verified identity's
/// decision (at its very instant), or at the end of its retention.
pub fn purged_label(
    lang: Locale,
    detail: &RequestDetail,
    purged_at: Option<DateTime<Utc>>,
) -> String {
    let verified_at = detail
        .identity
        .as_ref()
        .filter(|i| i.outcome == IdentityOutcome::Verified)
        .map(|i| i.at);
    match purged_at {
        Some(at) if Some(at) == verified_at => text(lang, "document_destroyed_verified"),
        _ => text(lang, "document_purged"),
    }
}

/// The form's fields as the JSON API's body, checked by the same rules; a
/// choice left out is an error beside its field.
pub fn form(
    lang: Locale,
    outcome: &str,
    method: &str,
    note: Option<String>,
) -> Result<IdentityRequest, ApiError> {
    let (outcome, method) = (
        IdentityOutcome::parse(outcome),
        IdentityMethod::parse(method),
    );
    let mut errors = Vec::new();
    if outcome.is_none() {
        errors.push(FieldError {
            field: "outcome".into(),
            message: text(lang, "err_identity_outcome"),
        });
    }
    if method.is_none() {
        errors.push(FieldError {
            field: "method".into(),
            message: text(lang, "err_identity_method"),
        });
    }
    let (Some(outcome), Some(method)) = (outcome, method) else {
        return Err(ApiError::validation(errors));
    };
    let body = IdentityRequest {
        outcome,
        method,
        note,
    };
    body.validate().map_err(crate::http::validation_problem)?;
    Ok(body)
}
