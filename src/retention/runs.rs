//! The record every sweep leaves: what started it, as of when, what it
//! removed per tenant and category (written in the transaction of each
//! batch, so it is exact even for a sweep killed halfway), how it ended.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::RetentionError;
use crate::audit::{self, kind};
use crate::db::schema::retention_runs as runs;
use crate::db::DbConnection;
use crate::error::ApiError;

/// Counts of removed records: tenant slug (or `platform` for records of no
/// tenant) → category → count.
pub type Removed = BTreeMap<String, BTreeMap<String, i64>>;

/// The scope of records that belong to no tenant (admins' sign-ins, test
/// messages).
pub const PLATFORM: &str = "platform";

pub mod status {
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const INTERRUPTED: &str = "interrupted";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The scheduler inside `guichet serve`.
    Schedule,
    /// `guichet purge`.
    Cli,
    /// The scheduler finishing the work of an interrupted sweep.
    Resume,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Cli => "cli",
            Self::Resume => "resume",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = runs)]
pub struct RunRow {
    pub id: String,
    pub trigger: String,
    pub slot: Option<String>,
    pub tenant_id: Option<String>,
    pub as_of: NaiveDateTime,
    pub status: String,
    pub removed: String,
    pub error: Option<String>,
    pub started_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

impl RunRow {
    pub fn removed(&self) -> Removed {
        serde_json::from_str(&self.removed).unwrap_or_default()
    }
}

pub struct NewRun<'a> {
    pub trigger: Trigger,
    pub slot: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub as_of: DateTime<Utc>,
}

pub fn start(conn: &mut DbConnection, new: NewRun<'_>, now: NaiveDateTime) -> QueryResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(runs::table)
        .values(RunRow {
            id: id.clone(),
            trigger: new.trigger.as_str().to_owned(),
            slot: new.slot.map(str::to_owned),
            tenant_id: new.tenant_id.map(str::to_owned),
            as_of: new.as_of.naive_utc(),
            status: status::RUNNING.to_owned(),
            removed: "{}".to_owned(),
            error: None,
            started_at: now,
            heartbeat_at: now,
            finished_at: None,
        })
        .execute(conn)?;
    Ok(id)
}

