//! The citizen's pages of a tenant: the request form (`/t/{tenant}/droits`),
//! its confirmation, and the tracking page of the e-mailed link, with the
//! upload of the identity document when the DPO asks for one. Plain forms
//! (multipart POST, then a redirect), no script.
//!
//! (Over 400 lines: the form, its confirmation and the tracking page share
//! the tenant's lookup, the tracked request and the refusals shown on the
//! page; split, each would carry its own copy of them.)

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::errors::{field_errors, file_errors, OrPage};
use super::franceconnect::{self, Citizen};
use super::render::{self, date, date_time, text};
use super::{page, see_other, PageError};
use crate::error::ApiError;
use crate::http::client_ip;
use crate::rights::arrival::Relation;
use crate::rights::form::{Form, FormLimits, FIELDS};
use crate::rights::intake::{read_form, FormRules, Intake};
use crate::rights::lifecycle::{Kind, Status};
use crate::rights::service::RightsService;
use crate::rights::submit;
use crate::rights::track::{self, TrackEventKind};
use crate::rights::RightsError;
use crate::tenants::{Locale, Tenant};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/droits").get(form).post(send))
        .service(web::resource("/droits/confirmation/{token}").get(sent))
        .service(web::resource("/suivi/{token}").get(follow))
        .service(web::resource("/suivi/{token}/document").post(upload))
        .service(web::resource("/accessibilite").get(super::accessibility::statement))
        .configure(super::franceconnect::routes)
        .configure(super::theme::routes)
        .configure(super::delivery::routes);
}

pub(super) fn tenant_ctx(rights: &RightsService, tenant: &Tenant, lang: Locale) -> Value {
    // Its own periods, in the page's words (« deux ans », « 18 mois »).
    let periods = rights.settings.periods_of(tenant);
    let words = |p: crate::clock::Period| p.in_words(lang == Locale::Fr);
    json!({
        "slug": tenant.slug,
        "name": tenant.config.name,
        "dpo_email": tenant.config.dpo_email,
        "postal_address": tenant.config.postal_address,
        "require_id": tenant.config.require_id_document,
        "theme": super::theme::ctx(tenant),
        "retention": {
            "requester_data": words(periods.requester_data),
            "requester_data_opposition": words(periods.requester_data_opposition),
            "id_documents": words(periods.id_documents),
            "id_documents_opposition": words(periods.id_documents_opposition),
        },
    })
}

pub(super) fn tenant_of(
    rights: &RightsService,
    slug: &str,
    lang: Locale,
) -> Result<Arc<Tenant>, PageError> {
    rights.tenants.get(slug).page(lang)
}

/// A tracking token's request, only under its own tenant.
pub(super) async fn tracked(
    rights: &web::Data<RightsService>,
    tenant: &Tenant,
    token: &str,
    lang: Locale,
) -> Result<(crate::rights::store::RequestRow, track::Tracking), PageError> {
    let (row, tracking) = track::find(rights, token).await.page(lang)?;
    if row.tenant_id != tenant.id {
        return Err(PageError::api(lang, RightsError::UnknownTracking.into()));
    }
    Ok((row, tracking))
}

struct FormView<'a> {
    values: &'a HashMap<String, String>,
    /// The rights ticked.
    kinds: &'a [String],
    errors: Vec<(String, String)>,
    global: Option<String>,
    /// The citizen FranceConnect identified, whose names and e-mail the
    /// form shows and does not let change.
    citizen: Option<&'a Citizen>,
}

/// The fields of the form, in its order (the error summary follows it).
const FORM_ORDER: [&str; 14] = [
    "kinds",
    "scope",
    "grounds",
    "first_name",
    "last_name",
    "email",
    "postal_address",
    "on_behalf_of.first_name",
    "on_behalf_of.last_name",
    "on_behalf_of.relation",
    "mandate",
    "details",
    "subject_ids",
    "id_document",
];

