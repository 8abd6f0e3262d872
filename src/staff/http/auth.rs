//! The `Staff` extractor: every `/v1/dpo/*` and `/v1/admin/*` handler takes
//! one, so no such route answers without a valid token of an enabled user,
//! issued since the account's last password change or disabling, and not
//! signed out. It also says which tenants a list shows (`Staff::list_scope`,
//! refused as a [`ScopeRefused`] that each capability tells in its terms).

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::error::{ApiError, FieldError};
use crate::staff::accounts::{self, Role};
use crate::staff::{revoked, token, StaffError, StaffService};
use crate::tenants::{Scope, Tenants, UnknownTenant};

/// Why the tenant a list was asked for is refused (`Staff::list_scope`).
#[derive(Debug, thiserror::Error)]
pub enum ScopeRefused {
    /// Not a slug at all, whoever asks: the field at fault.
    #[error("{}: {}", .0.field, .0.message)]
    NotASlug(FieldError),
    #[error(transparent)]
    Unknown(#[from] UnknownTenant),
    /// A referent lists nothing by tenant: only what is assigned to it.
    #[error("a referent sees only the requests assigned to it")]
    Referent,
}

impl From<ScopeRefused> for ApiError {
    fn from(e: ScopeRefused) -> Self {
        match e {
            ScopeRefused::NotASlug(field) => field.into(),
            ScopeRefused::Unknown(tenant) => tenant.into(),
            ScopeRefused::Referent => {
                ApiError::forbidden("A referent sees only the requests assigned to it.")
            }
        }
    }
}

/// The authenticated staff member making the request.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The account's first (primary) tenant.
    pub tenant_id: Option<String>,
    /// Every tenant the account serves, the primary first.
    pub tenant_ids: Vec<String>,
}

impl Staff {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn is_referent(&self) -> bool {
        self.role == Role::Referent
    }

    /// Whether this member may see and act on a resource of `tenant_id`.
    /// A DPO asking for the resource of a tenant it does not serve must be
    /// answered 404, as if it did not exist. A referent sees none by its
    /// tenants, only the requests assigned to it (`rights::referents`).
    pub fn can_see(&self, tenant_id: &str) -> bool {
        self.is_admin()
            || (self.role == Role::Dpo && self.tenant_ids.iter().any(|t| t == tenant_id))
    }

    /// Whether the account serves more than one tenant (an admin serves
    /// every one): its lists then name each row's tenant and offer a choice.
    pub fn serves_several(&self) -> bool {
        self.is_admin() || self.tenant_ids.len() > 1
    }

    /// The tenant of an account that serves exactly one (not an admin).
    pub fn sole_tenant(&self) -> Option<&str> {
        match self.tenant_ids.as_slice() {
            [one] if !self.is_admin() => Some(one),
            _ => None,
        }
    }

    /// The tenants whose data a list shows: every one for an admin, those
    /// a DPO serves; narrowed to the one asked for (by slug), which must be
    /// one of them: another is refused as unknown (404). A slug that cannot
    /// be one is refused whoever asks.
    pub fn list_scope(
        &self,
        tenants: &Tenants,
        asked: Option<&str>,
    ) -> Result<Scope, ScopeRefused> {
        if asked.is_some_and(|slug| !crate::tenants::is_valid_slug(slug)) {
            return Err(ScopeRefused::NotASlug(FieldError {
                field: "tenant".into(),
                message: "must be a tenant's slug: 2 to 40 characters among a-z, 0-9 and -".into(),
            }));
        }
        if self.is_referent() {
            return Err(ScopeRefused::Referent);
        }
        match asked {
            None if self.is_admin() => Ok(Scope::Every),
            None => Ok(Scope::Only(self.tenant_ids.clone())),
            Some(slug) => {
                let tenant = tenants.get(slug)?;
                if !self.can_see(&tenant.id) {
                    return Err(UnknownTenant(slug.to_owned()).into());
                }
                Ok(Scope::Only(vec![tenant.id.clone()]))
            }
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("This action needs the admin role."))
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let service = req.app_data::<web::Data<StaffService>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let service =
                service.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no staff service")))?;
            let token = token.ok_or(StaffError::BadToken)?;
            Ok(from_token(&service, &token).await?.0)
        })
    }
}

/// The enabled staff member a token names, and the token's claims (the
/// console's session cookie carries the same token).
pub async fn from_token(
    service: &StaffService,
    token: &str,
) -> Result<(Staff, token::Claims), ApiError> {
    let claims = token::verify(&service.secrets.jwt, token, service.clock.now())?;
    let (id, jti) = (claims.sub.clone(), claims.jti.clone());
    let (row, signed_out, tenant_ids) = service
        .db
        .run(move |conn| {
            Ok((
                accounts::find(conn, &id)?,
                revoked::is_revoked(conn, &jti)?,
                crate::staff::tenancy::tenants_of(conn, &id)?,
            ))
        })
        .await?;
    let row = row
        .filter(|r| !r.disabled && r.token_generation == claims.gen && !signed_out)
        .ok_or(StaffError::BadToken)?;
    // The role and tenant are read from the account, not trusted from the
    // token: a change takes effect at once, and a token whose claims no
    // longer match the account (or were rewritten) is refused.
    let role = Role::parse(&row.role).ok_or(StaffError::BadToken)?;
    let tenant = service.tenants.slug_of(row.tenant_id.as_deref());
    if claims.role != role.as_str() || claims.tenant != tenant {
        return Err(StaffError::BadToken.into());
    }
    Ok((
        Staff {
            id: row.id,
            email: row.email,
            role,
            tenant_id: row.tenant_id,
            tenant_ids,
        },
        claims,
    ))
}
