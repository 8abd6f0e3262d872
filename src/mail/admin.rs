//! `GET /v1/admin/mail`: the outbox as operators see it, dead messages
//! first among their worries. Recipients are masked.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::outbox::{self, OutboxRow};
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::http::{ListResponse, PageQuery};
use crate::staff::Staff;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailQuery {
    /// `pending`, `sent` or `dead`; every message when absent.
    #[param(pattern = "^(pending|sent|dead)$")]
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailItem {
    pub id: String,
    pub message_id: String,
    pub template: String,
    pub tenant: Option<String>,
    /// The recipient, masked (`j***@example.fr`).
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

fn item(state: &AppState, r: OutboxRow) -> MailItem {
    MailItem {
        tenant: state.tenants.slug_of(r.tenant_id.as_deref()),
        recipient: mask(&r.recipient),
        id: r.id,
        message_id: r.message_id,
        template: r.template,
        status: r.status,
        attempts: r.attempts,
        next_attempt_at: r.next_attempt_at.and_utc(),
        last_error: r.last_error,
        created_at: r.created_at.and_utc(),
        sent_at: r.sent_at.map(|t| t.and_utc()),
    }
}

/// Lists queued, sent or dead messages.
#[utoipa::path(
    get,
    path = "/v1/admin/mail",
    tag = "admin",
    security(("bearer" = [])),
    params(MailQuery),
    responses(
        (status = 200, description = "Messages, newest first.", body = inline(ListResponse<MailItem>)),
        (status = 400, description = "Malformed query.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status or invalid paging.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    staff: Staff,
    state: web::Data<AppState>,
    query: web::Query<MailQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require_admin()?;
    let (page, per_page, offset) = PageQuery {
        page: query.page,
        per_page: query.per_page,
    }
    .resolve(&state.settings.limits)?;
    let status = query.status.clone();
    if let Some(s) = &status {
        if ![outbox::PENDING, outbox::SENT, outbox::DEAD].contains(&s.as_str()) {
            return Err(ApiError::field("status", "must be pending, sent or dead"));
        }
    }
    let (rows, total) = state
        .db
        .run(move |conn| {
            Ok(outbox::list(
                conn,
                status.as_deref(),
                offset,
                i64::from(per_page),
            )?)
        })
        .await?;
    let items = rows.into_iter().map(|r| item(&state, r)).collect();
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        total,
        page,
        per_page,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn recipients_are_masked() {
        assert_eq!(super::mask("jean.dupont@example.fr"), "j***@example.fr");
        assert_eq!(super::mask("nobody"), "***");
    }
}
