//! A request in the console: its facts, the requester, the documents
//! (opened through the API's journaled path, shown inline or downloaded),
//! the decision on the requester's identity, the timeline, and the moves
//! its life cycle allows, each a form with the session's CSRF token.
//!
//! (Over 400 lines: the request's page and the handlers of its forms and
//! files share its view; the identity's part is in `identity.rs`, the
//! answers' in `answers.rs`.)

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use validator::Validate;

use super::answers::{self, answer_errors, ActionForm};
use super::console::{chrome, days_left, query_param, tenant_name};
use super::errors::OrPage;
use super::render::{self, date, date_time, text, text_with};
use super::session::Session;
use super::{identity, linked};
use super::{page, see_other, PageError};
use crate::error::ApiError;
use crate::rights::dpo::{self, ExtensionRequest, MessageRequest, TransitionRequest};
use crate::rights::identity as rights_identity;
use crate::rights::lifecycle::Status;
use crate::rights::queue::{self, RequestDetail};
use crate::rights::service::RightsService;
use crate::rights::{downloads, export, opening, referents};
use crate::tenants::Locale;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Before `{action}`, whose resource would answer a GET 405.
    cfg.service(web::resource("/requests/{id}").get(request_page))
        .service(web::resource("/requests/{id}/export").get(export))
        .service(web::resource("/requests/{id}/{action}").post(act))
        .service(web::resource("/requests/{id}/documents/{document_id}").get(document))
        .service(web::resource("/requests/{id}/attachments/{attachment_id}").get(attachment));
}

