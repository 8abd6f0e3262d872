//! The letters a request's requester is sent on paper when they gave no
//! e-mail address (a request received by post, at the counter or by
//! telephone): the acknowledgement of receipt with the mentions of CRPA
//! L112-11 (as the e-mailed one), the request for a copy of an identity
//! document (GDPR art. 12(6)), and the answer (the DPO's closing note or
//! rejection's reason). Each is an A4 page ready to print, in the tenant's
//! language, with the tenant's postal address, the requester's in the
//! envelope's window, and the references of every request of the case.
//! Only staff who may see the request see its letters (404 otherwise).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::errors::OrPage;
use super::render::{date, text};
use super::session::Session;
use super::{page, PageError};
use crate::error::ApiError;
use crate::rights::lifecycle::{Action, Role, Status};
use crate::rights::messages::{self, MessageView};
use crate::rights::notify::{id_retention, CNIL_COMPLAINTS};
use crate::rights::queue::{self, RequestDetail};
use crate::rights::service::RightsService;
use crate::rights::store::{self, RequestRow};
use crate::rights::{related, RightsError};
use crate::tenants::{Locale, Tenant};

/// The letters a request has, by the name of their address.
const LETTERS: [&str; 3] = ["acknowledgement", "identity", "answer"];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/requests/{id}/letters/{letter}").get(letter));
}

fn url(id: &str, letter: &str) -> String {
    format!("/console/requests/{id}/letters/{letter}")
}

/// What a request's page says of its letters: their addresses, and
/// whether they are the only way to write to the requester (no e-mail
/// address), said prominently then. None once the requester's data were
/// erased.
pub fn links(lang: Locale, detail: &RequestDetail) -> Value {
    if detail.erased_at.is_some() {
        return Value::Null;
    }
    let letters: Vec<Value> = LETTERS
        .iter()
        .map(|l| {
            json!({
                "id": format!("letter-{l}"),
                "label": text(lang, &format!("letter_link_{l}")),
                "url": url(&detail.id, l),
            })
        })
        .collect();
    // The letters name every request of the case, in the order made.
    let mut case: Vec<(&str, &str)> = detail
        .case
        .iter()
        .map(|c| (c.id.as_str(), c.reference.as_str()))
        .chain([(detail.id.as_str(), detail.reference.as_str())])
        .collect();
    case.sort_unstable();
    let references: Vec<&str> = case.into_iter().map(|(_, r)| r).collect();
    json!({
        "no_email": detail.email.is_none(),
        "references": references.join(", "),
        "letters": letters,
    })
}

/// Everything a letter is made of, read at once.
struct Case {
    /// Every request of the case, the one asked for among them, in the
    /// order they were made.
    rows: Vec<RequestRow>,
    /// The answers of each request of `rows`, in the same order.
    answers: Vec<Vec<MessageView>>,
    /// Whether the request came with a copy of an identity document.
    has_id_document: bool,
    /// The note of the latest request for an identity document.
    identity_note: Option<String>,
}

async fn case_of(rights: &RightsService, row: RequestRow) -> Result<Case, RightsError> {
    rights
        .run(move |conn| {
            let rows = match &row.case_id {
                Some(case_id) => related::case_rows(conn, case_id)?,
                None => Vec::new(),
            };
            let rows = if rows.is_empty() {
                vec![row.clone()]
            } else {
                rows
            };
            let mut answers = Vec::with_capacity(rows.len());
            for r in &rows {
                answers.push(messages::views(conn, &r.id)?);
            }
            let has_id_document = store::documents(conn, &row.id)?
                .iter()
                .any(|d| d.role == Role::IdDocument);
            let identity_note = store::timeline(conn, &row.id)?
                .into_iter()
                .rev()
                .find(|e| {
                    e.action == Action::Transition && e.status == Some(Status::AwaitingIdentity)
                })
                .and_then(|e| e.detail)
                .and_then(|d| serde_json::from_str::<Value>(&d).ok())
                .and_then(|d| d.get("note")?.as_str().map(str::to_owned))
                .filter(|n| !n.trim().is_empty());
            Ok(Case {
                rows,
                answers,
                has_id_document,
                identity_note,
            })
        })
        .await
}

