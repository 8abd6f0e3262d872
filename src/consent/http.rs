//! The banner's routes: policy, record, current, withdraw, history; the key
//! set that verifies receipts; and what a consent's errors answer.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};

use super::error::ConsentError;
use super::idempotency::{self, Claim};
use super::policy::{
    check_version, clean_page_url, clean_user_agent, expires_at, normalise_choices,
};
use super::queries::{self, ConsentEvent, GIVEN};
use super::receipt::ReceiptClaims;
use super::service::ConsentService;
use super::views::{
    parse_subject, view, ConsentPolicy, ConsentRequest, ConsentView, History, HistoryItem,
};
use crate::db::DbError;
use crate::error::ApiError;
use crate::http::{client_ip, validation_problem, JsonBody};
use crate::privacy::ip_pseudonym;
use crate::tenants::Tenant;
use validator::ValidateArgs;

/// The purposes a banner must offer.
#[utoipa::path(
    tag = "consent",
    params(("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$")),
    responses(
        (status = 200, description = "The tenant's current consent policy.", body = ConsentPolicy),
    )
)]
#[get("/consent-policy")]
pub async fn policy(
    consent: web::Data<ConsentService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = consent.tenants.get(&path)?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(&consent.policies.get(&tenant).json))
}

/// Records the visitor's choices (refusals too).
#[utoipa::path(
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("Sec-GPC" = Option<String>, Header, description = "`1` when the browser sends Global Privacy Control."),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, new for each decision and the same on its retries: for 24 hours, the same key for the same tenant answers the first answer again and records nothing.", pattern = "^[!-~]{1,255}$"),
    ),
    request_body = ConsentRequest,
    responses(
        (status = 201, description = "Recorded and committed (or, for a key already answered, the first answer again, with `Idempotency-Replayed: true`).", body = ConsentView,
            headers(("location" = String, description = "The subject's current consent."))),
        (status = 400, description = "Malformed JSON."),
        (status = 409, description = "Not the current policy version (`stale_policy_version`; the detail names it), or a request with the same Idempotency-Key still being recorded (`idempotency_in_flight`)."),
        (status = 413, description = "Body over 16 KiB."),
        (status = 422, description = "Unknown purpose, refused essential purpose, invalid field, or an Idempotency-Key that is not one or was used with another body (`Idempotency-Key`)."),
        (status = 503, description = "Database unavailable or overloaded; nothing was recorded."),
    )
)]
#[post("/consents")]
pub async fn record(
    req: HttpRequest,
    consent: web::Data<ConsentService>,
    path: web::Path<String>,
    body: JsonBody<ConsentRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = consent.tenants.get(&path)?;
    let body = body.0;
    body.validate_with_args(&consent.settings)
        .map_err(validation_problem)?;
    let key = idempotency::key_of(&req)?;
    if let Some(key) = &key {
        // What the request asks, to tell a retry from another decision.
        let choices: std::collections::BTreeMap<_, _> = body.choices.iter().collect();
        let asked = serde_json::json!([
            body.subject_id,
            body.policy_version,
            choices,
            body.tc_string,
            body.page_url
        ])
        .to_string();
        let now = consent.clock.now().naive_utc();
        if let Claim::Replay(answer) =
            idempotency::claim(&consent.db, &tenant.id, key, &asked, now).await?
        {
            return Ok(replayed(&tenant.slug, answer));
        }
    }
    let recorded = record_new(&req, &consent, &tenant, body).await;
    if let Some(key) = &key {
        match &recorded {
            Ok(out) => {
                let answer = serde_json::to_string(out).map_err(ApiError::internal)?;
                idempotency::complete(&consent.db, &tenant.id, key, answer).await?;
            }
            Err(_) => idempotency::release(&consent.db, &tenant.id, key).await,
        }
    }
    let out = recorded?;
    Ok(HttpResponse::Created()
        .insert_header((
            "location",
            format!("/v1/tenants/{}/consents/{}", tenant.slug, out.subject_id),
        ))
        .json(out))
}

