//! What the DPO does to a request: move it through its life, extend its
//! deadline, write to the requester. Opening its documents is in
//! `opening.rs`.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::error::RightsError;
use super::lifecycle::{allowed, Action, By, Kind, Status};
use super::notify::Notifier;
use super::queue::{detail_of, visible, RequestDetail};
use super::service::RightsService;
use super::store::{self, RequestRow};
use super::{counts, deadline};
use crate::audit::{self, Entry};
use crate::error::{ApiError, Problem};
use crate::http::ValidatedJson;
use crate::staff::Staff;
use crate::tenants::Tenant;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: Status,
    /// A note for the timeline (and the requester's e-mail, when one is sent).
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        length(max = 5000, message = "must be at most 5000 characters"),
        custom(function = "crate::http::plain_text")
    )]
    pub note: Option<String>,
    /// Required (more than white space) to reject: it is sent to the
    /// requester.
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        length(max = 5000, message = "must be at most 5000 characters"),
        custom(function = "crate::http::plain_text")
    )]
    pub reason: Option<String>,
}

/// The tenant of a request (a request of a tenant since removed is no
/// request any more).
fn tenant_of(
    rights: &RightsService,
    row: &RequestRow,
) -> Result<std::sync::Arc<Tenant>, RightsError> {
    rights
        .tenants
        .by_id(&row.tenant_id)
        .ok_or(RightsError::UnknownRequest)
}

/// The request as it is now, held until the change being made commits
/// (`store::lock`).
fn locked(conn: &mut crate::db::DbConnection, id: &str) -> Result<RequestRow, RightsError> {
    store::lock(conn, id)?.ok_or(RightsError::UnknownRequest)
}

/// Moves a request through its life.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "Moved; the request as it is now.", body = RequestDetail),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The life cycle forbids this move from the request's status as it is now (`transition_not_allowed`: also the second of two moves made at once), or a concurrent change got in the way (`concurrent_change`).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A rejection without a reason, or an invalid field.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/dpo/requests/{id}/transitions")]
pub async fn transition(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    body: ValidatedJson<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let row = apply_transition(&rights, &staff, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok().json(detail_of(&rights, row).await?))
}

/// Moves a request the staff member may see, journals the move and queues
/// the requester's e-mail; returns the request as it is now.
pub async fn apply_transition(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: TransitionRequest,
) -> Result<RequestRow, RightsError> {
    let TransitionRequest { to, note, reason } = body;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    let reason = reason
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if to == Status::Rejected && reason.is_none() {
        return Err(RightsError::field(
            "reason",
            "is required to reject a request: it is sent to the requester",
        ));
    }
    let row = visible(rights, staff, id).await?;
    let tenant = tenant_of(rights, &row)?;
    let now = rights.clock.now();
    let (rights2, actor) = (rights.clone(), staff.clone());
    rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // Checked again on the row as it is now, held until the
                // move commits: of two moves at once, the second sees the
                // first's status.
                let mut row = locked(conn, &row.id)?;
                let before = row.clone();
                let from = row.status;
                if !allowed(from, to, By::Staff) {
                    return Err(RightsError::TransitionNotAllowed { from, to });
                }
                let at = now.naive_utc();
                row.status = to;
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
                counts::moved(conn, Some(&before), &row)?;
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::Transition,
                    Some(to),
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
                    state: &rights2,
                    tenant: &tenant,
                };
                match to {
                    Status::AwaitingIdentity => {
                        notifier.identity_requested(conn, &row, note.as_deref(), at)?
                    }
                    Status::Completed => {
                        notifier.completed(conn, &row, note.as_deref(), at)?;
                        if row.kind == Kind::Opposition
                            && row.scope.as_deref() == Some("prospection")
                        {
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
        .await
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// Why more time is needed: sent to the requester.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        length(max = 2000, message = "must be at most 2000 characters"),
        custom(function = "crate::http::not_blank"),
        custom(function = "crate::http::plain_text")
    )]
    pub reason: String,
}