fn form_page(
    req: &HttpRequest,
    rights: &RightsService,
    tenant: &Tenant,
    lang: Locale,
    status: StatusCode,
    view: FormView<'_>,
) -> Result<HttpResponse, PageError> {
    let limits = &rights.settings.requests;
    // Only the rights the tenant offers.
    let kinds: Vec<Value> = Kind::ALL
        .iter()
        .filter(|k| tenant.config.offers(k.as_str()))
        .map(|k| {
            json!({
                "value": k.as_str(),
                "label": k.label(lang),
                "checked": view.kinds.iter().any(|c| c == k.as_str()),
            })
        })
        .collect();
    let relations: Vec<Value> = Relation::ALL
        .iter()
        .map(|r| {
            let value = r.as_str();
            json!({"value": value, "label": text(lang, &format!("relation_{value}"))})
        })
        .collect();
    let errors: HashMap<&str, &str> = view
        .errors
        .iter()
        .map(|(f, m)| (f.as_str(), m.as_str()))
        .collect();
    let summary: Vec<Value> = FORM_ORDER
        .iter()
        .filter_map(|f| errors.get(f).map(|m| json!({"field": f, "message": m})))
        .collect();
    let ctx = json!({
        "tenant": tenant_ctx(rights, tenant, lang),
        "kinds": kinds,
        "relations": relations,
        "values": view.values,
        "errors": errors,
        "summary": summary,
        "global_error": view.global,
        "max_documents": limits.max_documents,
        "max_mib": limits.max_document_bytes / (1024 * 1024),
        "details_max": limits.details_max_chars,
        "max_subject_ids": limits.max_subject_ids,
        "here": format!("/t/{}/droits", tenant.slug),
        "franceconnect": franceconnect::form_ctx(req, view.citizen, &tenant.slug),
    });
    page(req, lang, status, "citizen_form.html", ctx)
}

