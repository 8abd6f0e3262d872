//! The banner's routes: policy, record, current, withdraw, history; and the
//! key set that verifies receipts.

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ConsentError;
use super::policy::{
    check_version, clean_page_url, clean_user_agent, expires_at, normalise_choices,
};
use super::queries::{self, ConsentEvent, GIVEN};
use super::receipt::ReceiptClaims;
use crate::app::AppState;
use crate::db::DbError;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{client_ip, ValidatedJson};
use crate::privacy::ip_pseudonym;
use crate::tenants::PurposeConfig;

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentPolicy {
    pub tenant: String,
    pub policy_version: String,
    pub purposes: Vec<PurposeConfig>,
    /// Months a consent holds before the banner asks again.
    pub validity_months: u32,
}

/// The purposes a banner must offer.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/consent-policy",
    tag = "consent",
    params(("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$")),
    responses(
        (status = 200, description = "The tenant's current consent policy.", body = ConsentPolicy),
        (status = 403, description = "Origin not allowed for this tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn policy(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = state.tenants.get(&path)?;
    let c = &tenant.config.consent;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(ConsentPolicy {
            tenant: tenant.slug.clone(),
            policy_version: c.policy_version.clone(),
            purposes: c.purposes.clone(),
            validity_months: c.validity_months,
        }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The visitor's random id, kept by the banner; made by the server when absent.
    #[schema(format = "uuid")]
    pub subject_id: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    pub policy_version: String,
    /// Purpose id → accepted. A non-essential purpose left out is refused;
    /// a purpose the tenant's policy does not have, or an essential one
    /// refused, is a 422.
    #[schema(value_type = HashMap<String, bool>)]
    pub choices: HashMap<String, bool>,
    /// IAB TCF string, stored as given (no control character).
    #[schema(max_length = 4096, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub tc_string: Option<String>,
    /// The page the banner was shown on (http or https); query and fragment
    /// are dropped.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#]|$)"
    )]
    pub page_url: Option<String>,
}

impl validator::Validate for ConsentRequest {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    #[schema(format = "uuid")]
    pub consent_id: String,
    #[schema(format = "uuid")]
    pub subject_id: String,
    pub tenant: String,
    pub policy_version: String,
    /// Every purpose of the policy with its choice.
    pub choices: BTreeMap<String, bool>,
    pub given_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The browser sent `Sec-GPC: 1`.
    pub gpc: bool,
    /// Compact JWS (EdDSA) of the consent; verify it with `/.well-known/jwks.json`.
    pub receipt: String,
}

fn view(slug: &str, row: &ConsentEvent) -> ConsentView {
    ConsentView {
        consent_id: row.id.clone(),
        subject_id: row.subject_id.clone(),
        tenant: slug.to_owned(),
        policy_version: row.policy_version.clone(),
        choices: row.choices(),
        given_at: row.at.and_utc(),
        expires_at: row.expires_at.unwrap_or(row.at).and_utc(),
        gpc: row.gpc,
        receipt: row.receipt.clone().unwrap_or_default(),
    }
}

fn parse_subject(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::field("subject_id", "must be a UUID"))
}

/// Records the visitor's choices (refusals too).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/consents",
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("Sec-GPC" = Option<String>, Header, description = "`1` when the browser sends Global Privacy Control."),
    ),
    request_body = ConsentRequest,
    responses(
        (status = 201, description = "Recorded and committed.", body = ConsentView,
            headers(("location" = String, description = "The subject's current consent."))),
        (status = 400, description = "Malformed JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Origin not allowed for this tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the current policy version; the detail names it.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 16 KiB.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown purpose, refused essential purpose, invalid field.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or overloaded; nothing was recorded.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidatedJson<ConsentRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = state.tenants.get(&path)?;
    let body = body.0;
    let limits = &state.settings.consent;
    let policy = &tenant.config.consent;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut invalid = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    if body.policy_version.is_empty() || body.policy_version.len() > 40 {
        invalid("policy_version", "must be 1 to 40 characters");
    }
    if body
        .tc_string
        .as_ref()
        .is_some_and(|s| s.len() > limits.tc_string_max)
    {
        invalid("tc_string", "is too long");
    }
    if body
        .tc_string
        .as_ref()
        .is_some_and(|s| s.chars().any(char::is_control))
    {
        invalid("tc_string", "must not contain control characters");
    }
    let page_url = match body.page_url.as_deref() {
        None => None,
        Some(raw) if raw.len() > limits.page_url_max => {
            invalid("page_url", "is too long");
            None
        }
        Some(raw) => {
            let cleaned = clean_page_url(raw);
            if cleaned.is_none() {
                invalid("page_url", "must be an http or https URL");
            }
            cleaned
        }
    };
    let subject_id = match body.subject_id.as_deref() {
        Some(raw) => match parse_subject(raw) {
            Ok(s) => s,
            Err(e) => {
                errors.extend(e.errors);
                String::new()
            }
        },
        None => uuid::Uuid::new_v4().to_string(),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    check_version(policy, &body.policy_version)?;
    let choices = normalise_choices(policy, &body.choices).map_err(ApiError::validation)?;

    let now = state.clock.now();
    let expires = expires_at(now, policy.validity_months);
    let gpc = req
        .headers()
        .get("sec-gpc")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    let consent_id = uuid::Uuid::now_v7().to_string();
    let claims = ReceiptClaims {
        iss: state.settings.server.public_url.clone(),
        sub: subject_id.clone(),
        jti: consent_id.clone(),
        iat: now.timestamp(),
        exp: expires.timestamp(),
        tenant: tenant.slug.clone(),
        policy_version: policy.policy_version.clone(),
        choices: choices.clone(),
        gpc,
    };
    let receipt = state.receipts.sign(&claims)?;
    let ip = client_ip(&req, &state.settings.server);
    let row = ConsentEvent {
        id: consent_id,
        tenant_id: tenant.id.clone(),
        subject_id,
        event: GIVEN.into(),
        policy_version: policy.policy_version.clone(),
        choices: serde_json::to_string(&choices).map_err(ApiError::internal)?,
        gpc,
        at: now.naive_utc(),
        expires_at: Some(expires.naive_utc()),
        ip_pseudonym: ip.map(|ip| ip_pseudonym(&state.secrets.pseudonym, ip)),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| clean_user_agent(ua, limits.user_agent_max)),
        page_url,
        tc_string: body.tc_string,
        receipt: Some(receipt),
    };
    let out = view(&tenant.slug, &row);
    state.consents.record(row).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "location",
            format!("/v1/tenants/{}/consents/{}", tenant.slug, out.subject_id),
        ))
        .json(out))
}

