//! `GET /v1/dpo/retention/runs`: staff read the record of the sweeps; and
//! the problem+json answer of each [`RetentionError`].

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};

use super::runs::{self, RunItem, RunsQuery};
use super::RetentionError;
use crate::config::LimitSettings;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::{ListResponse, PageQuery};
use crate::staff::Staff;
use crate::tenants::{Scope, Tenants};

/// What the retention routes need.
#[derive(Clone)]
pub struct RetentionService {
    pub db: Db,
    pub tenants: Tenants,
    pub limits: LimitSettings,
}

impl From<RetentionError> for ApiError {
    fn from(e: RetentionError) -> Self {
        match e {
            RetentionError::UnknownTenant(slug) => {
                ApiError::not_found(format!("No tenant is named `{slug}`."))
            }
            RetentionError::Failed(told) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "sweep_failed", told)
            }
            RetentionError::Database(e) => e.into(),
            RetentionError::Connection(e) => e.into(),
        }
    }
}

/// The tenants of a scope as (id, slug); `None` for every tenant.
pub fn named(tenants: &Tenants, scope: &Scope) -> Option<Vec<(String, String)>> {
    scope.ids().map(|ids| {
        ids.iter()
            .map(|id| (id.clone(), tenants.slug_of(Some(id)).unwrap_or_default()))
            .collect()
    })
}

/// The retention's route, with its OpenAPI description (`openapi::routes`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_runs);
}

/// The retention sweeps, newest first, with what each removed.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(RunsQuery),
    responses(
        (status = 200, description = "Sweeps, newest first; a DPO sees its tenants' counts only.", body = inline(ListResponse<RunItem>)),
        (status = 404, description = "`tenant` names no tenant the account serves."),
    )
)]
#[get("/v1/dpo/retention/runs")]
pub async fn list_runs(
    staff: Staff,
    state: web::Data<RetentionService>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (page, per_page, offset) = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .resolve(&state.limits)?;
    let scope = named(
        &state.tenants,
        &staff.list_scope(&state.tenants, q.tenant.as_deref())?,
    );
    let tenants = state.tenants.clone();
    let (items, total) = state
        .db
        .run(move |conn| {
            Ok(runs::list(
                conn,
                scope.as_deref(),
                |id| tenants.slug_of(Some(id)),
                offset,
                i64::from(per_page),
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        total,
        page,
        per_page,
    }))
}
