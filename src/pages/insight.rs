//! What the DPO reads besides the queue: consent statistics as a chart per
//! purpose, the retention sweeps, and the audit log.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{json, Value};

use super::chart::{self, Series};
use super::console::chrome;
use super::errors::OrPage;
use super::render::{date_time, text, text_or, text_with};
use super::session::Session;
use super::{page, PageError};
use crate::audit::{self, Filter};
use crate::consent::stats::RangeQuery;
use crate::consent::ConsentService;
use crate::error::ApiError;
use crate::http::{parse_day, PageQuery, FIRST_DAY, LAST_DAY};
use crate::retention::RetentionService;
use crate::rights::service::RightsService;
use crate::staff::{Staff, StaffService};
use crate::tenants::Locale;

/// Days the statistics show when no period is asked, today included.
const STATS_DEFAULT_DAYS: i64 = 30;
/// Entries per page of the audit log.
const AUDIT_PAGE_SIZE: u32 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/stats").get(stats))
        .service(web::resource("/stats/export").get(export))
        .service(web::resource("/audit").get(audit_log))
        .service(web::resource("/retention").get(retention));
}

/// The query's values, those left blank left out.
pub(super) fn query(req: &HttpRequest) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `GET /console/stats?from=&to=`: accepted and refused consents per day,
/// one chart per purpose (SVG drawn here), with the figures as a table.
async fn stats(
    req: HttpRequest,
    session: Session,
    consent: web::Data<ConsentService>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let q = query(&req);
    // A day outside the years the statistics can hold is refused (422),
    // as the JSON API refuses it; a range that is merely too long or
    // backwards is replaced by the default one, with a note.
    // A field the form left empty is no day given.
    let given = |name: &str| q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let day = |name: &str| parse_day(name, given(name)).page(lang);
    let (to, from) = (day("to")?, day("from")?);
    let today = consent.clock.now().date_naive().clamp(FIRST_DAY, LAST_DAY);
    let default_from = |to: NaiveDate| (to - Duration::days(STATS_DEFAULT_DAYS - 1)).max(FIRST_DAY);
    let max = i64::from(consent.settings.stats_max_days).max(1);
    let mut to = to.unwrap_or(today);
    let mut from = from.unwrap_or_else(|| default_from(to));
    let mut note = None;
    if from > to || (to - from).num_days() >= max {
        note = Some(text_with(
            lang,
            "stats_range_fixed",
            &[("n", &max.to_string())],
        ));
        to = today;
        from = default_from(to);
    }
    let scope = session
        .staff
        .list_scope(&consent.tenants, None)
        .page(lang)?
        .to_ids();
    let rows = consent
        .store
        .daily_counts(scope, from.to_string(), to.to_string())
        .await
        .map_err(ApiError::from)
        .page(lang)?;
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    // (tenant, purpose) → day → (accepted, refused)
    let mut per: BTreeMap<(String, String), BTreeMap<String, (i64, i64)>> = BTreeMap::new();
    for r in rows {
        let e = per
            .entry((r.tenant_id.clone(), r.purpose_id.clone()))
            .or_default()
            .entry(r.day.clone())
            .or_default();
        e.0 += r.accepted;
        e.1 += r.refused;
    }
    // In the order of each tenant's policy; essential purposes, always
    // accepted, tell nothing and are left out.
    let mut listed: Vec<_> = per
        .iter()
        .filter_map(|((tenant_id, purpose), by_day)| {
            let tenant = consent.tenants.by_id(tenant_id);
            let declared = tenant.as_ref().and_then(|t| {
                t.config
                    .consent
                    .purposes
                    .iter()
                    .position(|p| &p.id == purpose)
                    .map(|i| (i, t.config.consent.purposes[i].clone()))
            });
            if declared.as_ref().is_some_and(|(_, p)| p.essential) {
                return None;
            }
            let slug = tenant.as_ref().map(|t| t.slug.clone()).unwrap_or_default();
            let order = declared.as_ref().map_or(usize::MAX, |(i, _)| *i);
            let name = declared.map_or_else(|| purpose.clone(), |(_, p)| p.name);
            Some(((slug, order), name, by_day))
        })
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let charts: Vec<Value> = listed
        .into_iter()
        .map(|((slug, _), name, by_day)| {
            let title = if session.staff.serves_several() {
                format!("{name} ({slug})")
            } else {
                name
            };
            let values = |pick: fn(&(i64, i64)) -> i64| -> Vec<i64> {
                days.iter()
                    .map(|d| by_day.get(&d.to_string()).map(pick).unwrap_or(0))
                    .collect()
            };
            let accepted = values(|v| v.0);
            let refused = values(|v| v.1);
            let svg = chart::lines(
                &title,
                &days,
                &[
                    Series {
                        label: text(lang, "stats_accepted"),
                        values: &accepted,
                        class: "accepted",
                    },
                    Series {
                        label: text(lang, "stats_refused"),
                        values: &refused,
                        class: "refused",
                    },
                ],
            );
            let table: Vec<Value> = days
                .iter()
                .zip(accepted.iter().zip(&refused))
                .filter(|(_, (a, r))| **a > 0 || **r > 0)
                .map(|(d, (a, r))| json!({"day": d.to_string(), "accepted": a, "refused": r}))
                .collect();
            json!({
                "title": title, "svg": svg, "rows": table,
                "accepted": accepted.iter().sum::<i64>(), "refused": refused.iter().sum::<i64>(),
            })
        })
        .collect();
    let ctx = json!({
        "console": chrome(&session, "stats"),
        "from": from.to_string(), "to": to.to_string(),
        "note": note, "charts": charts,
    });
    page(&req, lang, StatusCode::OK, "console_stats.html", ctx)
}

