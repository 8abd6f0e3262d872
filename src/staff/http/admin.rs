//! `/v1/admin/users`: platform admins manage staff accounts over HTTP.

use actix_web::{get, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Staff;
use crate::audit::{self, kind};
use crate::db::write_transaction;
use crate::error::ApiError;
use crate::http::{JsonBody, ListResponse, PageQuery};
use crate::staff::accounts::{self, NewStaff, Role, StaffView};
use crate::staff::tenancy::{self, TenantsChange};
use crate::staff::StaffService;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Only the accounts that serve this tenant (slug).
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

/// Lists staff accounts.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(UsersQuery),
    responses(
        (status = 200, description = "Accounts, by e-mail.", body = inline(ListResponse<StaffView>)),
    )
)]
#[get("/v1/admin/users")]
pub async fn list_users(
    staff: Staff,
    state: web::Data<StaffService>,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require_admin()?;
    let (page, per_page, offset) = PageQuery {
        page: query.page,
        per_page: query.per_page,
    }
    .resolve(&state.limits)?;
    let tenant_id = match &query.tenant {
        Some(slug) => Some(state.tenants.get(slug)?.id.clone()),
        None => None,
    };
    let now = state.clock.now().naive_utc();
    let (rows, total) = state
        .db
        .run(move |conn| {
            Ok(accounts::list(
                conn,
                tenant_id.as_deref(),
                offset,
                i64::from(per_page),
            )?)
        })
        .await?;
    let items = rows
        .into_iter()
        .map(|(row, slugs)| StaffView::new(row, slugs, now))
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        total,
        page,
        per_page,
    }))
}

/// Creates a staff account.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = NewStaff,
    responses(
        (status = 201, description = "Created.", body = StaffView),
        (status = 400, description = "Malformed body."),
        (status = 409, description = "E-mail address already used."),
        (status = 422, description = "Invalid fields (weak password, an unknown tenant in `tenant` or `tenants[i]`, a DPO without a tenant…); nothing is created."),
    )
)]
#[post("/v1/admin/users")]
pub async fn create_user(
    staff: Staff,
    state: web::Data<StaffService>,
    body: JsonBody<NewStaff>,
) -> Result<HttpResponse, ApiError> {
    staff.require_admin()?;
    let input = body.0;
    let tenant_ids = input.check(&state.tenants, state.auth.min_password_length)?;
    let slugs = slugs_of(&state, &tenant_ids);
    let journaled = slugs.clone();
    let hash = state.hasher.hash(input.password.clone()).await?;
    let now = state.clock.now().naive_utc();
    let actor = staff.id.clone();
    let row = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let row = accounts::insert(conn, &input, tenant_ids, hash, now)?;
                audit::record(
                    conn,
                    audit::Entry {
                        tenant_id: row.tenant_id.as_deref(),
                        kind: kind::USER_CREATED,
                        actor_id: Some(&actor),
                        subject_id: Some(&row.id),
                        detail: Some(serde_json::json!({"role": row.role, "tenants": journaled})),
                        ..Default::default()
                    },
                    now,
                )?;
                Ok(row)
            })
        })
        .await?;
    let location = format!("/v1/admin/users/{}", row.id);
    Ok(HttpResponse::Created()
        .insert_header(("location", location))
        .json(StaffView::new(row, slugs, now)))
}

/// The slugs of tenants given by id, in order.
fn slugs_of(state: &StaffService, ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| state.tenants.slug_of(Some(id)))
        .collect()
}

/// An account, by an id taken from the path (anything but a UUID names
/// none), or 404.
fn account(conn: &mut crate::db::DbConnection, id: &str) -> Result<accounts::StaffRow, ApiError> {
    uuid::Uuid::parse_str(id)
        .ok()
        .map(|_| accounts::find(conn, id))
        .transpose()?
        .flatten()
        .ok_or_else(|| ApiError::not_found("No staff account has this id."))
}

/// Replaces the tenants an account serves (the first becomes its primary
/// tenant). Its requests, statistics and digest follow at once; its
/// sessions end only if its primary tenant changes.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id.", format = "uuid")),
    request_body = TenantsChange,
    responses(
        (status = 200, description = "The account, with its tenants.", body = StaffView),
        (status = 400, description = "Malformed body."),
        (status = 404, description = "No such account."),
        (status = 422, description = "An unknown tenant (`tenants[i]`), or no tenant for a DPO; nothing is changed."),
    )
)]
#[put("/v1/admin/users/{id}/tenants")]
pub async fn set_tenants(
    staff: Staff,
    state: web::Data<StaffService>,
    path: web::Path<String>,
    body: JsonBody<TenantsChange>,
) -> Result<HttpResponse, ApiError> {
    staff.require_admin()?;
    let id = path.into_inner();
    let change = body.0;
    let now = state.clock.now().naive_utc();
    let actor = staff.id.clone();
    let tenants = state.tenants.clone();
    let (row, slugs) = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let row = account(conn, &id)?;
                let role = Role::parse(&row.role).unwrap_or(Role::Dpo);
                let ids = change.check(&tenants, role)?;
                tenancy::set_tenants(conn, &row.id, &ids, now)?;
                let slugs: Vec<String> = ids
                    .iter()
                    .filter_map(|t| tenants.slug_of(Some(t)))
                    .collect();
                audit::record(
                    conn,
                    audit::Entry {
                        tenant_id: ids.first().map(String::as_str),
                        kind: kind::USER_TENANTS_CHANGED,
                        actor_id: Some(&actor),
                        subject_id: Some(&row.id),
                        detail: Some(serde_json::json!({"tenants": slugs})),
                        ..Default::default()
                    },
                    now,
                )?;
                let row = account(conn, &row.id)?;
                Ok((row, slugs))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(StaffView::new(row, slugs, now)))
}

/// Disables a staff account: it can no longer sign in, and its tokens stop
/// working at once.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id.", format = "uuid")),
    responses(
        (status = 200, description = "Disabled.", body = StaffView),
        (status = 404, description = "No such account."),
        (status = 409, description = "An admin cannot disable their own account."),
    )
)]
#[post("/v1/admin/users/{id}/disable")]
pub async fn disable_user(
    staff: Staff,
    state: web::Data<StaffService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    staff.require_admin()?;
    let id = path.into_inner();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::not_found("No staff account has this id."));
    }
    if id == staff.id {
        return Err(ApiError::conflict(
            "cannot_disable_self",
            "An admin cannot disable their own account.",
        ));
    }
    let now = state.clock.now().naive_utc();
    let actor = staff.id.clone();
    let (row, slugs) = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let row = account(conn, &id)?;
                accounts::set_disabled(conn, &row.id, true, now)?;
                audit::record(
                    conn,
                    audit::Entry {
                        tenant_id: row.tenant_id.as_deref(),
                        kind: kind::USER_DISABLED,
                        actor_id: Some(&actor),
                        subject_id: Some(&row.id),
                        ..Default::default()
                    },
                    now,
                )?;
                Ok((
                    account(conn, &row.id)?,
                    tenancy::tenant_slugs(conn, &row.id)?,
                ))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(StaffView::new(row, slugs, now)))
}