/// `GET /console/requests/{id}/letters/{acknowledgement|identity|answer}`.
async fn letter(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let (id, letter) = path.into_inner();
    let not_found = || PageError::api(lang, ApiError::not_found("No such letter."));
    if !LETTERS.contains(&letter.as_str()) {
        return Err(not_found());
    }
    let row = queue::visible(&rights, &session.staff, id)
        .await
        .page(lang)?;
    let tenant = rights.tenants.by_id(&row.tenant_id).ok_or_else(not_found)?;
    if row.erased_at.is_some() {
        return Err(PageError::api(
            lang,
            ApiError::from_status(StatusCode::GONE),
        ));
    }
    let case = case_of(&rights, row.clone()).await.page(lang)?;
    let ctx = letter_ctx(&rights, &tenant, &row, &case, &letter);
    // In the tenant's language, as its e-mails are.
    page(
        &req,
        tenant.config.locale,
        StatusCode::OK,
        "console_letter.html",
        ctx,
    )
}

fn letter_ctx(
    rights: &RightsService,
    tenant: &Tenant,
    row: &RequestRow,
    case: &Case,
    letter: &str,
) -> Value {
    let locale = tenant.config.locale;
    let tz = rights.settings.requests.tz();
    let day = |at: chrono::NaiveDateTime| date(at.and_utc(), locale, tz);
    let requests: Vec<Value> = case
        .rows
        .iter()
        .zip(&case.answers)
        .map(|(r, answers)| {
            let outcome = match r.status {
                Status::Completed => "completed",
                Status::Rejected => "rejected",
                _ => "open",
            };
            let answers: Vec<Value> = answers
                .iter()
                .filter_map(|m| {
                    let files: Vec<&str> =
                        m.attachments.iter().map(|a| a.filename.as_str()).collect();
                    Some(json!({"body": m.body.as_deref()?, "files": files}))
                })
                .collect();
            json!({
                "reference": r.reference,
                "kind_label": r.kind.label(locale),
                "received_at": day(r.received_at),
                "due_at": day(r.due_at),
                "extended": r.extended,
                "outcome": outcome,
                "closed_at": r.closed_at.map(day).unwrap_or_default(),
                "answers": answers,
            })
        })
        .collect();
    let answered = requests
        .iter()
        .any(|r| r["outcome"] != "open" || r["answers"].as_array().is_some_and(|a| !a.is_empty()));
    let references: Vec<&str> = case.rows.iter().map(|r| r.reference.as_str()).collect();
    let name = [row.first_name.as_deref(), row.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let on_behalf = row.on_behalf_of().map(|o| {
        json!({
            "name": format!("{} {}", o.first_name, o.last_name),
            "relation": o.relation.label(locale),
        })
    });
    json!({
        "letter": letter,
        "back": format!("/console/requests/{}", row.id),
        "tenant": {
            "name": tenant.config.name,
            "postal_address": tenant.config.postal_address,
            "address_lines": tenant.config.postal_address.split(", ").collect::<Vec<_>>(),
            "phone": tenant.config.phone,
            "dpo_email": tenant.config.dpo_email,
        },
        "recipient": {
            "name": name,
            "postal_address": row.postal_address,
        },
        "on_behalf": on_behalf,
        "today": date(rights.clock.now(), locale, tz),
        "reference": row.reference,
        "references": references.join(", "),
        "several": case.rows.len() > 1,
        "requests": requests,
        "received_at": day(row.received_at),
        "due_at": day(row.due_at),
        "has_id_document": case.has_id_document,
        "identity_note": case.identity_note,
        "id_retention": id_retention(rights, tenant, row.kind),
        "answered": answered,
        "cnil_url": CNIL_COMPLAINTS,
        "here": url(&row.id, letter),
    })
}