/// `GET /console/stats/export?from=&to=`: the proofs of consent as CSV,
/// streamed by the JSON API's own export.
async fn export(
    req: HttpRequest,
    session: Session,
    consent: web::Data<ConsentService>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let mut q = query(&req);
    let range = RangeQuery {
        from: q.remove("from"),
        to: q.remove("to"),
        tenant: None,
    };
    crate::consent::stats::export_csv(session.staff, consent, range)
        .await
        .page(lang)
}

/// One retention sweep, as the console lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionRun {
    pub started_at: String,
    pub finished_at: Option<String>,
    pub as_of: String,
    pub status: String,
    pub trigger: String,
    pub failed: bool,
    /// What was removed: (tenant and kind of data, count).
    pub removed: Vec<(String, i64)>,
}

/// The latest retention sweeps the staff member may see, newest first,
/// with what each removed of the member's tenants (of every tenant for an
/// admin).
pub async fn retention_runs(
    retention: &RetentionService,
    tz: Tz,
    staff: &Staff,
    lang: Locale,
) -> Result<Vec<RetentionRun>, ApiError> {
    let scope = crate::retention::http::named(
        &retention.tenants,
        &staff.list_scope(&retention.tenants, None)?,
    );
    let tenants = retention.tenants.clone();
    let (items, _) = retention
        .db
        .run(move |conn| {
            Ok(crate::retention::runs::list(
                conn,
                scope.as_deref(),
                |id| tenants.slug_of(Some(id)),
                0,
                50,
            )?)
        })
        .await?;
    let several = staff.serves_several();
    Ok(items
        .into_iter()
        .map(|run| RetentionRun {
            started_at: date_time(run.started_at, lang, tz),
            finished_at: run.finished_at.map(|t| date_time(t, lang, tz)),
            as_of: date_time(run.as_of, lang, tz),
            status: text_or(
                lang,
                &format!("retention_status_{}", run.status),
                &run.status,
            ),
            trigger: text_or(
                lang,
                &format!("retention_trigger_{}", run.trigger),
                &run.trigger,
            ),
            failed: run.status == crate::retention::runs::status::FAILED,
            removed: run
                .removed
                .iter()
                .flat_map(|(slug, counts)| {
                    counts.iter().map(move |(category, n)| {
                        let what =
                            text_or(lang, &format!("retention_category_{category}"), category);
                        let label = if several {
                            format!("{slug} — {what}")
                        } else {
                            what
                        };
                        (label, *n)
                    })
                })
                .collect(),
        })
        .collect())
}

