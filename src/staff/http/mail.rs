//! `GET /v1/admin/mail`: admins look at the outbox (`mail::admin`).

use actix_web::{get, web, HttpResponse};

use super::auth::Staff;
use crate::error::ApiError;
use crate::http::{ListResponse, PageQuery};
use crate::mail::admin::{self, MailItem, MailQuery};
use crate::staff::StaffService;

/// Lists queued, sent or dead messages.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(MailQuery),
    responses(
        (status = 200, description = "Messages, newest first.", body = inline(ListResponse<MailItem>)),
        (status = 422, description = "Unknown status or invalid paging."),
    )
)]
#[get("/v1/admin/mail")]
pub async fn list(
    staff: Staff,
    state: web::Data<StaffService>,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require_admin()?;
    let (page, per_page, offset) = PageQuery {
        page: query.page,
        per_page: query.per_page,
    }
    .resolve(&state.limits)?;
    let status = query.status()?;
    let tenants = state.tenants.clone();
    let (items, total) = state
        .db
        .run(move |conn| {
            Ok(admin::page(
                conn,
                &tenants,
                status,
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
