//! The DPO's console: the queue, most urgent first, with its filters and
//! search; the pages of a request, sign-in and the readings live beside it.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::render::{date, text, text_with};
use super::session::Session;
use super::{page, see_other, PageError};
use crate::error::ApiError;
use crate::rights::lifecycle::{Kind, Status};
use crate::rights::queue::{self, QueueItem, QueueQuery};
use crate::rights::service::RightsService;
use crate::tenants::Locale;

/// Requests per page of the queue (a candidate for a setting; the JSON API
/// takes `per_page` up to `limits.max_page_size`).
const QUEUE_PAGE_SIZE: u32 = 25;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").get(queue_page))
        .configure(super::signin::routes)
        // Before the request's page, whose `{id}` would take `new`.
        .configure(super::entry::routes)
        .configure(super::letters::routes)
        .configure(super::casefile::routes)
        .configure(super::insight::routes)
        .configure(super::report::routes);
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
        "referent": session.staff.is_referent(),
        "csrf": session.csrf,
        "section": section,
    })
}

pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Days left before `due`, in words, and whether it is late.
pub fn days_left(lang: Locale, due: DateTime<Utc>, now: DateTime<Utc>, status: Status) -> String {
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

/// The tenants an account that serves several chooses among (by slug):
/// every one for an admin, its own for a shared DPO; none for an account
/// that serves one.
pub fn tenant_choices(rights: &RightsService, session: &Session) -> Vec<Value> {
    let staff = &session.staff;
    if !staff.serves_several() {
        return Vec::new();
    }
    let mut all: Vec<Value> = rights
        .tenants
        .iter()
        .filter(|t| staff.can_see(&t.id))
        .map(|t| json!({"slug": t.slug, "name": t.config.name}))
        .collect();
    all.sort_by(|a, b| a["slug"].as_str().cmp(&b["slug"].as_str()));
    all
}

/// The name of the tenant of this slug (the slug if it is no longer
/// configured): each row and request says its commune.
pub fn tenant_name(rights: &RightsService, slug: &str) -> String {
    rights
        .tenants
        .get(slug)
        .map_or_else(|_| slug.to_owned(), |t| t.config.name.clone())
}

/// `GET /console`: the queue, most urgent first, with filters and search.
async fn queue_page(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
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
        same_person_as: get("same_person_as"),
        tenant: if session.staff.serves_several() {
            get("tenant")
        } else {
            None
        },
        page: page_no,
        per_page: Some(QUEUE_PAGE_SIZE),
    };
    let list = match queue::list(&rights, &session.staff, q)
        .await
        .map_err(ApiError::from)
    {
        Ok(list) => list,
        Err(e) if e.status.is_client_error() => {
            return Ok(see_other("/console"));
        }
        Err(e) => return Err(PageError::api(lang, e)),
    };
    let now = rights.clock.now();
    let tz = rights.settings.requests.tz();
    let items: Vec<Value> = list
        .items
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "reference": i.reference, "tenant": i.tenant,
                "tenant_name": tenant_name(&rights, &i.tenant),
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
                "new_document": i.new_document,
                "others": others(lang, i),
                "assigned": i.assignments.iter().map(|a| json!({
                    "referent": a.referent,
                    "due": text_with(lang, "assignment_due", &[("date", &date(a.due_at, lang, tz))]),
                    "answered": a.answered_at.is_some(),
                    "late": a.late,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut filters: Vec<(String, String)> = Vec::new();
    for name in ["status", "kind", "q", "tenant", "same_person_as"] {
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
    let tenants = tenant_choices(&rights, &session);
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
            "same_person_as": get("same_person_as"),
        },
        "kinds": kinds, "statuses": statuses, "tenants": tenants,
    });
    page(&req, lang, StatusCode::OK, "console_queue.html", ctx)
}

/// The link of a row to the same person's other requests (`?same_person_as=`),
/// when there are any.
fn others(lang: Locale, item: &QueueItem) -> Option<Value> {
    let n = item.others.to_string();
    let (key, args) = match item.others {
        0 => return None,
        1 => ("queue_others_one", vec![]),
        _ => ("queue_others", vec![("n", n.as_str())]),
    };
    let text = text_with(lang, key, &args);
    // Read out of the table, the link says whose requests it opens.
    let label = (!item.requester_name.is_empty()).then(|| {
        let args = [("others", text.as_str()), ("name", &item.requester_name)];
        text_with(lang, "queue_others_label", &args)
    });
    Some(json!({
        "text": text,
        "label": label,
        "url": format!("/console?same_person_as={}", item.id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_in_words() {
        let due: DateTime<Utc> = "2026-04-02T09:30:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let fr = Locale::Fr;
        let open = Status::InProgress;
        assert_eq!(
            days_left(fr, due, at("2026-03-02T09:30:00Z"), open),
            "31 jours"
        );
        assert_eq!(
            days_left(fr, due, at("2026-04-01T10:00:00Z"), open),
            "1 jour"
        );
        assert_eq!(
            days_left(fr, due, at("2026-04-02T09:00:00Z"), open),
            "Échéance aujourd'hui"
        );
        assert_eq!(
            days_left(fr, due, at("2026-04-02T12:00:00Z"), open),
            "En retard d'un jour"
        );
        assert_eq!(
            days_left(fr, due, at("2026-04-15T09:30:00Z"), open),
            "En retard de 13 jours"
        );
        let paused = Status::AwaitingIdentity;
        assert_eq!(
            days_left(fr, due, at("2026-05-15T09:30:00Z"), paused),
            "Suspendu"
        );
        let closed = Status::Completed;
        assert_eq!(
            days_left(fr, due, at("2026-05-15T09:30:00Z"), closed),
            "Clôturée"
        );
    }
}
