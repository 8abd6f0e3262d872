//! The DPO's console: sign-in, the queue, a request with its timeline, its
//! documents (each opening journaled by the API's own path) and the moves
//! its life cycle allows. Every POST carries the session's CSRF token.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use validator::Validate;

use super::errors::{field_errors, OrPage};
use super::render::{self, date, date_time, text, text_with};
use super::session::{self, Session};
use super::{page, see_other, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::client_ip;
use crate::requests::dpo::{self, TransitionRequest};
use crate::requests::lifecycle::{Kind, Status};
use crate::requests::queue::{self, QueueQuery, RequestDetail};
use crate::staff::login::{sign_in, LoginRequest};
use crate::tenants::Locale;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").get(queue_page))
        .service(web::resource("/login").get(login_form).post(login))
        .service(web::resource("/logout").post(logout))
        .service(web::resource("/requests/{id}").get(request_page))
        .service(web::resource("/requests/{id}/{action}").post(act))
        .service(web::resource("/requests/{id}/documents/{document_id}").get(document))
        .configure(super::insight::routes);
}

/// A form body (`application/x-www-form-urlencoded`), read as text fields.
pub fn form_fields(body: &[u8], lang: Locale) -> Result<HashMap<String, String>, PageError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| PageError::api(lang, ApiError::bad_request("The form could not be read.")))
}

/// What every console page shows: who is signed in, the CSRF token of the
/// sign-out form, the section.
pub fn chrome(session: &Session, section: &str) -> Value {
    json!({
        "user": session.staff.email,
        "admin": session.staff.is_admin(),
        "csrf": session.csrf,
        "section": section,
    })
}

fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    lang: Locale,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (cookie, token) = session::login_nonce(state);
    let ctx = json!({
        "email": email, "next": next, "csrf": token, "error": error,
        "here": "/console/login",
    });
    let mut res = page(req, lang, status, "console_login.html", ctx)?;
    res.add_cookie(&cookie)
        .map_err(|e| PageError::api(lang, ApiError::internal(anyhow::anyhow!("{e}"))))?;
    Ok(res)
}

/// `GET /console/login`.
async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let next = session::local_next(query_param(&req, "next").as_deref());
    login_page(&req, &state, lang, StatusCode::OK, "", &next, None)
}

/// `POST /console/login`: the staff sign-in rules of the API (rate limit,
/// lock, journal), then the session cookie.
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let form = form_fields(&body, lang)?;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let next = session::local_next(Some(field("next")));
    if !session::login_token_ok(&state, &req, field("csrf")) {
        return Err(PageError::csrf(lang));
    }
    let email = field("email").trim().to_owned();
    let again = |status, message: String| {
        login_page(&req, &state, lang, status, &email, &next, Some(message))
    };
    let credentials = LoginRequest {
        email: email.clone(),
        password: field("password").to_owned(),
    };
    if credentials.validate().is_err() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            text(lang, "login_missing"),
        );
    }
    let ip = client_ip(&req, &state.settings.server.trusted_proxies);
    match sign_in(&state, ip, credentials.email, credentials.password).await {
        Ok(signed) => {
            let mut res = see_other(next.clone());
            let cookies = [
                session::session_cookie(&state, signed.access_token, signed.expires_in),
                session::removal(&state, session::LOGIN_COOKIE),
            ];
            for c in &cookies {
                res.add_cookie(c).map_err(|e| {
                    PageError::api(lang, ApiError::internal(anyhow::anyhow!("{e}")))
                })?;
            }
            Ok(res)
        }
        Err(e) => {
            let key = match (e.status.as_u16(), e.detail.contains("locked")) {
                (401, _) => "login_invalid",
                (429, true) => "login_locked",
                (429, false) => "error_rate",
                (503, _) => "login_busy",
                _ => return Err(PageError::api(lang, e)),
            };
            again(e.status, text(lang, key))
        }
    }
}

/// `POST /console/logout`.
async fn logout(
    session: Session,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    session.check(&form_fields(&body, session.lang)?)?;
    let mut res = see_other("/console/login");
    res.add_cookie(&session::removal(&state, session::SESSION_COOKIE))
        .map_err(|e| PageError::api(session.lang, ApiError::internal(anyhow::anyhow!("{e}"))))?;
    Ok(res)
}