/// Extends the deadline by two months, once, with a reason.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body = ExtensionRequest,
    responses(
        (status = 200, description = "Extended; `due_at` two months later.", body = RequestDetail),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already extended (also by an extension made at the same time), past its due date, or closed (`extension_not_allowed`); or a concurrent change got in the way (`concurrent_change`).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/dpo/requests/{id}/extension")]
pub async fn extend(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    body: ValidatedJson<ExtensionRequest>,
) -> Result<HttpResponse, ApiError> {
    let row = apply_extension(&rights, &staff, path.into_inner(), &body.0.reason).await?;
    Ok(HttpResponse::Ok().json(detail_of(&rights, row).await?))
}

/// Extends a request's deadline by two months, once, with a reason sent to
/// the requester; returns the request as it is now.
pub async fn apply_extension(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    reason: &str,
) -> Result<RequestRow, RightsError> {
    let reason = reason.trim().to_owned();
    let row = visible(rights, staff, id).await?;
    let tenant = tenant_of(rights, &row)?;
    let now = rights.clock.now();
    let (rights2, actor) = (rights.clone(), staff.clone());
    rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // Held until the extension commits: a second one sees it.
                let mut row = locked(conn, &row.id)?;
                deadline::check_extension(row.is_open, row.extended, row.due_at.and_utc(), now)
                    .map_err(RightsError::ExtensionNotAllowed)?;
                let before = row.clone();
                let at = now.naive_utc();
                row.due_at = deadline::extended(row.due_at.and_utc()).naive_utc();
                row.extended = true;
                row.extension_reason = Some(reason.clone());
                row.updated_at = at;
                store::save(conn, &row)?;
                counts::moved(conn, Some(&before), &row)?;
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::Extension,
                    None,
                    Some(serde_json::json!({"reason": reason, "due_at": row.due_at.and_utc()})),
                )?;
                Notifier {
                    state: &rights2,
                    tenant: &tenant,
                }
                .extended(conn, &row, at)?;
                Ok(row)
            })
        })
        .await
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// The text of the e-mail; more than white space.
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        length(max = 5000, message = "must be at most 5000 characters"),
        custom(function = "crate::http::not_blank"),
        custom(function = "crate::http::plain_text")
    )]
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    pub status: &'static str,
}

/// Writes to the requester (by e-mail, from the outbox).
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body = MessageRequest,
    responses(
        (status = 202, description = "Queued for delivery.", body = Queued),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The requester's address was erased (`requester_erased`), or a concurrent change got in the way (`concurrent_change`).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/dpo/requests/{id}/messages")]
pub async fn message(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    body: ValidatedJson<MessageRequest>,
) -> Result<HttpResponse, ApiError> {
    send_message(&rights, &staff, path.into_inner(), &body.0.body).await?;
    Ok(HttpResponse::Accepted().json(Queued { status: "queued" }))
}

/// Writes to the requester of a request the staff member may see: the
/// message is journaled (its length, not its text) and queued for mail.
pub async fn send_message(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: &str,
) -> Result<(), RightsError> {
    let text = body.trim().to_owned();
    let row = visible(rights, staff, id).await?;
    let tenant = tenant_of(rights, &row)?;
    let now = rights.clock.now().naive_utc();
    let (rights2, actor) = (rights.clone(), staff.clone());
    rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // The address as it is now, held until the message is
                // queued: the retention's erasure comes wholly before (then
                // there is no one to write to) or wholly after.
                let row = locked(conn, &row.id)?;
                if row.email.is_none() {
                    return Err(RightsError::RequesterErased);
                }
                store::add_event(
                    conn,
                    &row.id,
                    now,
                    &actor.email,
                    Action::Message,
                    None,
                    Some(serde_json::json!({"length": text.chars().count()})),
                )?;
                Notifier {
                    state: &rights2,
                    tenant: &tenant,
                }
                .message(conn, &row, &text, now)
            })
        })
        .await
}
