//! What the DPO does to a request: move it through its life, extend its
//! deadline, write to the requester. A closing note, a rejection's reason
//! and a message are answers, kept with their attachments (`messages`),
//! read from JSON or a multipart form (`answer_form`). Opening its
//! documents is in `opening.rs`, its attachments in `downloads.rs`.
//!
//! (Over 400 lines: the three changes the DPO makes to a request, each a
//! handler and the function the console calls too, with the rules of its
//! body; split, they would part the one transaction pattern they share.)

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::answer_form::{self, check_length, MessageForm, TransitionForm};
use super::error::RightsError;
use super::intake::Upload;
use super::lifecycle::{allowed, Action, By, Kind, MessageKind, Role, Status};
use super::messages::{self, MessageView, Outgoing};
use super::notify::Notifier;
use super::queue::{detail_of, visible, RequestDetail};
use super::sealing::seal_files;
use super::service::RightsService;
use super::store::{self, RequestRow};
use super::{counts, deadline};
use crate::audit::{self, Entry};
use crate::error::ApiError;
use crate::http::ValidatedJson;
use crate::staff::Staff;
use crate::tenants::Tenant;

/// The text fields of a move sent as a form.
const TRANSITION_FIELDS: &[&str] = &["to", "note", "reason"];
/// The text field of a message sent as a form.
const MESSAGE_FIELDS: &[&str] = &["body"];

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: Status,
    /// A note for the timeline. Moving to `completed`, the closing note:
    /// an answer kept and shown to the requester on the tracking page;
    /// moving to `awaiting_identity`, why a document is asked for. At most
    /// `requests.message_max_chars` characters (refused beyond, never cut).
    #[schema(
        max_length = 50000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(custom(function = "crate::http::plain_text"))]
    pub note: Option<String>,
    /// Required (more than white space) to reject: an answer kept and shown
    /// to the requester on the tracking page. At most
    /// `requests.message_max_chars` characters.
    #[schema(
        max_length = 50000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(custom(function = "crate::http::plain_text"))]
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
    request_body(
        description = "The move as JSON; or as a multipart form, with the files of its closing note (to `completed`, with a `note`) or of its rejection's reason (`attachment` file parts).",
        content(
            (TransitionRequest = "application/json"),
            (TransitionForm = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "Moved; the request as it is now (with its answers, the closing note or the rejection's reason among them).", body = RequestDetail),
        (status = 400, description = "Malformed JSON or form."),
        (status = 404, description = "No such request."),
        (status = 409, description = "The life cycle forbids this move from the request's status as it is now (`transition_not_allowed`: also the second of two moves made at once), or a concurrent change got in the way (`concurrent_change`)."),
        (status = 413, description = "An attachment or the body is too large."),
        (status = 415, description = "Neither JSON nor a multipart form, or an attachment that is a program or a web page (`attachment_type`)."),
        (status = 422, description = "A rejection without a reason, a note or reason too long, files without a closing note or a rejection's reason, too many files (`attachment`), or an invalid field."),
        (status = 503, description = "Too many files being received at once (`uploads_busy`); see Retry-After."),
    )
)]
#[post("/v1/dpo/requests/{id}/transitions")]
pub async fn transition(
    req: HttpRequest,
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let answer =
        answer_form::read::<TransitionRequest>(&req, payload, &rights, TRANSITION_FIELDS).await?;
    let row = apply_transition(
        &rights,
        &staff,
        path.into_inner(),
        answer.body,
        answer.attachments,
    )
    .await?;
    Ok(HttpResponse::Ok().json(detail_of(&rights, row).await?))
}

/// The answer a move sends, if any: a completed request's closing note, a
/// rejection's reason; files go with one of them only.
fn answer_of(
    to: Status,
    note: Option<&str>,
    reason: Option<&str>,
    files: usize,
) -> Result<Option<(MessageKind, String)>, RightsError> {
    let answer = match (to, note, reason) {
        (Status::Completed, Some(note), _) => Some((MessageKind::ClosingNote, note.to_owned())),
        (Status::Rejected, _, Some(reason)) => {
            Some((MessageKind::RejectionReason, reason.to_owned()))
        }
        _ => None,
    };
    if answer.is_none() && files > 0 {
        return Err(RightsError::field(
            "attachment",
            "files go with a closing note (to completed, with a note) or a rejection's reason",
        ));
    }
    Ok(answer)
}

