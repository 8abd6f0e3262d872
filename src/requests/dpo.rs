//! The DPO's side: the queue, a request in full, moving it through its
//! life, extending its deadline, writing to the requester, opening its
//! documents (journaled), and the suppression list check.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::deadline;
use super::lifecycle::{allowed, next_for_staff, By, Kind, Status};
use super::notify::Notifier;
use super::store::{self, QueueFilter, RequestRow, Sort};
use crate::app::AppState;
use crate::audit::{self, Entry};
use crate::error::{ApiError, Problem};
use crate::http::{ListResponse, PageQuery, ValidatedJson};
use crate::privacy::keyed_hash;
use crate::staff::Staff;
use crate::tenants::Tenant;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Comma-separated statuses.
    #[param(example = "received,in_progress")]
    pub status: Option<String>,
    pub kind: Option<Kind>,
    /// Only requests past their due date.
    pub overdue: Option<bool>,
    /// Reference, name or e-mail (part of).
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// `due_at` (default: open first, most urgent first), `-due_at`,
    /// `received_at`, `-received_at`.
    #[param(pattern = "^-?(due_at|received_at)$")]
    pub sort: Option<String>,
    /// Admins only: one tenant.
    pub tenant: Option<String>,
    #[param(minimum = 1, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueItem {
    pub id: String,
    pub reference: String,
    pub tenant: String,
    pub kind: Kind,
    pub status: Status,
    pub requester_name: String,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    pub extended: bool,
    /// An open request of the same kind from the same address.
    pub duplicate_of: Option<String>,
}

fn name(first: Option<&str>, last: Option<&str>) -> String {
    format!("{} {}", first.unwrap_or(""), last.unwrap_or(""))
        .trim()
        .to_owned()
}

fn slug(state: &AppState, tenant_id: &str) -> String {
    state
        .tenants
        .by_id(tenant_id)
        .map(|t| t.slug.clone())
        .unwrap_or_default()
}

