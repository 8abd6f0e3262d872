//! The tenant's suppression list, as its newsletter tools ask it: is this
//! address one that objected to prospection? Only a keyed hash of the
//! address is kept and compared, under the pseudonym key and each retired
//! one: a rotation forgets no one.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::ValidateEmail;

use super::service::RightsService;
use super::store;
use crate::error::ApiError;
use crate::privacy::email_pseudonyms;
use crate::staff::Staff;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuppressionQuery {
    /// The address to check.
    #[param(format = "email", max_length = 254)]
    pub email: String,
    /// The tenant whose list to check: required for an account that serves
    /// several (an admin, a shared DPO), and one of those it serves.
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionAnswer {
    /// True when the address objected to prospection: do not write to it.
    pub listed: bool,
}

/// Whether an address is on the tenant's suppression list.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(SuppressionQuery),
    responses(
        (status = 200, description = "The answer.", body = SuppressionAnswer),
        (status = 400, description = "No address given."),
        (status = 404, description = "`tenant` names no tenant the account serves."),
        (status = 422, description = "Not an e-mail address, or an account serving several tenants that names none."),
    )
)]
#[get("/v1/dpo/suppression/check")]
pub async fn suppression_check(
    staff: Staff,
    rights: web::Data<RightsService>,
    query: web::Query<SuppressionQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = staff
        .list_scope(&rights.tenants, query.tenant.as_deref())?
        .single()
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::field(
                "tenant",
                "is required for an account that serves several tenants",
            )
        })?;
    let email = query.email.trim().to_lowercase();
    if email.len() > 254 {
        return Err(ApiError::field("email", "must be at most 254 characters"));
    }
    if !email.validate_email() {
        return Err(ApiError::field("email", "must be an e-mail address"));
    }
    let hashes = email_pseudonyms(rights.pseudonym_keys.iter(), &email);
    let listed = rights
        .db
        .run(move |conn| Ok(store::is_suppressed(conn, &tenant_id, &hashes)?))
        .await?;
    Ok(HttpResponse::Ok().json(SuppressionAnswer { listed }))
}