/// Moves a request the staff member may see, journals the move, keeps its
/// answer (a closing note or a rejection's reason, with `attachments`)
/// and queues the requester's e-mail; returns the request as it is now.
pub async fn apply_transition(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: TransitionRequest,
    attachments: Vec<Upload>,
) -> Result<RequestRow, RightsError> {
    let TransitionRequest { to, note, reason } = body;
    let max = rights.settings.requests.message_max_chars;
    let too_long = [
        check_length("note", note.as_deref(), max),
        check_length("reason", reason.as_deref(), max),
    ];
    let too_long: Vec<_> = too_long.into_iter().filter_map(Result::err).collect();
    if !too_long.is_empty() {
        return Err(RightsError::Invalid(too_long));
    }
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
    let answer = answer_of(to, note.as_deref(), reason.as_deref(), attachments.len())?;
    let row = visible(rights, staff, id).await?;
    let tenant = tenant_of(rights, &row)?;
    let now = rights.clock.now();
    let files = attachments.len();
    let sealed = seal_files(
        rights,
        row.id.clone(),
        attachments,
        Role::Attachment,
        now.naive_utc(),
    )
    .await?;
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
                // Moving it, the DPO has seen what arrived.
                row.new_document_at = None;
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
                let answered = match answer {
                    Some((kind, body)) => Some(messages::record(
                        conn,
                        &row,
                        &actor,
                        Outgoing {
                            kind,
                            body,
                            attachments: sealed,
                        },
                        at,
                    )?),
                    None => None,
                };
                let mut detail =
                    serde_json::json!({"from": from.as_str(), "note": note, "reason": reason});
                if let Some(kept) = &answered {
                    detail["message_id"] = kept.id.clone().into();
                }
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::Transition,
                    Some(to),
                    Some(detail),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_TRANSITIONED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.id),
                        detail: Some(serde_json::json!({
                            "request": row.reference, "from": from.as_str(), "to": to.as_str(),
                        })),
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
                        notifier.completed(conn, &row, answered.as_ref().map(|_| files), at)?;
                        if row.kind == Kind::Opposition
                            && row.scope.as_deref() == Some("prospection")
                        {
                            if let Some(hash) = row.email_hash.as_deref() {
                                store::suppress(conn, &row.tenant_id, hash, &row.id, at)?;
                            }
                        }
                    }
                    Status::Rejected => notifier.rejected(conn, &row, files, at)?,
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
        (status = 404, description = "No such request."),
        (status = 409, description = "Already extended (also by an extension made at the same time), past its due date, or closed (`extension_not_allowed`); or a concurrent change got in the way (`concurrent_change`)."),
        (status = 422, description = "No reason."),
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
                // The reason is the requester's business: its length only.
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_EXTENDED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.reference),
                        detail: Some(serde_json::json!({
                            "request": row.reference,
                            "due_at": row.due_at.and_utc(),
                            "length": reason.chars().count(),
                        })),
                        ..Default::default()
                    },
                    at,
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
    /// The text, kept and shown to the requester on the tracking page (the
    /// e-mail only says that a message waits); more than white space, at
    /// most `requests.message_max_chars` characters (refused beyond, never
    /// cut).
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        custom(function = "crate::http::not_blank"),
        custom(function = "crate::http::plain_text")
    )]
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// `queued`: the e-mail that announces it is in the outbox.
    pub status: &'static str,
    /// The message as kept.
    pub message: MessageView,
}

/// Writes to the requester: the message and its files are kept and shown
/// on the tracking page; an e-mail tells the requester so.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body(
        description = "The message as JSON; or as a multipart form, with its files (`attachment` file parts).",
        content(
            (MessageRequest = "application/json"),
            (MessageForm = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 202, description = "Kept; its e-mail queued for delivery.", body = Queued),
        (status = 400, description = "Malformed JSON or form."),
        (status = 404, description = "No such request."),
        (status = 409, description = "The requester's address was erased (`requester_erased`), or a concurrent change got in the way (`concurrent_change`)."),
        (status = 413, description = "An attachment or the body is too large."),
        (status = 415, description = "Neither JSON nor a multipart form, or an attachment that is a program or a web page (`attachment_type`)."),
        (status = 422, description = "Empty or too long (`body`), or too many files (`attachment`)."),
        (status = 503, description = "Too many files being received at once (`uploads_busy`); see Retry-After."),
    )
)]
#[post("/v1/dpo/requests/{id}/messages")]
pub async fn message(
    req: HttpRequest,
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let answer =
        answer_form::read::<MessageRequest>(&req, payload, &rights, MESSAGE_FIELDS).await?;
    let kept = send_message(
        &rights,
        &staff,
        path.into_inner(),
        &answer.body.body,
        answer.attachments,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(Queued {
        status: "queued",
        message: kept,
    }))
}

/// Writes to the requester of a request the staff member may see: the
/// message and its attachments are kept, journaled (its id and length on
/// the timeline, its hashes in the audit log) and announced by e-mail;
/// returns the message as kept.
pub async fn send_message(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: &str,
    attachments: Vec<Upload>,
) -> Result<MessageView, RightsError> {
    check_length(
        "body",
        Some(body),
        rights.settings.requests.message_max_chars,
    )?;
    let text = body.trim().to_owned();
    let row = visible(rights, staff, id).await?;
    let tenant = tenant_of(rights, &row)?;
    let now = rights.clock.now().naive_utc();
    let files = attachments.len();
    let sealed = seal_files(rights, row.id.clone(), attachments, Role::Attachment, now).await?;
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
                let outgoing = Outgoing {
                    kind: MessageKind::Message,
                    body: text,
                    attachments: sealed,
                };
                let kept = messages::record(conn, &row, &actor, outgoing, now)?;
                store::add_event(
                    conn,
                    &row.id,
                    now,
                    &actor.email,
                    Action::Message,
                    None,
                    Some(serde_json::json!({
                        "message_id": kept.id,
                        "length": kept.body.as_deref().map_or(0, |b| b.chars().count()),
                        "attachments": files,
                    })),
                )?;
                Notifier {
                    state: &rights2,
                    tenant: &tenant,
                }
                .message(conn, &row, files, now)?;
                Ok(kept)
            })
        })
        .await
}