/// The queue, most urgent first.
#[utoipa::path(
    get,
    path = "/v1/dpo/requests",
    tag = "dpo",
    security(("bearer" = [])),
    params(QueueQuery),
    responses(
        (status = 200, description = "Requests.", body = inline(ListResponse<QueueItem>)),
        (status = 400, description = "Malformed query.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter, sort or paging.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn queue(
    staff: Staff,
    state: web::Data<AppState>,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (page, per_page, offset) = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .resolve(state.settings.limits.max_page_size)?;
    let mut statuses = Vec::new();
    for s in q
        .status
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let status = Status::parse(s)
            .ok_or_else(|| ApiError::field("status", format!("`{s}` is not a status")))?;
        statuses.push(status.as_str().to_owned());
    }
    let sort = match q.sort.as_deref() {
        None | Some("due_at") => Sort::Urgency,
        Some("-due_at") => Sort::DueDesc,
        Some("received_at") => Sort::ReceivedAsc,
        Some("-received_at") => Sort::ReceivedDesc,
        Some(_) => {
            return Err(ApiError::field(
                "sort",
                "must be due_at, -due_at, received_at or -received_at",
            ))
        }
    };
    let search =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
    if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::field("q", "must be at most 100 characters"));
    }
    let now = state.clock.now();
    let filter = QueueFilter {
        tenant_id: staff.list_scope(&state, q.tenant.as_deref())?,
        statuses,
        kind: q.kind.map(|k| k.as_str().to_owned()),
        overdue_at: q.overdue.filter(|o| *o).map(|_| now.naive_utc()),
        search,
        sort,
    };
    let (rows, total) = state
        .db
        .run(move |conn| Ok(store::queue(conn, &filter, offset, i64::from(per_page))?))
        .await?;
    let items = rows
        .into_iter()
        .map(|r| QueueItem {
            tenant: slug(&state, &r.tenant_id),
            overdue: deadline::is_overdue(
                r.is_open,
                r.paused_at.is_some(),
                r.due_at.and_utc(),
                now,
            ),
            requester_name: name(r.first_name.as_deref(), r.last_name.as_deref()),
            kind: Kind::parse(&r.kind).unwrap_or(Kind::Access),
            status: Status::parse(&r.status).unwrap_or(Status::Received),
            id: r.id,
            reference: r.reference,
            received_at: r.received_at.and_utc(),
            due_at: r.due_at.and_utc(),
            extended: r.extended,
            duplicate_of: r.duplicate_of,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse {
        items,
        total,
        page,
        per_page,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    /// When the content was destroyed at the end of its retention.
    pub purged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub at: DateTime<Utc>,
    /// `requester`, `system`, or the staff member's e-mail.
    pub actor: String,
    pub action: String,
    pub status: Option<Status>,
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDetail {
    pub id: String,
    pub reference: String,
    pub tenant: String,
    pub kind: Kind,
    pub status: Status,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub postal_address: Option<String>,
    pub details: Option<String>,
    pub scope: Option<String>,
    pub grounds: Option<String>,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    pub extended: bool,
    pub extension_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome_reason: Option<String>,
    pub duplicate_of: Option<String>,
    /// The moves the DPO may make now.
    pub next: Vec<Status>,
    pub documents: Vec<DocumentView>,
    pub events: Vec<EventView>,
}

/// Loads a request the staff member may see; anything else is a 404.
async fn visible(
    state: &web::Data<AppState>,
    staff: &Staff,
    id: String,
) -> Result<RequestRow, ApiError> {
    let row = state
        .db
        .run(move |conn| Ok(store::find(conn, &id)?))
        .await?
        .filter(|r| staff.can_see(&r.tenant_id))
        .ok_or_else(|| ApiError::not_found("No request has this id."))?;
    Ok(row)
}

async fn detail_of(
    state: &web::Data<AppState>,
    row: RequestRow,
) -> Result<RequestDetail, ApiError> {
    let id = row.id.clone();
    let (documents, events) = state
        .db
        .run(move |conn| Ok((store::documents(conn, &id)?, store::timeline(conn, &id)?)))
        .await?;
    let now = state.clock.now();
    let status = Status::parse(&row.status).unwrap_or(Status::Received);
    Ok(RequestDetail {
        tenant: slug(state, &row.tenant_id),
        kind: Kind::parse(&row.kind).unwrap_or(Kind::Access),
        status,
        overdue: deadline::is_overdue(
            row.is_open,
            row.paused_at.is_some(),
            row.due_at.and_utc(),
            now,
        ),
        next: next_for_staff(status),
        documents: documents
            .into_iter()
            .map(|d| DocumentView {
                id: d.id,
                filename: d.filename,
                content_type: d.content_type,
                size: d.size,
                sha256: d.sha256,
                uploaded_at: d.uploaded_at.and_utc(),
                purged_at: d.purged_at.map(|t| t.and_utc()),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventView {
                at: e.at.and_utc(),
                actor: e.actor,
                action: e.action,
                status: e.status.as_deref().and_then(Status::parse),
                detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
            })
            .collect(),
        id: row.id,
        reference: row.reference,
        first_name: row.first_name,
        last_name: row.last_name,
        email: row.email,
        postal_address: row.postal_address,
        details: row.details,
        scope: row.scope,
        grounds: row.grounds,
        received_at: row.received_at.and_utc(),
        due_at: row.due_at.and_utc(),
        extended: row.extended,
        extension_reason: row.extension_reason,
        closed_at: row.closed_at.map(|t| t.and_utc()),
        outcome_reason: row.outcome_reason,
        duplicate_of: row.duplicate_of,
    })
}

/// Everything about a request.
#[utoipa::path(
    get,
    path = "/v1/dpo/requests/{id}",
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.")),
    responses(
        (status = 200, description = "The request, its documents and its timeline.", body = RequestDetail),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request (or another tenant's).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn detail(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = visible(&state, &staff, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(detail_of(&state, row).await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: Status,
    /// A note for the timeline (and the requester's e-mail, when one is sent).
    #[schema(max_length = 5000)]
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub note: Option<String>,
    /// Required to reject: it is sent to the requester.
    #[schema(max_length = 5000)]
    #[validate(length(max = 5000, message = "must be at most 5000 characters"))]
    pub reason: Option<String>,
}

fn tenant_of(state: &AppState, row: &RequestRow) -> Result<std::sync::Arc<Tenant>, ApiError> {
    state
        .tenants
        .by_id(&row.tenant_id)
        .ok_or_else(|| ApiError::not_found("No request has this id."))
}

/// Moves a request through its life.
#[utoipa::path(
    post,
    path = "/v1/dpo/requests/{id}/transitions",
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.")),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "Moved; the request as it is now.", body = RequestDetail),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The life cycle forbids this move.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rejection without a reason, or an invalid field.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transition(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidatedJson<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let TransitionRequest { to, note, reason } = body.0;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    let reason = reason
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if to == Status::Rejected && reason.is_none() {
        return Err(ApiError::field(
            "reason",
            "is required to reject a request: it is sent to the requester",
        ));
    }
    let row = visible(&state, &staff, path.into_inner()).await?;
    let tenant = tenant_of(&state, &row)?;
    let now = state.clock.now();
    let (state2, actor) = (state.clone(), staff.clone());
    let row = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let mut row = store::find(conn, &row.id)?
                    .ok_or_else(|| ApiError::not_found("No request has this id."))?;
                let from = Status::parse(&row.status).unwrap_or(Status::Received);
                if !allowed(from, to, By::Staff) {
                    return Err(ApiError::conflict(
                        "transition_not_allowed",
                        format!(
                            "A request {} cannot move to {}.",
                            from.as_str(),
                            to.as_str()
                        ),
                    ));
                }
                let at = now.naive_utc();
                row.status = to.as_str().into();
                row.updated_at = at;
                match to {
                    Status::AwaitingIdentity => row.paused_at = Some(at),
                    Status::Completed | Status::Rejected => {
                        if let Some(paused) = row.paused_at.take() {
                            row.due_at =
                                deadline::resume(row.due_at.and_utc(), paused.and_utc(), now)
                                    .naive_utc();
                        }
                        row.is_open = false;
                        row.closed_at = Some(at);
                        row.outcome_reason = reason.clone();
                    }
                    _ => {}
                }
                store::save(conn, &row)?;
                store::count_move(
                    conn,
                    &row.tenant_id,
                    &row.kind,
                    Some(from.as_str()),
                    to.as_str(),
                )?;
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    "transition",
                    Some(to.as_str()),
                    Some(
                        serde_json::json!({"from": from.as_str(), "note": note, "reason": reason}),
                    ),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_TRANSITIONED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.id),
                        detail: Some(serde_json::json!({"from": from.as_str(), "to": to.as_str()})),
                        ..Default::default()
                    },
                    at,
                )?;
                let notifier = Notifier {
                    state: &state2,
                    tenant: &tenant,
                };
                match to {
                    Status::AwaitingIdentity => {
                        notifier.identity_requested(conn, &row, note.as_deref(), at)?
                    }
                    Status::Completed => {
                        notifier.completed(conn, &row, note.as_deref(), at)?;
                        if row.kind == "opposition" && row.scope.as_deref() == Some("prospection") {
                            if let Some(hash) = row.email_hash.as_deref() {
                                store::suppress(conn, &row.tenant_id, hash, &row.id, at)?;
                            }
                        }
                    }
                    Status::Rejected => notifier.rejected(conn, &row, at)?,
                    _ => {}
                }
                Ok(row)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail_of(&state, row).await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// Why more time is needed: sent to the requester.
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(
        length(max = 2000, message = "must be at most 2000 characters"),
        custom(function = "crate::http::not_blank")
    )]
    pub reason: String,
}

