//! « Saisir une demande reçue par courrier, au guichet ou par téléphone »:
//! the console's form for a request that reached the authority on paper,
//! at the counter or by a call, recorded by the API's own function
//! (`rights::entry::enter`). The date of receipt is typed as people read
//! it off the letter (a day, and the time if known) and becomes an instant
//! in the service's time zone; the answer's clock starts then. A form with
//! faults comes back with each beside its field and what was typed kept
//! (the files are chosen again); nothing is stored until all is right.
//!
//! (Over 400 lines, a sixth of them its tests: the form, the reading of
//! its day of receipt and its faults in words are one page's; split, each
//! part would be read without the fields it serves.)

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::console::{chrome, tenant_choices};
use super::errors::field_message;
use super::render::text;
use super::session::Session;
use super::{page, see_other, PageError};
use crate::error::{ApiError, FieldError};
use crate::rights::arrival::{Channel, Relation};
use crate::rights::entry;
use crate::rights::form::{Form, FormLimits};
use crate::rights::intake::{read_form, FormRules, Intake};
use crate::rights::lifecycle::Kind;
use crate::rights::service::RightsService;
use crate::rights::RightsError;
use crate::tenants::Locale;

const PATH: &str = "/console/requests/new";

/// The fields the page adds to the API's: the session's token, and the
/// day and time of receipt it turns into `received_at`.
const PAGE_FIELDS: &[&str] = &["csrf", "received_date", "received_time"];

/// The fields in the order of the form, as its summary lists them, with
/// the id of the control each links to.
const ORDER: &[(&str, &str)] = &[
    ("tenant", "f-tenant"),
    ("channel", "f-channel"),
    ("received_date", "f-received_date"),
    ("received_time", "f-received_time"),
    ("kinds", "f-kinds"),
    ("scope", "f-scope"),
    ("grounds", "f-grounds"),
    ("first_name", "f-first_name"),
    ("last_name", "f-last_name"),
    ("email", "f-email"),
    ("postal_address", "f-postal_address"),
    ("details", "f-details"),
    ("on_behalf_of.first_name", "f-behalf-first_name"),
    ("on_behalf_of.last_name", "f-behalf-last_name"),
    ("on_behalf_of.relation", "f-behalf-relation"),
    ("mandate", "f-mandate"),
    ("letter", "f-letter"),
    ("id_document", "f-id_document"),
    ("files", "f-letter"),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/requests/new").get(form).post(send));
}

/// What the form shows: the values typed (lists apart) and the faults.
struct FormView {
    values: HashMap<String, String>,
    kinds: Vec<String>,
    errors: Vec<(String, String)>,
}

fn form_page(
    req: &HttpRequest,
    rights: &RightsService,
    session: &Session,
    status: StatusCode,
    view: FormView,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let limits = &rights.settings.requests;
    // The rights the DPO's tenant offers; the choice of an account that
    // serves several is checked when the form is sent.
    let own = session
        .staff
        .sole_tenant()
        .and_then(|id| rights.tenants.by_id(id));
    let kinds: Vec<Value> = Kind::ALL
        .iter()
        .filter(|k| own.as_ref().is_none_or(|t| t.config.offers(k.as_str())))
        .map(|k| {
            json!({
                "value": k.as_str(), "label": k.label(lang),
                "checked": view.kinds.iter().any(|c| c == k.as_str()),
            })
        })
        .collect();
    let channels: Vec<Value> = Channel::STAFF
        .iter()
        .map(|c| json!({"value": c.as_str(), "label": text(lang, &format!("entry_channel_{}", c.as_str()))}))
        .collect();
    let relations: Vec<Value> = Relation::ALL
        .iter()
        .map(|r| json!({"value": r.as_str(), "label": text(lang, &format!("entry_relation_{}", r.as_str()))}))
        .collect();
    // Only an account that serves several tenants chooses one.
    let tenants = tenant_choices(rights, session);
    let errors: HashMap<&str, &str> = view
        .errors
        .iter()
        .map(|(f, m)| (f.as_str(), m.as_str()))
        .collect();
    let mut summary: Vec<Value> = ORDER
        .iter()
        .filter_map(|(field, id)| {
            let message = errors.get(field)?;
            Some(json!({
                "href": format!("#{id}"),
                "label": text(lang, &format!("entry_label_{}", field.replace('.', "_"))),
                "message": message,
            }))
        })
        .collect();
    // A field the form does not have (a form made elsewhere), by its name.
    summary.extend(
        view.errors
            .iter()
            .filter(|(f, _)| !ORDER.iter().any(|(known, _)| known == f))
            .map(|(f, m)| json!({"href": "#f-channel", "label": f, "message": m})),
    );
    let ctx = json!({
        "console": chrome(session, "queue"),
        "kinds": kinds,
        "channels": channels,
        "relations": relations,
        "tenants": tenants,
        "values": view.values,
        "errors": errors,
        "summary": summary,
        "max_documents": limits.max_documents,
        "max_mib": limits.max_document_bytes / (1024 * 1024),
        "details_max": limits.details_max_chars,
        "today": today(rights).format("%Y-%m-%d").to_string(),
        "here": PATH,
    });
    page(req, lang, status, "console_new_request.html", ctx)
}