/// Writes the counts so far; called inside the transaction of a batch.
pub fn progress(
    conn: &mut DbConnection,
    id: &str,
    removed: &Removed,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(runs::table.find(id))
        .set((
            runs::removed.eq(to_json(removed)),
            runs::heartbeat_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

fn to_json(removed: &Removed) -> String {
    serde_json::to_string(removed).unwrap_or_else(|_| "{}".into())
}

/// Closes a run and journals it, once per tenant it removed something of
/// (and once for the platform), so that each DPO sees it in the audit log.
pub fn finish(
    conn: &mut DbConnection,
    id: &str,
    outcome: &str,
    error: Option<&str>,
    now: NaiveDateTime,
    tenant_ids: &BTreeMap<String, String>,
) -> Result<(), RetentionError> {
    crate::db::write_transaction(conn, |conn| {
        diesel::update(runs::table.find(id))
            .set((
                runs::status.eq(outcome),
                runs::error.eq(error),
                runs::finished_at.eq(Some(now)),
                runs::heartbeat_at.eq(now),
            ))
            .execute(conn)?;
        let row: RunRow = runs::table
            .find(id)
            .select(RunRow::as_select())
            .first(conn)?;
        journal(conn, &row, tenant_ids, now)
    })
}

fn journal(
    conn: &mut DbConnection,
    row: &RunRow,
    tenant_ids: &BTreeMap<String, String>,
    now: NaiveDateTime,
) -> Result<(), RetentionError> {
    let removed = row.removed();
    let mut scopes: Vec<Option<&str>> = match &row.tenant_id {
        Some(t) => vec![Some(t.as_str())],
        None => tenant_ids.values().map(|id| Some(id.as_str())).collect(),
    };
    if row.tenant_id.is_none() {
        scopes.push(None);
    }
    for tenant_id in scopes {
        let slug = match tenant_id {
            Some(id) => tenant_ids
                .iter()
                .find(|(_, i)| i.as_str() == id)
                .map(|(s, _)| s.as_str())
                .unwrap_or_default(),
            None => PLATFORM,
        };
        let detail = serde_json::json!({
            "trigger": row.trigger,
            "status": row.status,
            "as_of": row.as_of.and_utc(),
            "removed": removed.get(slug).cloned().unwrap_or_default(),
        });
        audit::record(
            conn,
            audit::Entry {
                tenant_id,
                kind: kind::RETENTION_RUN,
                subject_id: Some(&row.id),
                detail: Some(detail),
                ..Default::default()
            },
            now,
        )
        .map_err(|e| RetentionError::Failed(ApiError::from(e).detail))?;
    }
    Ok(())
}

/// Marks `interrupted` every run still `running`. Call it only while
/// holding the sweep lock: then no such run is really running any more.
pub fn close_interrupted(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    tenant_ids: &BTreeMap<String, String>,
) -> Result<Vec<RunRow>, RetentionError> {
    let stale: Vec<RunRow> = runs::table
        .filter(runs::status.eq(status::RUNNING))
        .select(RunRow::as_select())
        .load(conn)?;
    for row in &stale {
        finish(
            conn,
            &row.id,
            status::INTERRUPTED,
            Some("the process stopped before the sweep ended"),
            now,
            tenant_ids,
        )?;
    }
    Ok(stale)
}

pub fn any_running(conn: &mut DbConnection) -> QueryResult<bool> {
    let n: i64 = runs::table
        .filter(runs::status.eq(status::RUNNING))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// The runs and counts of one tenant (by slug) among those the account
    /// serves (an admin: any); default all of them.
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

/// One sweep as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunItem {
    pub id: String,
    #[schema(example = "schedule")]
    pub trigger: String,
    /// `running`, `completed`, `failed` or `interrupted` (the process
    /// stopped; the next sweep finished the work).
    pub status: String,
    /// The instant the periods were counted to.
    pub as_of: DateTime<Utc>,
    /// The slot of the schedule, for scheduled runs.
    pub slot: Option<String>,
    /// Set when the run was limited to one tenant.
    pub tenant: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a run failed.
    pub error: Option<String>,
    /// What it removed: tenant → category → count. A DPO sees only its
    /// own tenant.
    #[schema(value_type = Object, example = json!({"sevres": {"consent_events": 1200, "id_documents": 3}}))]
    pub removed: Removed,
    /// The sum of `removed`.
    pub total: i64,
}

/// Runs newest first. With `scope` (tenants as (id, slug)), only the runs
/// that concerned those tenants (every tenant's, or one of theirs), with
/// their counts alone.
pub fn list(
    conn: &mut DbConnection,
    scope: Option<&[(String, String)]>,
    slug_of: impl Fn(&str) -> Option<String>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<RunItem>, i64), RetentionError> {
    type Backend = <DbConnection as diesel::Connection>::Backend;
    let query = || {
        let mut q: runs::BoxedQuery<'static, Backend> = runs::table.into_boxed();
        if let Some(tenants) = scope {
            let ids: Vec<String> = tenants.iter().map(|(id, _)| id.clone()).collect();
            q = q.filter(runs::tenant_id.is_null().or(runs::tenant_id.eq_any(ids)));
        }
        q
    };
    let total: i64 = query().count().get_result(conn)?;
    let rows: Vec<RunRow> = query()
        .select(RunRow::as_select())
        .order((runs::started_at.desc(), runs::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|r| {
            let mut removed = r.removed();
            if let Some(tenants) = scope {
                removed.retain(|s, _| tenants.iter().any(|(_, slug)| slug == s));
            }
            let total = removed.values().flat_map(|c| c.values()).sum();
            RunItem {
                tenant: r.tenant_id.as_deref().and_then(&slug_of),
                id: r.id,
                trigger: r.trigger,
                status: r.status,
                as_of: r.as_of.and_utc(),
                slot: r.slot,
                started_at: r.started_at.and_utc(),
                finished_at: r.finished_at.map(|t| t.and_utc()),
                error: r.error,
                removed,
                total,
            }
        })
        .collect();
    Ok((items, total))
}

/// When the last sweep that completed finished (for `/metrics`).
pub fn last_success(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    runs::table
        .filter(runs::status.eq(status::COMPLETED))
        .select(diesel::dsl::max(runs::finished_at))
        .first(conn)
}