/// `GET /console/retention`.
async fn retention(
    req: HttpRequest,
    session: Session,
    retention: web::Data<RetentionService>,
    rights: web::Data<RightsService>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let tz = rights.settings.requests.tz();
    let runs = retention_runs(&retention, tz, &session.staff, lang)
        .await
        .page(lang)?;
    let ctx = json!({"console": chrome(&session, "retention"), "runs": runs});
    page(&req, lang, StatusCode::OK, "console_retention.html", ctx)
}

const AUDIT_FAMILIES: [&str; 5] = ["login", "document", "request", "user", "retention"];

/// `GET /console/audit?kind=&page=`: connections and staff actions, newest
/// first.
async fn audit_log(
    req: HttpRequest,
    session: Session,
    staff: web::Data<StaffService>,
    rights: web::Data<RightsService>,
) -> Result<HttpResponse, PageError> {
    let lang = session.lang;
    let q = query(&req);
    let kind = q
        .get("kind")
        .filter(|k| AUDIT_FAMILIES.contains(&k.as_str()))
        .cloned();
    let (page_no, per_page, offset) = PageQuery {
        page: q
            .get("page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1),
        per_page: Some(AUDIT_PAGE_SIZE),
    }
    .resolve(&staff.limits)
    .page(lang)?;
    let filter = Filter {
        tenant_ids: session
            .staff
            .list_scope(&staff.tenants, None)
            .page(lang)?
            .to_ids(),
        from: None,
        to: None,
        kind: kind.clone(),
    };
    let tenants = staff.tenants.clone();
    let (items, total) = staff
        .db
        .run(move |conn| {
            let slug_of = |id: &str| tenants.slug_of(Some(id));
            audit::list(conn, &filter, slug_of, offset, i64::from(per_page))
        })
        .await
        .page(lang)?;
    let tz = rights.settings.requests.tz();
    let entries: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "at": date_time(i.at, lang, tz),
                "datetime": i.at.to_rfc3339(),
                "kind": i.kind,
                "label": text_or(lang, &format!("audit_{}", i.kind.replace('.', "_")), &i.kind),
                "actor": i.actor.as_ref().map(|a| a.email.clone()).or_else(|| {
                    i.actor_pseudonym.as_ref().map(|p| {
                        text_with(lang, "audit_deleted_actor", &[("who", p.as_str())])
                    })
                }),
                "tenant": i.tenant,
                "subject": i.subject_id,
                "network": i.ip_pseudonym.as_deref().map(|p| p.chars().take(12).collect::<String>()),
            })
        })
        .collect();
    let last = (total.max(1) as u64).div_ceil(u64::from(per_page)) as u32;
    let link = |p: u32| {
        let mut all: Vec<(&str, String)> = Vec::new();
        if let Some(k) = &kind {
            all.push(("kind", k.clone()));
        }
        all.push(("page", p.to_string()));
        format!(
            "/console/audit?{}",
            serde_urlencoded::to_string(&all).unwrap_or_default()
        )
    };
    let ctx = json!({
        "console": chrome(&session, "audit"),
        "entries": entries, "total": total, "page": page_no, "last_page": last,
        "prev_url": (page_no > 1).then(|| link(page_no - 1)),
        "next_url": (page_no < last).then(|| link(page_no + 1)),
        "kind": kind, "families": AUDIT_FAMILIES,
        "several": session.staff.serves_several(),
    });
    page(&req, lang, StatusCode::OK, "console_audit.html", ctx)
}