/// `GET /t/{tenant}/droits`: the form.
async fn form(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let tenant = tenant_of(&rights, &path, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    let values = HashMap::new();
    let citizen = franceconnect::identified(&req, &rights, &tenant.slug);
    let view = FormView {
        values: &values,
        kinds: &[],
        errors: Vec::new(),
        global: franceconnect::notice(&req, lang),
        citizen: citizen.as_ref(),
    };
    form_page(&req, &rights, &tenant, lang, StatusCode::OK, view)
}

/// `POST /t/{tenant}/droits`: checks the form; shown again with its errors
/// beside the fields and the citizen's input kept, or recorded and on to
/// the confirmation.
async fn send(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let tenant = tenant_of(&rights, &path, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    let citizen = franceconnect::identified(&req, &rights, &tenant.slug);
    let refuse = |values: &HashMap<String, String>, kinds: &[String], status, errors, global| {
        let view = FormView {
            values,
            kinds,
            errors,
            global,
            citizen: citizen.as_ref(),
        };
        form_page(&req, &rights, &tenant, lang, status, view)
    };
    if let Some(ip) = client_ip(&req, &rights.settings.server) {
        if rights.submission_limits.check_ip(ip).is_err() {
            let empty = HashMap::new();
            let global = Some(text(lang, "error_rate"));
            return refuse(
                &empty,
                &[],
                StatusCode::TOO_MANY_REQUESTS,
                Vec::new(),
                global,
            );
        }
    }
    let mut intake = Intake::default();
    let limits = &rights.settings.requests;
    let mut errors = Vec::new();
    let rules = FormRules::submission(limits, false);
    if let Err(e) = read_form(
        &req,
        payload,
        &rights.uploads,
        &rules,
        FIELDS,
        true,
        &mut intake,
    )
    .await
    {
        match file_errors(lang, &e, intake.refused_part) {
            Some(found) => errors.extend(found),
            None => return Err(PageError::api(lang, e)),
        }
    }
    // The rights ticked (`kind`, from an older page, counts as one).
    let kinds: Vec<String> = intake
        .fields
        .get("kind")
        .into_iter()
        .chain(intake.lists.get("kinds").into_iter().flatten())
        .cloned()
        .collect();
    // FranceConnect's names and e-mail, whatever the form said.
    if let Some(c) = &citizen {
        intake
            .fields
            .insert("first_name".into(), c.given_name.clone());
        intake
            .fields
            .insert("last_name".into(), c.family_name.clone());
        if let Some(email) = &c.email {
            intake.fields.insert("email".into(), email.clone());
        }
    }
    // Without script the opposition's fields stay on screen for every
    // kind: they count only for an opposition.
    let opposition = kinds.iter().any(|k| k == "opposition");
    if !opposition {
        intake.fields.remove("scope");
        intake.fields.remove("grounds");
    }
    if let Err(e) = Form::parse(&intake.fields, &intake.lists, &FormLimits::of(limits)) {
        errors.extend(field_errors(lang, &ApiError::from(e)).unwrap_or_default());
    }
    // The page's rights are its checkboxes: no right ticked, or a `kind`
    // refused, is told beside them.
    for (field, message) in &mut errors {
        if field == "kind" {
            *field = "kinds".into();
            if kinds.is_empty() {
                *message = text(lang, "err_kinds_required");
            }
        }
    }
    // The files, checked with the fields so that every error shows at once.
    let has_error =
        |errors: &[(String, String)], field: &str| errors.iter().any(|(f, _)| f == field);
    if tenant.config.require_id_document
        && citizen.is_none()
        && !intake.has("id_document")
        && !has_error(&errors, "id_document")
    {
        errors.push(("id_document".into(), text(lang, "err_id_required")));
    }
    let relation = intake.fields.get("on_behalf_of.relation").map(|r| r.trim());
    if relation == Some(Relation::Mandate.as_str())
        && !intake.has("mandate")
        && !has_error(&errors, "mandate")
    {
        errors.push(("mandate".into(), text(lang, "err_mandate_required")));
    }
    // A list is shown again in its text box, one value a line, as read.
    let mut values = intake.fields.clone();
    for (name, list) in &intake.lists {
        values.insert(name.clone(), list.join("\n"));
    }
    if !errors.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        let global = Some(text(lang, "form_has_errors"));
        return refuse(&values, &kinds, status, errors, global);
    }
    let verified = citizen.as_ref().map(Citizen::verified);
    match submit::accept(&rights, tenant.clone(), intake, verified).await {
        Ok(done) => {
            let next = format!(
                "/t/{}/droits/confirmation/{}",
                tenant.slug, done.tracking_token
            );
            Ok(match citizen {
                // The provider's session ends on the way out.
                Some(_) => franceconnect::leave(&req, &rights, &tenant.slug, next),
                None => see_other(next),
            })
        }
        Err(RightsError::TooManyFromAddress { .. } | RightsError::TooManyFromEmail { .. }) => {
            let global = Some(text(lang, "error_rate"));
            refuse(
                &values,
                &kinds,
                StatusCode::TOO_MANY_REQUESTS,
                Vec::new(),
                global,
            )
        }
        Err(e) => {
            let e = ApiError::from(e);
            match field_errors(lang, &e) {
                Some(errors) => {
                    let global = Some(text(lang, "form_has_errors"));
                    refuse(&values, &kinds, e.status, errors, global)
                }
                None => Err(PageError::api(lang, e)),
            }
        }
    }
}

fn status_label(lang: Locale, status: Status) -> String {
    text(lang, &format!("status_{}", status.as_str()))
}

fn tracking_ctx(rights: &RightsService, lang: Locale, tracking: &track::Tracking) -> Value {
    let tz = rights.settings.requests.tz();
    let events: Vec<Value> = tracking
        .events
        .iter()
        .map(|e| {
            let label = match e.event {
                TrackEventKind::IdentityDocumentReceived => {
                    text(lang, "track_event_document_received")
                }
                _ => status_label(lang, e.status),
            };
            json!({
                "status": e.status.as_str(),
                "label": label,
                "at": date_time(e.at, lang, tz),
                "datetime": e.at.to_rfc3339(),
            })
        })
        .collect();
    // Said so, not « Reçue » again as if the request had started over.
    let resumed = tracking
        .resumed_at()
        .map(|at| json!({"at": date(at, lang, tz)}));
    let status_label = match resumed {
        Some(_) => text(lang, "status_resumed"),
        None => status_label(lang, tracking.status),
    };
    // Every request of the submission, one per right, each with its own
    // status and deadline.
    let requests: Vec<Value> = tracking
        .requests
        .iter()
        .map(|r| {
            json!({
                "reference": r.reference,
                "kind_label": r.kind.label(lang),
                "status": r.status.as_str(),
                "status_label": self::status_label(lang, r.status),
                "open": r.status.is_open(),
                "paused": r.status == Status::AwaitingIdentity,
                "due_at": date(r.due_at, lang, tz),
                "extended": r.extended,
                "this": r.reference == tracking.reference,
            })
        })
        .collect();
    let awaiting: Vec<&str> = tracking
        .requests
        .iter()
        .filter(|r| r.status == Status::AwaitingIdentity)
        .map(|r| r.reference.as_str())
        .collect();
    json!({
        "reference": tracking.reference,
        "kind_label": tracking.kind.label(lang),
        "status": tracking.status.as_str(),
        "status_label": status_label,
        "resumed": resumed,
        "received_at": date(tracking.received_at, lang, tz),
        "due_at": date(tracking.due_at, lang, tz),
        "extended": tracking.extended,
        "open": tracking.status.is_open(),
        // The token follows every request of the submission: a document
        // asked for any of them is sent from this page.
        "awaiting_identity": !awaiting.is_empty(),
        "awaiting_references": awaiting,
        "clock_paused": tracking.clock_paused,
        "identity_reason": tracking.identity_reason,
        "events": events,
        "several": requests.len() > 1,
        "requests": requests,
    })
}

/// `GET /t/{tenant}/droits/confirmation/{token}`: the reference to keep.
async fn sent(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let tenant = tenant_of(&rights, &slug, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    let (row, tracking) = tracked(&rights, &tenant, &token, lang).await?;
    // Whether an identity document came with the request, said so rather
    // than that the DPO may ask for one.
    let documents = rights
        .run(move |conn| Ok(crate::rights::store::documents(conn, &row.id)?))
        .await
        .page(lang)?;
    let mut request = tracking_ctx(&rights, lang, &tracking);
    request["has_id_document"] = documents
        .iter()
        .any(|d| d.role == crate::rights::lifecycle::Role::IdDocument)
        .into();
    let ctx = json!({
        "tenant": tenant_ctx(&rights, &tenant, lang),
        "request": request,
        "tracking_url": format!("/t/{}/suivi/{token}", tenant.slug),
    });
    page(&req, lang, StatusCode::OK, "citizen_sent.html", ctx)
}

/// A request found by its tracking token, under its tenant.
struct Tracked<'a> {
    tenant: &'a Tenant,
    token: &'a str,
    tracking: &'a track::Tracking,
}

fn track_page(
    req: &HttpRequest,
    rights: &RightsService,
    lang: Locale,
    status: StatusCode,
    found: &Tracked<'_>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let Tracked {
        tenant,
        token,
        tracking,
    } = found;
    let uploaded = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == "document" && v == "ok");
    let limits = &rights.settings.requests;
    let here = format!("/t/{}/suivi/{token}", tenant.slug);
    let ctx = json!({
        "tenant": tenant_ctx(rights, tenant, lang),
        "request": tracking_ctx(rights, lang, tracking),
        "answers": super::delivery::answers(rights, lang, tracking, &here),
        "upload_url": format!("{here}/document"),
        "here": here,
        "uploaded": uploaded,
        "error": error,
        "max_documents": limits.max_documents,
        "max_mib": limits.max_document_bytes / (1024 * 1024),
    });
    page(req, lang, status, "citizen_track.html", ctx)
}