/// Extends the deadline by two months, once, with a reason.
#[utoipa::path(
    post,
    path = "/v1/dpo/requests/{id}/extension",
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.")),
    request_body = ExtensionRequest,
    responses(
        (status = 200, description = "Extended; `due_at` two months later.", body = RequestDetail),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already extended, past its due date, or closed.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn extend(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidatedJson<ExtensionRequest>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.0.reason.trim().to_owned();
    let row = visible(&state, &staff, path.into_inner()).await?;
    let tenant = tenant_of(&state, &row)?;
    let now = state.clock.now();
    let (state2, actor) = (state.clone(), staff.clone());
    let row = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let mut row = store::find(conn, &row.id)?
                    .ok_or_else(|| ApiError::not_found("No request has this id."))?;
                deadline::check_extension(row.is_open, row.extended, row.due_at.and_utc(), now)
                    .map_err(|why| ApiError::conflict("extension_not_allowed", why))?;
                let at = now.naive_utc();
                row.due_at = deadline::extended(row.due_at.and_utc()).naive_utc();
                row.extended = true;
                row.extension_reason = Some(reason.clone());
                row.updated_at = at;
                store::save(conn, &row)?;
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    "extension",
                    None,
                    Some(serde_json::json!({"reason": reason, "due_at": row.due_at.and_utc()})),
                )?;
                Notifier {
                    state: &state2,
                    tenant: &tenant,
                }
                .extended(conn, &row, at)?;
                Ok(row)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail_of(&state, row).await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    #[schema(min_length = 1, max_length = 5000)]
    #[validate(
        length(max = 5000, message = "must be at most 5000 characters"),
        custom(function = "crate::http::not_blank")
    )]
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    pub status: &'static str,
}