/// Today, in the service's time zone.
fn today(rights: &RightsService) -> NaiveDate {
    rights
        .clock
        .now()
        .with_timezone(&rights.settings.requests.tz())
        .date_naive()
}

/// `GET /console/requests/new`: the form, received today by post.
async fn form(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
) -> Result<HttpResponse, PageError> {
    let values = HashMap::from([
        ("channel".to_owned(), Channel::Post.as_str().to_owned()),
        (
            "received_date".to_owned(),
            today(&rights).format("%Y-%m-%d").to_string(),
        ),
    ]);
    let view = FormView {
        values,
        kinds: Vec::new(),
        errors: Vec::new(),
    };
    form_page(&req, &rights, &session, StatusCode::OK, view)
}

/// `POST /console/requests/new`: recorded, and on to the request's page
/// (the first of its case); or the form again with its faults, nothing
/// stored.
async fn send(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let limits = &rights.settings.requests;
    let allowed: Vec<&str> = entry::fields()
        .into_iter()
        .chain(PAGE_FIELDS.iter().copied())
        .collect();
    let rules = FormRules::submission(limits, true);
    let mut intake = Intake::default();
    let read = read_form(
        &req,
        payload,
        &rights.uploads,
        &rules,
        &allowed,
        true,
        &mut intake,
    )
    .await;
    // Before anything else: a form without this session's token records
    // nothing and is shown nothing of what it sent (one refused before its
    // token was read, for want of memory or for its shape, is told why).
    let read = match read {
        Err(e) if !intake.fields.contains_key("csrf") => return Err(PageError::api(lang, e)),
        read => read,
    };
    session.check(&intake.fields)?;
    intake.fields.remove("csrf");
    let mut errors: Vec<(String, String)> = Vec::new();
    let read_whole = match read {
        Ok(()) => true,
        Err(e) => {
            errors.extend(read_errors(lang, limits.max_document_bytes, e)?);
            false
        }
    };
    // Without script the opposition's fields stay on screen whatever is
    // checked: they count only for an opposition.
    let kinds = intake.lists.get("kinds").cloned().unwrap_or_default();
    if !kinds.iter().any(|k| k == Kind::Opposition.as_str()) {
        intake.fields.remove("scope");
        intake.fields.remove("grounds");
    }
    let values = intake.fields.clone();
    let tz = limits.tz();
    let given = |name: &str| intake.fields.get(name).map(|v| v.trim()).unwrap_or("");
    match received_at(given("received_date"), given("received_time"), tz) {
        Ok(at) => {
            intake.fields.insert(
                "received_at".into(),
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
        }
        Err((field, key)) => errors.push((field.into(), text(lang, key))),
    }
    let refuse = |errors: Vec<(String, String)>| {
        let view = FormView {
            values: values.clone(),
            kinds: kinds.clone(),
            errors,
        };
        form_page(
            &req,
            &rights,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            view,
        )
    };
    if !read_whole {
        // The files were not all read: the other fields' faults are said
        // all the same, and nothing is recorded.
        let form_limits = FormLimits {
            email_optional: true,
            ..FormLimits::of(limits)
        };
        if let Err(RightsError::Invalid(found)) =
            Form::parse(&intake.fields, &intake.lists, &form_limits)
        {
            errors.extend(found.iter().map(|f| in_words(lang, f)));
        }
        return refuse(errors);
    }
    // A day refused leaves no `received_at`, which `enter` refuses: it
    // then says the other fields' faults, and records nothing.
    let date_refused = !errors.is_empty();
    match entry::enter(&rights, &session.staff, intake).await {
        Ok(done) => Ok(see_other(format!("/console/requests/{}", done.id))),
        Err(RightsError::Invalid(found)) => {
            errors.extend(
                found
                    .iter()
                    // The day typed was refused above already.
                    .filter(|f| !(date_refused && f.field == "received_at"))
                    .map(|f| in_words(lang, f)),
            );
            refuse(errors)
        }
        Err(RightsError::UnknownTenant(_)) => {
            errors.push(("tenant".into(), text(lang, "entry_err_tenant")));
            refuse(errors)
        }
        Err(e) => Err(PageError::api(lang, e.into())),
    }
}

/// The faults of a form whose reading stopped: a file refused (its type,
/// its size, too many), or a field it does not have; anything else is a
/// page of its own.
fn read_errors(
    lang: Locale,
    max_bytes: usize,
    e: ApiError,
) -> Result<Vec<(String, String)>, PageError> {
    let mib = (max_bytes / (1024 * 1024)).to_string();
    match e.status.as_u16() {
        415 => Ok(vec![("files".into(), text(lang, "entry_err_file_type"))]),
        413 => Ok(vec![(
            "files".into(),
            super::render::text_with(lang, "entry_err_file_too_large", &[("mib", &mib)]),
        )]),
        422 => Ok(e.errors.iter().map(|f| in_words(lang, f)).collect()),
        _ => Err(PageError::api(lang, e)),
    }
}

/// A field's fault in words for people, under the name of the control
/// that shows it.
fn in_words(lang: Locale, e: &FieldError) -> (String, String) {
    let m = e.message.as_str();
    let key = match (e.field.as_str(), m) {
        ("tenant", _) => Some("entry_err_tenant"),
        ("channel", _) => Some("entry_err_channel"),
        ("received_at", "must not be in the future") => Some("entry_err_date_future"),
        ("received_at", "must be within the last three months") => Some("entry_err_date_old"),
        ("received_at", _) => Some("entry_err_date"),
        ("kind" | "kinds", "must not name a right twice") => Some("entry_err_kinds_twice"),
        ("kind" | "kinds", m) if m.contains("does not offer") => Some("entry_err_kinds_offered"),
        ("kind" | "kinds", _) => Some("entry_err_kinds"),
        ("on_behalf_of.relation", _) => Some("entry_err_relation"),
        ("mandate", m) if m.starts_with("is required") => Some("entry_err_mandate"),
        ("mandate", m) if m.starts_with("goes with") => Some("entry_err_mandate_alone"),
        ("mandate" | "letter" | "id_document", m) if m.starts_with("at most") => {
            Some("entry_err_too_many")
        }
        _ => None,
    };
    let field = match e.field.as_str() {
        "received_at" => "received_date",
        "kind" => "kinds",
        other => other,
    };
    let message = match key {
        Some(key) => text(lang, key),
        None => field_message(lang, e),
    };
    (field.to_owned(), message)
}

/// The instant of receipt a form gives: its day (as a date control sends
/// it, 2026-02-25, or as people type it, 25/02/2026) and its time if known,
/// in the service's time zone; without a time, the start of that day. Or
/// the field at fault and the key of its message.
fn received_at(
    date: &str,
    time: &str,
    tz: chrono_tz::Tz,
) -> Result<DateTime<Utc>, (&'static str, &'static str)> {
    if date.is_empty() {
        return Err(("received_date", "entry_err_date_required"));
    }
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%d/%m/%Y"))
        .map_err(|_| ("received_date", "entry_err_date"))?;
    let at = match time {
        "" => NaiveTime::MIN,
        t => NaiveTime::parse_from_str(t, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
            .map_err(|_| ("received_time", "entry_err_time"))?,
    };
    let local = NaiveDateTime::new(day, at);
    // A time the clocks skipped (the spring change) is read an hour on.
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .ok_or(("received_time", "entry_err_time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_of_receipt_is_read_in_the_services_time_zone() {
        let paris = chrono_tz::Europe::Paris;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            received_at("2026-02-25", "", paris),
            Ok(at("2026-02-24T23:00:00Z"))
        );
        assert_eq!(
            received_at("25/02/2026", "14:05", paris),
            Ok(at("2026-02-25T13:05:00Z"))
        );
        assert_eq!(
            received_at("2026-07-01", "09:00:00", paris),
            Ok(at("2026-07-01T07:00:00Z"))
        );
        // 02:30 did not happen in Paris on 29 March 2026.
        assert_eq!(
            received_at("2026-03-29", "02:30", paris),
            Ok(at("2026-03-29T01:30:00Z"))
        );
        assert_eq!(
            received_at("", "10:00", paris),
            Err(("received_date", "entry_err_date_required"))
        );
        assert_eq!(
            received_at("2026-02-30", "", paris),
            Err(("received_date", "entry_err_date"))
        );
        assert_eq!(
            received_at("2026-02-25", "25:00", paris),
            Err(("received_time", "entry_err_time"))
        );
    }

    #[test]
    fn the_apis_faults_are_said_beside_the_controls() {
        let fe = |field: &str, message: &str| FieldError {
            field: field.into(),
            message: message.into(),
        };
        let fr = Locale::Fr;
        let (field, message) = in_words(fr, &fe("received_at", "must not be in the future"));
        assert_eq!(field, "received_date");
        assert_eq!(message, text(fr, "entry_err_date_future"));
        let (field, _) = in_words(fr, &fe("kind", "is required"));
        assert_eq!(field, "kinds");
        let (field, message) = in_words(fr, &fe("first_name", "is required"));
        assert_eq!(field, "first_name");
        assert_eq!(message, "Ce champ est obligatoire.");
    }
}