/// Days left before `due`, in words, and whether it is late.
fn days_left(lang: Locale, due: DateTime<Utc>, now: DateTime<Utc>, status: Status) -> String {
    if !status.is_open() {
        return text(lang, "days_closed");
    }
    if status == Status::AwaitingIdentity {
        return text(lang, "days_paused");
    }
    let hours = (due - now).num_hours();
    if hours < 0 {
        let late = ((-hours) + 23) / 24;
        let n = late.max(1).to_string();
        return text_with(
            lang,
            if late <= 1 {
                "days_late_one"
            } else {
                "days_late"
            },
            &[("n", &n)],
        );
    }
    let days = (hours + 23) / 24;
    match days {
        0 => text(lang, "days_today"),
        1 => text(lang, "days_left_one"),
        n => text_with(lang, "days_left", &[("n", &n.to_string())]),
    }
}

/// `GET /console`: the queue, most urgent first, with filters and search.
async fn queue_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let get = |name: &str| query_param(&req, name).filter(|v| !v.trim().is_empty());
    let kind = get("kind").and_then(|k| Kind::parse(&k));
    let status = get("status").filter(|s| s == "open" || Status::parse(s).is_some());
    let page_no = get("page")
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| *p >= 1);
    let overdue = get("overdue").is_some();
    let q = QueueQuery {
        status: status.as_deref().map(|s| {
            if s == "open" {
                "received,in_progress,awaiting_identity".to_owned()
            } else {
                s.to_owned()
            }
        }),
        kind,
        overdue: overdue.then_some(true),
        q: get("q"),
        sort: None,
        tenant: if session.staff.is_admin() {
            get("tenant")
        } else {
            None
        },
        page: page_no,
        per_page: Some(25),
    };
    let list = match queue::list(&state, &session.staff, q).await {
        Ok(list) => list,
        Err(e) if e.status.is_client_error() => {
            return Ok(see_other("/console"));
        }
        Err(e) => return Err(PageError::api(lang, e)),
    };
    let now = state.clock.now();
    let tz = state.settings.requests.tz();
    let items: Vec<Value> = list
        .items
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "reference": i.reference, "tenant": i.tenant,
                "kind_label": i.kind.label(lang),
                "status": i.status.as_str(),
                "status_label": text(lang, &format!("status_{}", i.status.as_str())),
                "requester": i.requester_name,
                "received_at": date(i.received_at, lang, tz),
                "due_at": date(i.due_at, lang, tz),
                "days": days_left(lang, i.due_at, now, i.status),
                "overdue": i.overdue,
                "extended": i.extended,
                "duplicate": i.duplicate_of.is_some(),
            })
        })
        .collect();
    let mut filters: Vec<(String, String)> = Vec::new();
    for name in ["status", "kind", "q", "tenant"] {
        if let Some(v) = get(name) {
            filters.push((name.into(), v));
        }
    }
    if overdue {
        filters.push(("overdue".into(), "true".into()));
    }
    let link = |page: u32| {
        let mut all = filters.clone();
        all.push(("page".into(), page.to_string()));
        format!(
            "/console?{}",
            serde_urlencoded::to_string(&all).unwrap_or_default()
        )
    };
    let last = ((list.total.max(1) as u64).div_ceil(u64::from(list.per_page))) as u32;
    let kinds: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| json!({"value": k.as_str(), "label": k.label(lang)}))
        .collect();
    let statuses: Vec<Value> = Status::ALL
        .iter()
        .map(|s| json!({"value": s.as_str(), "label": text(lang, &format!("status_{}", s.as_str()))}))
        .collect();
    let tenants: Vec<Value> = if session.staff.is_admin() {
        let mut all: Vec<Value> = state
            .tenants
            .iter()
            .map(|t| json!({"slug": t.slug, "name": t.config.name}))
            .collect();
        all.sort_by(|a, b| a["slug"].as_str().cmp(&b["slug"].as_str()));
        all
    } else {
        Vec::new()
    };
    let ctx = json!({
        "console": chrome(&session, "queue"),
        "items": items,
        "total": list.total,
        "page": list.page,
        "last_page": last,
        "prev_url": (list.page > 1).then(|| link(list.page - 1)),
        "next_url": (list.page < last).then(|| link(list.page + 1)),
        "filters": {
            "status": status, "kind": kind.map(Kind::as_str), "overdue": overdue,
            "q": get("q"), "tenant": get("tenant"),
        },
        "kinds": kinds, "statuses": statuses, "tenants": tenants,
    });
    page(&req, lang, StatusCode::OK, "console_queue.html", ctx)
}

