//! For the DPO: daily counts per purpose (kept after the raw records are
//! purged), and the export of consent events as CSV, streamed page by page
//! so that a million rows take no more memory than one page.

use actix_web::{get, web, HttpResponse};
use chrono::{Duration, NaiveDate, NaiveTime};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::queries::{ConsentEvent, Cursor};
use super::service::ConsentService;
use crate::error::ApiError;
use crate::http::day_range;
use crate::staff::Staff;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day (UTC), `YYYY-MM-DD` between 2000-01-01 and 2199-12-31;
    /// default 30 days before `to`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day (UTC, inclusive), `YYYY-MM-DD` between 2000-01-01 and
    /// 2199-12-31; default today.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// One tenant (slug) among those the account serves (an admin: any);
    /// default all of them.
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
}

impl RangeQuery {
    fn resolve(&self, consent: &ConsentService) -> Result<(NaiveDate, NaiveDate), ApiError> {
        day_range(
            self.from.as_deref(),
            self.to.as_deref(),
            consent.clock.now().date_naive(),
            |to| to - Duration::days(30),
            i64::from(consent.settings.stats_max_days),
        )
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyItem {
    #[schema(format = Date)]
    pub day: String,
    pub tenant: String,
    pub purpose_id: String,
    pub accepted: i64,
    pub refused: i64,
    /// Consents withdrawn that day which had accepted this purpose.
    pub withdrawn: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub items: Vec<DailyItem>,
}

/// Accepted and refused counts per day (UTC) and purpose.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "Counts per day and purpose.", body = Stats),
        (status = 422, description = "A date that is not a day between 2000-01-01 and 2199-12-31, or an invalid range."),
    )
)]
#[get("/v1/dpo/consents/stats")]
pub async fn stats(
    staff: Staff,
    consent: web::Data<ConsentService>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = query.resolve(&consent)?;
    let scope = staff
        .list_scope(&consent.tenants, query.tenant.as_deref())?
        .to_ids();
    let rows = consent
        .store
        .daily_counts(scope, from.to_string(), to.to_string())
        .await?;
    let items = rows
        .into_iter()
        .map(|r| DailyItem {
            tenant: consent
                .tenants
                .slug_of(Some(&r.tenant_id))
                .unwrap_or(r.tenant_id),
            day: r.day,
            purpose_id: r.purpose_id,
            accepted: r.accepted,
            refused: r.refused,
            withdrawn: r.withdrawn,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Stats {
        from: from.to_string(),
        to: to.to_string(),
        items,
    }))
}

const CSV_HEADER: [&str; 12] = [
    "consent_id",
    "tenant",
    "subject_id",
    "event",
    "at",
    "policy_version",
    "choices",
    "expires_at",
    "gpc",
    "page_url",
    "ip_pseudonym",
    "receipt",
];

fn csv_page(
    consent: &ConsentService,
    rows: &[ConsentEvent],
    header: bool,
) -> Result<web::Bytes, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 1100));
    if header {
        out.write_record(CSV_HEADER).map_err(ApiError::internal)?;
    }
    let time = |t: chrono::NaiveDateTime| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    };
    for r in rows {
        let slug = consent
            .tenants
            .slug_of(Some(&r.tenant_id))
            .unwrap_or_else(|| r.tenant_id.clone());
        out.write_record([
            r.id.as_str(),
            slug.as_str(),
            r.subject_id.as_str(),
            r.event.as_str(),
            time(r.at).as_str(),
            r.policy_version.as_str(),
            r.choices.as_str(),
            r.expires_at.map(time).unwrap_or_default().as_str(),
            if r.gpc { "true" } else { "false" },
            r.page_url.as_deref().unwrap_or(""),
            r.ip_pseudonym.as_deref().unwrap_or(""),
            r.receipt.as_deref().unwrap_or(""),
        ])
        .map_err(ApiError::internal)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok(web::Bytes::from(bytes))
}

/// One CSV row per consent event (given or withdrawn), oldest first.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "CSV, streamed.", body = String, content_type = "text/csv"),
        (status = 422, description = "A date that is not a day between 2000-01-01 and 2199-12-31, or an invalid range."),
    )
)]
#[get("/v1/dpo/consents/export")]
pub async fn export(
    staff: Staff,
    consent: web::Data<ConsentService>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    export_csv(staff, consent, query.into_inner()).await
}

/// The export as CSV, streamed: the API's and the console's.
pub async fn export_csv(
    staff: Staff,
    consent: web::Data<ConsentService>,
    query: RangeQuery,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = query.resolve(&consent)?;
    let scope = staff
        .list_scope(&consent.tenants, query.tenant.as_deref())?
        .to_ids();
    let start = from.and_time(NaiveTime::MIN);
    let end = (to + Duration::days(1)).and_time(NaiveTime::MIN);
    let page = consent.settings.export_page_rows;
    let filename = format!("consents-{from}-{to}.csv");
    // Each page is read while the one before is written out: the next
    // read starts as soon as a page is in hand.
    let read = move |cursor: Cursor| {
        let consent = consent.clone();
        let scope = scope.clone();
        actix_web::rt::spawn(async move {
            let rows = consent
                .store
                .export_page(scope, (start, end), cursor, page)
                .await;
            (consent, rows)
        })
    };
    struct Walk<R> {
        reading: Option<actix_web::rt::task::JoinHandle<R>>,
        first: bool,
    }
    let first = Walk {
        reading: Some(read(None)),
        first: true,
    };
    let body = stream::unfold(first, move |mut walk| {
        let read = read.clone();
        async move {
            let reading = walk.reading.take()?;
            let failed = |e: &dyn std::fmt::Display| {
                tracing::error!(error = %e, "consent export stopped");
                Some((
                    Err(actix_web::error::ErrorInternalServerError("export failed")),
                    Walk {
                        reading: None,
                        first: false,
                    },
                ))
            };
            let (consent, rows) = match reading.await {
                Ok((consent, Ok(rows))) => (consent, rows),
                Ok((_, Err(e))) => return failed(&e),
                Err(e) => return failed(&e),
            };
            // A page may hold fewer than `page` events before the end
            // (SQLite's files, several tenants): done after an empty one.
            walk.reading = rows.last().map(|last| read(Some(last)));
            // Its events are made and written out on another thread while
            // the next page is read.
            let header = walk.first;
            walk.first = false;
            let written = actix_web::rt::task::spawn_blocking(move || {
                let events = rows.events().map_err(ApiError::internal)?;
                csv_page(&consent, &events, header)
            })
            .await;
            match written {
                Ok(bytes) => Some((bytes.map_err(actix_web::Error::from), walk)),
                Err(e) => failed(&e),
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header(("cache-control", "no-store"))
        .streaming(body))
}
