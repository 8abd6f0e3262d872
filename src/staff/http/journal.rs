//! `GET /v1/dpo/audit`: the connection journal and the staff actions of the
//! caller's tenants (every tenant for an admin), each naming its tenant.

use actix_web::{get, web, HttpResponse};

use super::auth::Staff;
use crate::audit::{self, AuditItem, AuditQuery, Filter};
use crate::error::ApiError;
use crate::http::{check_instant, ListResponse, PageQuery};
use crate::staff::StaffService;

/// Lists connections and staff actions, newest first.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries, newest first.", body = inline(ListResponse<AuditItem>)),
        (status = 404, description = "`tenant` names no tenant the account serves."),
        (status = 422, description = "Invalid filter or paging, or an instant outside 2000-01-01 to 2199-12-31."),
    )
)]
#[get("/v1/dpo/audit")]
pub async fn list(
    staff: Staff,
    state: web::Data<StaffService>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (page, per_page, offset) = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .resolve(&state.limits)?;
    if let Some(kind) = &q.kind {
        let ok = (1..=64).contains(&kind.len())
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.');
        if !ok {
            return Err(ApiError::field(
                "kind",
                "must be a kind such as `login` or `login.failure`",
            ));
        }
    }
    check_instant("from", q.from)?;
    check_instant("to", q.to)?;
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from > to {
            return Err(ApiError::field("from", "must not be after `to`"));
        }
    }
    let filter = Filter {
        tenant_ids: staff
            .list_scope(&state.tenants, q.tenant.as_deref())?
            .to_ids(),
        from: q.from.map(|t| t.naive_utc()),
        to: q.to.map(|t| t.naive_utc()),
        kind: q.kind,
    };
    let tenants = state.tenants.clone();
    let (items, total) = state
        .db
        .run(move |conn| {
            let slug_of = |id: &str| tenants.slug_of(Some(id));
            audit::list(conn, &filter, slug_of, offset, i64::from(per_page))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        total,
        page,
        per_page,
    }))
}