fn event_detail(lang: Locale, action: &str, detail: Option<&Value>) -> String {
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
        "message" => {
            let n = detail
                .and_then(|d| d.get("length"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            text_with(lang, "event_message_length", &[("n", &n.to_string())])
        }
        "document_uploaded" => {
            let n = detail
                .and_then(|d| d.get("documents"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            text_with(lang, "event_documents", &[("n", &n.to_string())])
        }
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
}

fn request_view(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    detail: &RequestDetail,
    view: RequestView,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let tz = state.settings.requests.tz();
    let now = state.clock.now();
    let documents: Vec<Value> = detail
        .documents
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "filename": d.filename, "content_type": d.content_type,
                "size_kib": (d.size + 1023) / 1024,
                "uploaded_at": date_time(d.uploaded_at, lang, tz),
                "purged": d.purged_at.is_some(),
                "url": format!("/console/requests/{}/documents/{}", detail.id, d.id),
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
                "detail": event_detail(lang, &e.action, e.detail.as_ref()),
            })
        })
        .collect();
    let can_extend = crate::requests::deadline::check_extension(
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
        ];
        known
            .contains(&d.as_str())
            .then(|| text(lang, &format!("done_{d}")))
    });
    let ctx = json!({
        "console": chrome(session, "queue"),
        "r": {
            "id": detail.id, "reference": detail.reference, "tenant": detail.tenant,
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
        },
        "can": {
            "start": detail.next.contains(&Status::InProgress),
            "ask_id": detail.next.contains(&Status::AwaitingIdentity),
            "complete": detail.next.contains(&Status::Completed),
            "reject": detail.next.contains(&Status::Rejected),
            "extend": can_extend,
            "message": detail.email.is_some(),
        },
        "documents": documents,
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
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
) -> Result<RequestDetail, PageError> {
    let row = queue::visible(state, &session.staff, id)
        .await
        .page(session.lang)?;
    queue::detail_of(state, row).await.page(session.lang)
}

/// `GET /console/requests/{id}`: another tenant's request is a 404.
async fn request_page(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let detail = load(&state, &session, path.into_inner()).await?;
    let view = RequestView {
        status: StatusCode::OK,
        errors: HashMap::new(),
        values: HashMap::new(),
        global_error: None,
    };
    request_view(&req, &state, &session, &detail, view)
}

/// `POST /console/requests/{id}/{action}`: `transition` (field `to`),
/// `extension` or `message`, by the same functions as the JSON API.
async fn act(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let (id, action) = path.into_inner();
    let form = form_fields(&body, lang)?;
    session.check(&form)?;
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let optional = |name: &str| Some(field(name)).filter(|v| !v.trim().is_empty());
    let (form_name, result) = match action.as_str() {
        "transition" => {
            let to = Status::parse(&field("to"))
                .ok_or_else(|| PageError::api(lang, ApiError::bad_request("unknown status")))?;
            let body = TransitionRequest {
                to,
                note: optional("note"),
                reason: optional("reason"),
            };
            let result = match body.validate() {
                Err(e) => Err(crate::http::validation_problem(e)),
                Ok(()) => dpo::apply_transition(&state, &session.staff, id.clone(), body)
                    .await
                    .map(|_| ()),
            };
            (to.as_str().to_owned(), result)
        }
        "extension" => {
            let reason = field("reason");
            let result = if reason.trim().is_empty() {
                Err(ApiError::field("reason", "is required"))
            } else if reason.chars().count() > 2000 {
                Err(ApiError::field("reason", "must be at most 2000 characters"))
            } else {
                dpo::apply_extension(&state, &session.staff, id.clone(), &reason)
                    .await
                    .map(|_| ())
            };
            ("extension".to_owned(), result)
        }
        "message" => {
            let text_body = field("body");
            let result = if text_body.trim().is_empty() {
                Err(ApiError::field("body", "is required"))
            } else if text_body.chars().count() > 5000 {
                Err(ApiError::field("body", "must be at most 5000 characters"))
            } else {
                dpo::send_message(&state, &session.staff, id.clone(), &text_body).await
            };
            ("message".to_owned(), result)
        }
        _ => return Err(PageError::api(lang, ApiError::not_found("No such action."))),
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
        values: form
            .iter()
            .filter(|(k, _)| k.as_str() != "csrf")
            .map(|(k, v)| (format!("{form_name}.{k}"), v.clone()))
            .collect(),
        global_error: None,
    };
    match (error.status.as_u16(), field_errors(lang, &error)) {
        (422, Some(found)) => {
            for (f, m) in found {
                view.errors.insert(format!("{form_name}.{f}"), m);
            }
        }
        (409, _) => view.global_error = Some(text(lang, "error_conflict")),
        _ => return Err(PageError::api(lang, error)),
    }
    let detail = load(&state, &session, id).await?;
    request_view(&req, &state, &session, &detail, view)
}

/// `GET /console/requests/{id}/documents/{document_id}`: the API's own
/// document path, which journals every opening.
async fn document(
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    dpo::document(session.staff, state, path).await.page(lang)
}