/// The first answer to an Idempotency-Key, given again.
fn replayed(slug: &str, answer: String) -> HttpResponse {
    let subject = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v["subject_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    HttpResponse::Created()
        .insert_header(("location", format!("/v1/tenants/{slug}/consents/{subject}")))
        .insert_header(("idempotency-replayed", "true"))
        .content_type("application/json")
        .body(answer)
}

/// Checks a consent against the tenant's policy, signs and records it;
/// its view.
async fn record_new(
    req: &HttpRequest,
    consent: &ConsentService,
    tenant: &Tenant,
    body: ConsentRequest,
) -> Result<ConsentView, ApiError> {
    let limits = &consent.settings;
    let rules = &tenant.config.consent;
    let page_url = body.page_url.as_deref().and_then(clean_page_url);
    let subject_id = match body.subject_id.as_deref() {
        Some(raw) => parse_subject(raw)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    check_version(rules, &body.policy_version)?;
    let choices = normalise_choices(rules, &body.choices).map_err(ApiError::validation)?;

    let now = consent.clock.now();
    let expires = expires_at(now, rules.validity_months);
    let gpc = req
        .headers()
        .get("sec-gpc")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    let consent_id = uuid::Uuid::now_v7().to_string();
    let claims = ReceiptClaims {
        iss: consent.server.public_url.clone(),
        sub: subject_id.clone(),
        jti: consent_id.clone(),
        iat: now.timestamp(),
        exp: expires.timestamp(),
        tenant: tenant.slug.clone(),
        policy_version: rules.policy_version.clone(),
        choices: choices.clone(),
        gpc,
        policy_sha256: Some(tenant.policy_sha256.clone()),
    };
    let receipt = consent.receipts.sign(&claims)?;
    let ip = client_ip(req, &consent.server);
    let row = ConsentEvent {
        id: consent_id,
        tenant_id: tenant.id.clone(),
        subject_id,
        event: GIVEN.into(),
        policy_version: rules.policy_version.clone(),
        choices: serde_json::to_string(&choices).map_err(ApiError::internal)?,
        gpc,
        at: now.naive_utc(),
        expires_at: Some(expires.naive_utc()),
        ip_pseudonym: ip.map(|ip| ip_pseudonym(&consent.pseudonym, ip)),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| clean_user_agent(ua, limits.user_agent_max)),
        page_url,
        tc_string: body.tc_string,
        receipt: Some(receipt),
    };
    let out = view(&tenant.slug, &row, &rules.policy_version);
    consent.store.record(row).await?;
    consent.recorded.inc();
    Ok(out)
}

/// The subject's consent in force: 404 when none, expired or withdrawn.
#[utoipa::path(
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("subject_id" = String, Path, description = "The visitor's id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The consent in force.", body = ConsentView),
        (status = 404, description = "Unknown tenant, or no consent in force."),
    )
)]
#[get("/consents/{subject_id}")]
pub async fn current(
    consent: web::Data<ConsentService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, subject) = path.into_inner();
    let tenant = consent.tenants.get(&slug)?;
    let subject = parse_subject(&subject)?;
    let now = consent.clock.now().naive_utc();
    let row = consent
        .store
        .latest(&tenant.id, &subject)
        .await?
        .filter(|e| queries::in_force(e, now))
        .ok_or_else(|| ApiError::not_found("No consent is in force for this subject."))?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(view(
            &tenant.slug,
            &row,
            &tenant.config.consent.policy_version,
        )))
}

/// Withdraws the subject's consent; the withdrawal is recorded as an event.
#[utoipa::path(
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("subject_id" = String, Path, description = "The visitor's id.", format = "uuid"),
    ),
    responses(
        (status = 204, description = "Withdrawn."),
        (status = 404, description = "Unknown tenant, or nothing to withdraw."),
    )
)]
#[delete("/consents/{subject_id}")]
pub async fn withdraw(
    req: HttpRequest,
    consent: web::Data<ConsentService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, subject) = path.into_inner();
    let tenant = consent.tenants.get(&slug)?;
    let subject = parse_subject(&subject)?;
    let now = consent.clock.now();
    let pseudonym = client_ip(&req, &consent.server).map(|ip| ip_pseudonym(&consent.pseudonym, ip));
    let withdrawn = consent
        .store
        .withdraw(&tenant.id, &subject, now.naive_utc(), pseudonym)
        .await?;
    if withdrawn.is_none() {
        return Err(ApiError::not_found(
            "No consent is in force for this subject.",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Every event of the subject still kept, oldest first.
#[utoipa::path(
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("subject_id" = String, Path, description = "The visitor's id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The subject's events (empty when none).", body = History),
    )
)]
#[get("/consents/{subject_id}/history")]
pub async fn history(
    consent: web::Data<ConsentService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, subject) = path.into_inner();
    let tenant = consent.tenants.get(&slug)?;
    let subject = parse_subject(&subject)?;
    let limit = consent.settings.history_max;
    let rows = consent.store.history(&tenant.id, &subject, limit).await?;
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
    tag = "consent",
    responses((status = 200, description = "JSON Web Key Set (Ed25519).", body = Object))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(consent: web::Data<ConsentService>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=3600"))
        .json(consent.receipts.jwks())
}

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        match e {
            ConsentError::Invalid(errors) => ApiError::validation(errors),
            ConsentError::StalePolicy { current: version } => ApiError::conflict(
                "stale_policy_version",
                format!(
                    "The consent policy is now at version `{version}`; show the banner again with it."
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