/// Writes to the requester (by e-mail, from the outbox).
#[utoipa::path(
    post,
    path = "/v1/dpo/requests/{id}/messages",
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.")),
    request_body = MessageRequest,
    responses(
        (status = 202, description = "Queued for delivery.", body = Queued),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The requester's address was erased.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn message(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidatedJson<MessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let text = body.0.body.trim().to_owned();
    let row = visible(&state, &staff, path.into_inner()).await?;
    if row.email.is_none() {
        return Err(ApiError::conflict(
            "requester_erased",
            "The requester's address is no longer kept.",
        ));
    }
    let tenant = tenant_of(&state, &row)?;
    let now = state.clock.now().naive_utc();
    let (state2, actor) = (state.clone(), staff.clone());
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                store::add_event(
                    conn,
                    &row.id,
                    now,
                    &actor.email,
                    "message",
                    None,
                    Some(serde_json::json!({"length": text.chars().count()})),
                )?;
                Notifier {
                    state: &state2,
                    tenant: &tenant,
                }
                .message(conn, &row, &text, now)
            })
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Queued { status: "queued" }))
}

/// The original bytes of an identity document; every opening is journaled.
#[utoipa::path(
    get,
    path = "/v1/dpo/requests/{id}/documents/{document_id}",
    tag = "dpo",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Request id."),
        ("document_id" = String, Path, description = "Document id."),
    ),
    responses(
        (status = 200, description = "The document, with its content type.", content_type = "application/octet-stream"),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request or document.", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Destroyed at the end of its retention.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn document(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, document_id) = path.into_inner();
    let row = visible(&state, &staff, id).await?;
    let now = state.clock.now().naive_utc();
    let (request_id, tenant_id, actor) = (row.id.clone(), row.tenant_id.clone(), staff.clone());
    let doc = state
        .db
        .run(move |conn| {
            let doc = store::document(conn, &request_id, &document_id)?
                .ok_or_else(|| ApiError::not_found("No document has this id."))?;
            if doc.ciphertext.is_none() {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::GONE,
                    "document_purged",
                    "This document was destroyed at the end of its retention period.",
                ));
            }
            crate::db::write_transaction(conn, |conn| {
                store::add_event(
                    conn,
                    &request_id,
                    now,
                    &actor.email,
                    "document_opened",
                    None,
                    Some(serde_json::json!({"document": doc.id})),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&tenant_id),
                        kind: audit::kind::DOCUMENT_OPENED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&doc.id),
                        detail: Some(serde_json::json!({"request": request_id})),
                        ..Default::default()
                    },
                    now,
                )
            })?;
            Ok(doc)
        })
        .await?;
    let state2 = state.clone();
    let (content_type, filename) = (doc.content_type.clone(), doc.filename.clone());
    let bytes = actix_web::rt::task::spawn_blocking(move || {
        let mut bytes = doc.ciphertext.unwrap_or_default();
        state2
            .documents
            .open(&doc.id, &doc.key_id, &doc.nonce, &mut bytes)
            .map(|()| bytes)
    })
    .await
    .map_err(|e| ApiError::internal(anyhow::anyhow!("decryption task failed: {e}")))?
    .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{ascii}\""),
        ))
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(bytes))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuppressionQuery {
    /// The address to check.
    #[param(format = "email", max_length = 254)]
    pub email: String,
    /// Admins only: the tenant whose list to check.
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionAnswer {
    /// True when the address objected to prospection: do not write to it.
    pub listed: bool,
}

/// Whether an address is on the tenant's suppression list.
#[utoipa::path(
    get,
    path = "/v1/dpo/suppression/check",
    tag = "dpo",
    security(("bearer" = [])),
    params(SuppressionQuery),
    responses(
        (status = 200, description = "The answer.", body = SuppressionAnswer),
        (status = 400, description = "No address given.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An admin must name the tenant.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn suppression_check(
    staff: Staff,
    state: web::Data<AppState>,
    query: web::Query<SuppressionQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = staff
        .list_scope(&state, query.tenant.as_deref())?
        .ok_or_else(|| ApiError::field("tenant", "is required for an admin"))?;
    let email = query.email.trim().to_lowercase();
    if email.len() > 254 {
        return Err(ApiError::field("email", "must be at most 254 characters"));
    }
    let hash = keyed_hash(&state.secrets.pseudonym, "email", email.as_bytes());
    let listed = state
        .db
        .run(move |conn| Ok(store::is_suppressed(conn, &tenant_id, &hash)?))
        .await?;
    Ok(HttpResponse::Ok().json(SuppressionAnswer { listed }))
}