/// The subject's consent in force: 404 when none, expired or withdrawn.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/consents/{subject_id}",
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("subject_id" = String, Path, description = "The visitor's id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The consent in force.", body = ConsentView),
        (status = 403, description = "Origin not allowed for this tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant, or no consent in force.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The subject id is not a UUID.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn current(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, subject) = path.into_inner();
    let tenant = state.tenants.get(&slug)?;
    let subject = parse_subject(&subject)?;
    let now = state.clock.now().naive_utc();
    let row = state
        .consents
        .latest(&tenant.id, &subject)
        .await?
        .filter(|e| queries::in_force(e, now))
        .ok_or_else(|| ApiError::not_found("No consent is in force for this subject."))?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(view(&tenant.slug, &row)))
}

/// Withdraws the subject's consent; the withdrawal is recorded as an event.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/consents/{subject_id}",
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("subject_id" = String, Path, description = "The visitor's id.", format = "uuid"),
    ),
    responses(
        (status = 204, description = "Withdrawn."),
        (status = 403, description = "Origin not allowed for this tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant, or nothing to withdraw.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The subject id is not a UUID.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn withdraw(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, subject) = path.into_inner();
    let tenant = state.tenants.get(&slug)?;
    let subject = parse_subject(&subject)?;
    let now = state.clock.now();
    let pseudonym = client_ip(&req, &state.settings.server)
        .map(|ip| ip_pseudonym(&state.secrets.pseudonym, ip));
    let withdrawn = state
        .consents
        .withdraw(&tenant.id, &subject, now.naive_utc(), pseudonym)
        .await?;
    if withdrawn.is_none() {
        return Err(ApiError::not_found(
            "No consent is in force for this subject.",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// `given` or `withdrawn`.
    pub event: String,
    pub at: DateTime<Utc>,
    pub policy_version: String,
    /// The choices given, or those withdrawn.
    pub choices: BTreeMap<String, bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// The oldest `consent.history_max` at most.
    #[schema(max_items = 1000)]
    pub items: Vec<HistoryItem>,
}

/// Every event of the subject still kept, oldest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/consents/{subject_id}/history",
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("subject_id" = String, Path, description = "The visitor's id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The subject's events (empty when none).", body = History),
        (status = 403, description = "Origin not allowed for this tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The subject id is not a UUID.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, subject) = path.into_inner();
    let tenant = state.tenants.get(&slug)?;
    let subject = parse_subject(&subject)?;
    let limit = state.settings.consent.history_max;
    let rows = state.consents.history(&tenant.id, &subject, limit).await?;
    let items = rows
        .iter()
        .map(|r| HistoryItem {
            event: r.event.clone(),
            at: r.at.and_utc(),
            policy_version: r.policy_version.clone(),
            choices: r.choices(),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(History { items }))
}

/// The public keys that verify consent receipts.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "consent",
    responses((status = 200, description = "JSON Web Key Set (Ed25519).", body = Object))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=3600"))
        .json(state.receipts.jwks())
}

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        match e {
            ConsentError::Invalid(errors) => ApiError::validation(errors),
            ConsentError::StalePolicy { current } => ApiError::conflict(
                "stale_policy_version",
                format!(
                    "The consent policy is now at version `{current}`; show the banner again with it."
                ),
            ),
            ConsentError::QueueFull => ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many consents are waiting to be recorded; try again shortly.",
            )
            .with_header("retry-after", "1"),
            e @ ConsentError::Unavailable => ApiError::unavailable(e),
            e @ ConsentError::NoStorage => ApiError::storage_unavailable(e),
            // What a query met is told as the database's other errors are.
            ConsentError::Database(DbError::Query(e)) => ApiError::from(e),
            ConsentError::Database(e) => ApiError::from(e),
            e @ ConsentError::Internal(_) => ApiError::internal(e),
        }
    }
}