/// `GET /t/{tenant}/suivi/{token}`: status, timeline, and the upload form
/// while an identity document is awaited.
async fn follow(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let tenant = tenant_of(&rights, &slug, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    let (_, tracking) = tracked(&rights, &tenant, &token, lang).await?;
    let found = Tracked {
        tenant: &tenant,
        token: &token,
        tracking: &tracking,
    };
    track_page(&req, &rights, lang, StatusCode::OK, &found, None)
}

/// `POST /t/{tenant}/suivi/{token}/document`: the identity document asked
/// for; the request goes back to the DPO and its clock runs again.
async fn upload(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let (slug, token) = path.into_inner();
    let tenant = tenant_of(&rights, &slug, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    let (_, tracking) = tracked(&rights, &tenant, &token, lang).await?;
    let found = Tracked {
        tenant: &tenant,
        token: &token,
        tracking: &tracking,
    };
    let refuse =
        |status, message: String| track_page(&req, &rights, lang, status, &found, Some(message));
    let row = match track::awaiting_identity(&rights, &token).await {
        Ok(row) => row,
        Err(RightsError::NotAwaitingIdentity) => {
            return refuse(StatusCode::CONFLICT, text(lang, "err_not_awaiting"))
        }
        Err(e) => return Err(PageError::api(lang, e.into())),
    };
    let mut intake = Intake::default();
    let limits = &rights.settings.requests;
    let rules = FormRules::identity(limits);
    let read = read_form(
        &req,
        payload,
        &rights.uploads,
        &rules,
        &[],
        true,
        &mut intake,
    )
    .await;
    let result = match read {
        Ok(()) => track::receive_documents(&rights, row, intake.documents)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(format!(
            "/t/{}/suivi/{token}?document=ok",
            tenant.slug
        ))),
        Err(e) if e.status == StatusCode::CONFLICT => {
            refuse(StatusCode::CONFLICT, text(lang, "err_not_awaiting"))
        }
        Err(e) => match field_errors(lang, &e).and_then(|f| f.into_iter().next()) {
            Some((_, message)) => refuse(e.status, message),
            None => Err(PageError::api(lang, e)),
        },
    }
}

/// `GET /v1/requests/track/{token}` from a browser: on to the tracking
/// page of the request's tenant (older e-mails carry this address).
pub async fn track_redirect(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let (row, _) = track::find(&rights, &path).await.page(lang)?;
    let slug = rights
        .tenants
        .slug_of(Some(&row.tenant_id))
        .ok_or_else(|| PageError::api(lang, ApiError::not_found("gone")))?;
    Ok(see_other(format!("/t/{slug}/suivi/{}", path.into_inner())))
}
