//! `GET /v1/dpo/reports/requests`: the figures of the DPO's annual report
//! (per tenant and right, over a period): requests received, answered,
//! rejected, answered late or still open past their deadline, extended,
//! and how many days answering took (median, 90th percentile). As JSON, or
//! CSV with `Accept: text/csv`.

use std::collections::BTreeMap;

use actix_web::http::header::ACCEPT;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::lifecycle::{Kind, Status};
use super::service::RightsService;
use crate::db::schema::rights_requests as requests;
use crate::error::ApiError;
use crate::http::day_range;
use crate::staff::Staff;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day of receipt (UTC), `YYYY-MM-DD` between 2000-01-01 and
    /// 2199-12-31; default the first of January of `to`'s year.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day of receipt (UTC, inclusive); default today. At most
    /// `requests.report_max_days` (1100) days after `from`.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// One tenant (slug) among those the account serves (an admin: any);
    /// default all of them.
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
}

/// The requests of one tenant and right received over the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRow {
    pub tenant: String,
    pub kind: Kind,
    pub received: i64,
    /// Completed.
    pub answered: i64,
    pub rejected: i64,
    /// Closed after their deadline, or still open past it.
    pub overdue: i64,
    /// Whose deadline was extended.
    pub extended: i64,
    /// Days from receipt to closure of those closed (completed or
    /// rejected), rounded up; none when none is closed.
    pub median_days: Option<i64>,
    pub p90_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub rows: Vec<ReportRow>,
}

/// What a report reads of a request.
type Reading = (
    String,
    Kind,
    Status,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    bool,
);

/// The figures of the requests received over a period, per tenant and right.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "Per tenant and right; CSV with `Accept: text/csv`.", body = Report,
         content((Report = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A date that is not a day between 2000-01-01 and 2199-12-31, or an invalid range."),
    )
)]
#[get("/v1/dpo/reports/requests")]
pub async fn requests_report(
    req: HttpRequest,
    staff: Staff,
    rights: web::Data<RightsService>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = report(&rights, &staff, &query).await?;
    let csv = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("cache-control", "no-store"))
            .body(to_csv(&report.rows)));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(report))
}

/// The report a staff member may read (its tenants, or an admin's every
/// one; or the one of them asked for).
pub async fn report(
    rights: &RightsService,
    staff: &Staff,
    query: &ReportQuery,
) -> Result<Report, ApiError> {
    let now = rights.clock.now();
    let (from, to) = day_range(
        query.from.as_deref(),
        query.to.as_deref(),
        now.date_naive(),
        |to| NaiveDate::from_yo_opt(to.year(), 1).unwrap_or(to),
        i64::from(rights.settings.requests.report_max_days),
    )?;
    let scope = staff
        .list_scope(&rights.tenants, query.tenant.as_deref())?
        .to_ids();
    let (start, end) = (
        from.and_hms_opt(0, 0, 0).unwrap_or_default(),
        (to + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default(),
    );
    let read: Vec<Reading> = rights
        .run(move |conn| {
            let mut q = requests::table
                .filter(requests::received_at.ge(start))
                .filter(requests::received_at.lt(end))
                .into_boxed();
            if let Some(ids) = scope {
                q = q.filter(requests::tenant_id.eq_any(ids));
            }
            Ok(q.select((
                requests::tenant_id,
                requests::kind,
                requests::status,
                requests::received_at,
                requests::due_at,
                requests::closed_at,
                requests::extended,
            ))
            .load(conn)?)
        })
        .await
        .map_err(ApiError::from)?;
    let now = now.naive_utc();
    let mut groups: BTreeMap<(String, &'static str), (ReportRow, Vec<i64>)> = BTreeMap::new();
    for (tenant_id, kind, status, received_at, due_at, closed_at, extended) in read {
        let tenant = rights
            .tenants
            .slug_of(Some(&tenant_id))
            .unwrap_or(tenant_id);
        let (row, days) = groups
            .entry((tenant.clone(), kind.as_str()))
            .or_insert_with(|| {
                (
                    ReportRow {
                        tenant,
                        kind,
                        received: 0,
                        answered: 0,
                        rejected: 0,
                        overdue: 0,
                        extended: 0,
                        median_days: None,
                        p90_days: None,
                    },
                    Vec::new(),
                )
            });
        row.received += 1;
        row.answered += i64::from(status == Status::Completed);
        row.rejected += i64::from(status == Status::Rejected);
        row.extended += i64::from(extended);
        row.overdue += i64::from(closed_at.unwrap_or(now) > due_at);
        if let Some(closed) = closed_at {
            let seconds = (closed - received_at).num_seconds().max(0);
            days.push((seconds + 86_399) / 86_400);
        }
    }
    let rows = groups
        .into_values()
        .map(|(mut row, mut days)| {
            days.sort_unstable();
            row.median_days = percentile(&days, 50);
            row.p90_days = percentile(&days, 90);
            row
        })
        .collect();
    Ok(Report {
        from: from.to_string(),
        to: to.to_string(),
        rows,
    })
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

const CSV_HEADER: &str =
    "tenant,kind,received,answered,rejected,overdue,extended,median_days,p90_days";

/// The rows as CSV, one line per tenant and right, under a header line.
pub fn to_csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.tenant,
            r.kind.as_str(),
            r.received,
            r.answered,
            r.rejected,
            r.overdue,
            r.extended,
            number(r.median_days),
            number(r.p90_days),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_by_nearest_rank() {
        let days = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&days, 50), Some(5));
        assert_eq!(percentile(&days, 90), Some(9));
        assert_eq!(percentile(&[12], 90), Some(12));
        assert_eq!(percentile(&[], 50), None);
    }
}
