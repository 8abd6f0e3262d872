//! `GET /console/reports`: the figures of the DPO's annual report, per
//! tenant and right over a chosen period (the API's
//! `/v1/dpo/reports/requests`, same function), and `GET
//! /console/reports/export`, the same figures as a CSV file. A day that is
//! not one, or a period the report refuses, is shown beside its field.

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::console::{chrome, tenant_choices, tenant_name};
use super::errors::field_errors;
use super::render::{date, text, text_with};
use super::session::Session;
use super::{page, PageError};
use crate::http::parse_day;
use crate::rights::report::{self, Report, ReportQuery};
use crate::rights::service::RightsService;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reports").get(report_page))
        .service(web::resource("/reports/export").get(export));
}

/// The fields of the form, in its order.
const FIELDS: [&str; 3] = ["from", "to", "tenant"];

/// The form's values: those given, not blank.
fn asked(req: &HttpRequest) -> BTreeMap<String, String> {
    let mut values = super::insight::query(req);
    values.retain(|k, _| FIELDS.contains(&k.as_str()));
    values
}

/// The report asked for, or the errors of the form's fields (an error of
/// another kind is the page's).
async fn read(
    rights: &RightsService,
    session: &Session,
    values: &BTreeMap<String, String>,
    tenants: &[Value],
) -> Result<Result<Report, Vec<(String, String)>>, PageError> {
    let lang = session.lang;
    let mut errors = Vec::new();
    // Each day on its own: text that is no date is its field's error too.
    for field in ["from", "to"] {
        if parse_day(field, values.get(field).map(String::as_str)).is_err() {
            errors.push((field.to_owned(), text(lang, "err_day")));
        }
    }
    // Only an account that serves several tenants chooses.
    let tenant = values.get("tenant").filter(|_| !tenants.is_empty());
    if tenant.is_some_and(|slug| !tenants.iter().any(|t| t["slug"] == slug.as_str())) {
        errors.push(("tenant".into(), text(lang, "report_err_tenant")));
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let query = ReportQuery {
        from: values.get("from").cloned(),
        to: values.get("to").cloned(),
        tenant: tenant.cloned(),
    };
    match report::report(rights, &session.staff, &query).await {
        Ok(report) => Ok(Ok(report)),
        Err(e) => match field_errors(lang, &e) {
            Some(found) if !found.is_empty() => Ok(Err(found)),
            _ => Err(PageError::api(lang, e)),
        },
    }
}

/// `GET /console/reports?from=&to=&tenant=`: the form and the table.
async fn report_page(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let values = asked(&req);
    let tenants = tenant_choices(&rights, &session);
    let (report, errors) = match read(&rights, &session, &values, &tenants).await? {
        Ok(report) => (Some(report), Vec::new()),
        Err(errors) => (None, errors),
    };
    let mut shown = values.clone();
    if let Some(r) = &report {
        shown.insert("from".into(), r.from.clone());
        shown.insert("to".into(), r.to.clone());
    }
    let rows: Vec<Value> = report
        .iter()
        .flat_map(|r| &r.rows)
        .map(|row| {
            let tenant = tenant_name(&rights, &row.tenant);
            json!({
                "tenant": tenant,
                "kind_label": row.kind.label(lang),
                "kind": row.kind.as_str(),
                "received": row.received,
                "answered": row.answered,
                "rejected": row.rejected,
                "overdue": row.overdue,
                "extended": row.extended,
                "median_days": row.median_days,
                "p90_days": row.p90_days,
            })
        })
        .collect();
    let csv_url = report.as_ref().map(|r| {
        let mut query = vec![("from", r.from.as_str()), ("to", r.to.as_str())];
        if let Some(tenant) = values.get("tenant").filter(|_| !tenants.is_empty()) {
            query.push(("tenant", tenant));
        }
        format!(
            "/console/reports/export?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        )
    });
    // The days as people write them (noon UTC is that day in Europe).
    let day = |d: &str| {
        d.parse::<chrono::NaiveDate>()
            .ok()
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map_or_else(
                || d.to_owned(),
                |at| date(at.and_utc(), lang, chrono_tz::UTC),
            )
    };
    let caption = report.as_ref().map(|r| {
        let (from, to) = (day(&r.from), day(&r.to));
        text_with(lang, "report_caption", &[("from", &from), ("to", &to)])
    });
    let summary: Vec<Value> = errors
        .iter()
        .map(|(field, message)| {
            json!({
                "href": format!("#f-{field}"),
                "label": text(lang, &format!("report_{field}")),
                "message": message,
            })
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let errors: BTreeMap<String, String> = errors.into_iter().collect();
    let ctx = json!({
        "console": chrome(&session, "reports"),
        "values": shown, "errors": errors, "summary": summary,
        "tenants": tenants, "rows": rows, "caption": caption, "csv_url": csv_url,
        "max_days": rights.settings.requests.report_max_days,
    });
    page(&req, lang, status, "console_reports.html", ctx)
}

/// `GET /console/reports/export?from=&to=&tenant=`: the figures as CSV, a
/// file to save.
async fn export(
    req: HttpRequest,
    session: Session,
    rights: web::Data<RightsService>,
) -> Result<HttpResponse, PageError> {
    let values = asked(&req);
    let tenants = tenant_choices(&rights, &session);
    let report = match read(&rights, &session, &values, &tenants).await? {
        Ok(report) => report,
        // The page's link is always right: a hand-made one gets the page,
        // with its errors.
        Err(_) => {
            let query = serde_urlencoded::to_string(&values).unwrap_or_default();
            return Ok(super::see_other(format!("/console/reports?{query}")));
        }
    };
    let name = format!("demandes-{}-{}.csv", report.from, report.to);
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        ))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(report::to_csv(&report.rows)))
}
