//! What a banner reads on a page's load, in one round trip (the policy, the
//! visitor's consent in force, whether to ask), and the public list of the
//! policies a tenant has served, each with the SHA-256 its receipts carry.

use actix_web::{get, web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use super::queries;
use super::service::ConsentService;
use super::views::{
    parse_subject, view, ConsentState, ConsentStateBody, PolicyVersion, PolicyVersions,
};
use crate::db::schema::consent_policy_versions as versions;
use crate::db::DbError;
use crate::error::ApiError;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// The visitor's id, when the banner has one (none on a first visit).
    #[param(format = "uuid")]
    pub subject_id: Option<String>,
}

/// The policy, the visitor's consent in force and whether the banner must
/// ask: always 200, a first visit included. Without `subject_id` the answer
/// is the same for every visitor and may be cached.
#[utoipa::path(
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        StateQuery,
    ),
    responses(
        (status = 200, description = "The policy, the consent in force (or null) and `needs_consent`.", body = ConsentState),
        (status = 404, description = "Unknown tenant."),
        (status = 422, description = "`subject_id` is not a UUID."),
    )
)]
#[get("/consent-state")]
pub async fn consent_state(
    consent: web::Data<ConsentService>,
    path: web::Path<String>,
    query: web::Query<StateQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = consent.tenants.get(&path)?;
    let policy = consent.policies.get(&tenant);
    let Some(raw) = query.subject_id.as_deref() else {
        return Ok(HttpResponse::Ok()
            .insert_header(("cache-control", "public, max-age=300"))
            .json(ConsentStateBody {
                policy: &policy.json,
                current: None,
                needs_consent: true,
            }));
    };
    let subject = parse_subject(raw)?;
    let now = consent.clock.now().naive_utc();
    let current = consent
        .store
        .latest(&tenant.id, &subject)
        .await?
        .filter(|e| queries::in_force(e, now))
        .map(|row| view(&tenant.slug, &row, &policy.policy_version));
    let needs_consent = !current.as_ref().is_some_and(|c| c.policy_current);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "private, no-store"))
        .json(ConsentStateBody {
            policy: &policy.json,
            current,
            needs_consent,
        }))
}

/// Every consent policy the tenant has served, oldest first, with its
/// validity and the SHA-256 of its canonical JSON: the public proof of what
/// each consent was asked against.
#[utoipa::path(
    tag = "consent",
    params(("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$")),
    responses(
        (status = 200, description = "The versions served.", body = PolicyVersions),
        (status = 404, description = "Unknown tenant."),
    )
)]
#[get("/consent-policy/versions")]
pub async fn policy_versions(
    consent: web::Data<ConsentService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = consent.tenants.get(&path)?;
    let id = tenant.id.clone();
    let rows = consent
        .db
        .run_as(move |conn| {
            versions::table
                .filter(versions::tenant_id.eq(&id))
                .order((versions::valid_from.asc(), versions::id.asc()))
                .select((
                    versions::policy_version,
                    versions::valid_from,
                    versions::valid_to,
                    versions::sha256,
                    versions::policy,
                ))
                .load::<(
                    String,
                    chrono::NaiveDateTime,
                    Option<chrono::NaiveDateTime>,
                    String,
                    String,
                )>(conn)
                .map_err(|e| ApiError::from(DbError::from(e)))
        })
        .await?;
    let items = rows
        .into_iter()
        .map(|(policy_version, from, to, sha256, policy)| PolicyVersion {
            policy_version,
            valid_from: from.and_utc(),
            valid_to: to.map(|t| t.and_utc()),
            sha256,
            policy,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(PolicyVersions {
            tenant: tenant.slug.clone(),
            items,
        }))
}