fn event_detail(
    lang: Locale,
    action: &str,
    detail: Option<&Value>,
    answers: &[crate::rights::messages::MessageView],
) -> String {
    let field = |name: &str| {
        detail
            .and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match action {
        "transition" => [field("reason"), field("note")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" — "),
        "extension" => field("reason"),
        "attachment.downloaded" => answers::downloaded(detail, answers),
        "message" => {
            let n = detail
                .and_then(|d| d.get("length"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            text_with(lang, "event_message_length", &[("n", &n.to_string())])
        }
        "exported" => {
            let n = detail
                .and_then(|d| d.get("consent_events"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            text_with(lang, "event_exported", &[("n", &n.to_string())])
        }
        "document_uploaded" | "identity.documents_destroyed" => {
            let n = detail
                .and_then(|d| d.get("documents"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            text_with(lang, "event_documents", &[("n", &n.to_string())])
        }
        "identity_decided" => [
            render::text_or(lang, &format!("identity_outcome_{}", field("outcome")), ""),
            render::text_or(lang, &format!("identity_method_{}", field("method")), ""),
            field("note"),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" — "),
        _ => String::new(),
    }
}

/// What the request page shows; `errors` and `values` are keyed
/// `form.field` (`rejected.reason`, `extension.reason`…).
struct RequestView {
    status: StatusCode,
    errors: HashMap<String, String>,
    values: HashMap<String, String>,
    global_error: Option<String>,
    /// The referents the DPO may assign the request to.
    referents: Vec<String>,
}

fn request_view(
    req: &HttpRequest,
    rights: &RightsService,
    session: &Session,
    detail: &RequestDetail,
    view: RequestView,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let tz = rights.settings.requests.tz();
    let now = rights.clock.now();
    let documents: Vec<Value> = detail
        .documents
        .iter()
        .map(|d| {
            let url = format!("/console/requests/{}/documents/{}", detail.id, d.id);
            json!({
                "id": d.id, "filename": d.filename, "content_type": d.content_type,
                "role": d.role,
                "role_label": render::text_or(lang, &format!("role_{}", d.role), &d.role),
                "size_kib": (d.size + 1023) / 1024,
                "uploaded_at": date_time(d.uploaded_at, lang, tz),
                "purged": d.purged_at.is_some(),
                "purged_label": identity::purged_label(lang, detail, d.purged_at),
                "open_url": format!("{url}?disposition=inline"),
                "url": url,
            })
        })
        .collect();
    let events: Vec<Value> = detail
        .events
        .iter()
        .map(|e| {
            json!({
                "at": date_time(e.at, lang, tz),
                "datetime": e.at.to_rfc3339(),
                "actor": match e.actor.as_str() {
                    "requester" => text(lang, "actor_requester"),
                    "system" => text(lang, "actor_system"),
                    other => other.to_owned(),
                },
                "action": render::text_or(lang, &format!("timeline_{}", e.action), &e.action),
                "status_label": e.status.map(|s| text(lang, &format!("status_{}", s.as_str()))),
                "detail": event_detail(lang, &e.action, e.detail.as_ref(), &detail.messages),
            })
        })
        .collect();
    let can_extend = crate::rights::deadline::check_extension(
        detail.status.is_open(),
        detail.extended,
        detail.due_at,
        now,
    )
    .is_ok();
    let flash = query_param(req, "done").and_then(|d| {
        let known = [
            "in_progress",
            "awaiting_identity",
            "completed",
            "rejected",
            "extension",
            "message",
            "attach_export",
            "identity",
            "assign",
            "note",
        ];
        known
            .contains(&d.as_str())
            .then(|| text(lang, &format!("done_{d}")))
    });
    let ctx = json!({
        "console": chrome(session, "queue"),
        "arrival": linked::view(lang, rights, detail),
        "r": {
            "id": detail.id, "reference": detail.reference, "tenant": detail.tenant,
            "tenant_name": tenant_name(rights, &detail.tenant),
            "kind_label": detail.kind.label(lang),
            "status": detail.status.as_str(),
            "status_label": text(lang, &format!("status_{}", detail.status.as_str())),
            "first_name": detail.first_name, "last_name": detail.last_name,
            "email": detail.email, "postal_address": detail.postal_address,
            "details": detail.details, "scope": detail.scope, "grounds": detail.grounds,
            "received_at": date_time(detail.received_at, lang, tz),
            "due_at": date(detail.due_at, lang, tz),
            "days": days_left(lang, detail.due_at, now, detail.status),
            "overdue": detail.overdue, "extended": detail.extended,
            "extension_reason": detail.extension_reason,
            "outcome_reason": detail.outcome_reason,
            "duplicate_of": detail.duplicate_of,
            "subject_ids": detail.subject_ids,
            "new_document_at": detail.new_document_at.map(|t| date_time(t, lang, tz)),
            "erased": detail.erased_at.is_some(),
        },
        "can": {
            "start": detail.next.contains(&Status::InProgress),
            "ask_id": detail.next.contains(&Status::AwaitingIdentity),
            "complete": detail.next.contains(&Status::Completed),
            "reject": detail.next.contains(&Status::Rejected),
            "extend": can_extend,
            "message": detail.email.is_some(),
            "identity": detail.status.is_open(),
            "assign": detail.status.is_open() && !session.staff.is_referent(),
        },
        "assignments": detail.assignments.iter().map(|a| json!({
            "referent": a.referent, "assigned_by": a.assigned_by, "note": a.note,
            "due_at": date(a.due_at, lang, tz), "created_at": date_time(a.created_at, lang, tz),
            "answered_at": a.answered_at.map(|t| date_time(t, lang, tz)),
            "reminded_at": a.reminded_at.map(|t| date_time(t, lang, tz)),
            "late": a.late,
        })).collect::<Vec<_>>(),
        "notes": detail.notes.iter().map(|n| json!({
            "at": date_time(n.at, lang, tz), "datetime": n.at.to_rfc3339(),
            "author": n.author, "body": n.body,
        })).collect::<Vec<_>>(),
        "referent_choices": view.referents,
        "documents": documents,
        "identity": identity::view(rights, lang, detail),
        "answers": answers::sent(lang, rights, &detail.id, &detail.messages),
        "answer_limits": answers::limits(lang, rights),
        "letters": super::letters::links(lang, detail),
        "summaries": answers::summaries(lang, &view.errors),
        "events": events,
        "errors": view.errors,
        "values": view.values,
        "global_error": view.global_error,
        "flash": flash,
        "here": format!("/console/requests/{}", detail.id),
    });
    page(req, lang, view.status, "console_request.html", ctx)
}

async fn load(
    rights: &web::Data<RightsService>,
    session: &Session,
    id: String,
) -> Result<RequestDetail, PageError> {
    queue::open(rights, &session.staff, id)
        .await
        .page(session.lang)
}

/// The referents of the request's tenant a DPO may assign it to.
async fn referent_choices(
    rights: &RightsService,
    session: &Session,
    detail: &RequestDetail,
) -> Result<Vec<String>, PageError> {
    if session.staff.is_referent() || !detail.status.is_open() {
        return Ok(Vec::new());
    }
    let Some(tenant) = rights.tenants.get(&detail.tenant).ok() else {
        return Ok(Vec::new());
    };
    let id = tenant.id.clone();
    rights
        .run(move |conn| Ok(referents::candidates(conn, &id)?))
        .await
        .map_err(ApiError::from)
        .page(session.lang)
}

/// `GET /console/requests/{id}`: another tenant's request is a 404. The
/// DPO reads it: the queue no longer marks the document that had arrived.
async fn request_page(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let detail = queue::open(&rights, &session.staff, path.into_inner())
        .await
        .page(session.lang)?;
    let view = RequestView {
        status: StatusCode::OK,
        errors: HashMap::new(),
        values: HashMap::new(),
        global_error: None,
        referents: referent_choices(&rights, &session, &detail).await?,
    };
    request_view(&req, &rights, &session, &detail, view)
}

/// `POST /console/requests/{id}/{action}`: `transition` (field `to`),
/// `extension`, `message` or `identity`, by the same functions as the JSON
/// API; a
/// closing note, a rejection's reason and a message come as a multipart
/// form with their files (`attachment`), the CSRF token among its fields.
async fn act(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let (id, action) = path.into_inner();
    let form = answers::read(&req, payload, &rights, lang).await?;
    // Before anything else: a form without this session's token changes
    // nothing and is told nothing of what it sent.
    session.check(&form.fields)?;
    let field = |name: &str| form.fields.get(name).cloned().unwrap_or_default();
    let form_name = match action.as_str() {
        "transition" => Status::parse(&field("to"))
            .ok_or_else(|| PageError::api(lang, ApiError::bad_request("unknown status")))?
            .as_str()
            .to_owned(),
        "extension" | "message" | "attach_export" | "identity" | "assign" | "note" => {
            action.clone()
        }
        _ => return Err(PageError::api(lang, ApiError::not_found("No such action."))),
    };
    let ActionForm {
        fields,
        attachments,
        refused,
        ..
    } = form;
    let result = match refused {
        Some(e) => Err(e),
        None => apply(&rights, &session, &id, &action, &fields, attachments).await,
    };
    let error = match result {
        Ok(()) => {
            return Ok(see_other(format!(
                "/console/requests/{id}?done={form_name}"
            )));
        }
        Err(e) => e,
    };
    // Shown again, with the error beside its field and the text kept.
    let mut view = RequestView {
        status: error.status,
        errors: HashMap::new(),
        values: fields
            .iter()
            .filter(|(k, _)| k.as_str() != "csrf")
            .map(|(k, v)| (format!("{form_name}.{k}"), v.clone()))
            .collect(),
        global_error: None,
        referents: Vec::new(),
    };
    match (error.status.as_u16(), answer_errors(lang, &error)) {
        (413 | 415 | 422, Some(found)) => {
            for (f, m) in found {
                view.errors.insert(format!("{form_name}.{f}"), m);
            }
        }
        (409, _) => view.global_error = Some(text(lang, "error_conflict")),
        _ => return Err(PageError::api(lang, error)),
    }
    let detail = load(&rights, &session, id).await?;
    view.referents = referent_choices(&rights, &session, &detail).await?;
    request_view(&req, &rights, &session, &detail, view)
}

/// The action a form asks for, by the functions of the JSON API.
async fn apply(
    rights: &RightsService,
    session: &Session,
    id: &str,
    action: &str,
    fields: &HashMap<String, String>,
    attachments: Vec<crate::rights::intake::Upload>,
) -> Result<(), ApiError> {
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let optional = |name: &str| Some(field(name)).filter(|v| !v.trim().is_empty());
    let staff = &session.staff;
    let id = id.to_owned();
    match action {
        "transition" => {
            let to = Status::parse(&field("to"))
                .ok_or_else(|| ApiError::bad_request("unknown status"))?;
            let body = TransitionRequest {
                to,
                note: optional("note"),
                reason: optional("reason"),
            };
            body.validate().map_err(crate::http::validation_problem)?;
            dpo::apply_transition(rights, staff, id, body, attachments).await?;
        }
        "extension" => {
            // The rules the JSON API declares for the same body.
            let body = ExtensionRequest {
                reason: field("reason"),
            };
            body.validate().map_err(crate::http::validation_problem)?;
            dpo::apply_extension(rights, staff, id, &body.reason).await?;
        }
        "identity" => {
            let body = identity::form(
                session.lang,
                &field("outcome"),
                &field("method"),
                optional("note"),
            )?;
            rights_identity::record(rights, staff, id, body).await?;
        }
        "assign" => {
            let body = referents::AssignmentRequest {
                referent_email: field("referent_email"),
                due_at: due_at_end_of(&field("due_on"), rights)?,
                note: optional("note"),
            };
            body.validate().map_err(crate::http::validation_problem)?;
            referents::assign(rights, staff, id, body).await?;
        }
        "note" => {
            let body = referents::NoteRequest {
                body: field("body"),
            };
            body.validate().map_err(crate::http::validation_problem)?;
            referents::add_note(rights, staff, id, &body.body).await?;
        }
        "attach_export" => {
            // The message's rules, with the export attached.
            let body = MessageRequest {
                body: field("body"),
            };
            body.validate().map_err(crate::http::validation_problem)?;
            export::send_to_requester(rights, staff, id, &body.body).await?;
        }
        _ => {
            let body = MessageRequest {
                body: field("body"),
            };
            body.validate().map_err(crate::http::validation_problem)?;
            dpo::send_message(rights, staff, id, &body.body, attachments).await?;
        }
    }
    Ok(())
}

/// The end of a day (`YYYY-MM-DD`) in the service's time zone: when an
/// assignment made from the console is due.
fn due_at_end_of(
    day: &str,
    rights: &RightsService,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    use chrono::TimeZone;
    let invalid = || {
        ApiError::from(crate::error::FieldError {
            field: "due_at".into(),
            message: "must be a date (YYYY-MM-DD)".into(),
        })
    };
    let day = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| invalid())?;
    let end = day.and_hms_opt(23, 59, 0).ok_or_else(invalid)?;
    rights
        .settings
        .requests
        .tz()
        .from_local_datetime(&end)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(invalid)
}

/// `GET /console/requests/{id}/export`: the API's export, journaled the
/// same way.
async fn export(
    session: Session,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    Ok(export::build(&rights, &session.staff, path.into_inner())
        .await
        .page(lang)?
        .into_response())
}

/// `GET /console/requests/{id}/documents/{document_id}`: the API's own
/// document path, which journals every opening; `?disposition=inline`
/// shows it in the browser (« Ouvrir »), a download otherwise
/// (« Télécharger »).
async fn document(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let (id, document_id) = path.into_inner();
    let disposition = match query_param(&req, "disposition").as_deref() {
        Some("inline") => opening::Disposition::Inline,
        _ => opening::Disposition::Attachment,
    };
    opening::open_document(&rights, &session.staff, id, document_id, disposition)
        .await
        .map(|opened| opened.respond(disposition))
        .page(lang)
}

/// `GET /console/requests/{id}/attachments/{attachment_id}`: the API's own
/// path for an answer's file, which journals every opening.
async fn attachment(
    session: Session,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let (id, attachment_id) = path.into_inner();
    downloads::open_attachment(&rights, &session.staff, id, attachment_id)
        .await
        .map(opening::Opened::into_response)
        .page(lang)
}
