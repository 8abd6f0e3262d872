//! The audit log: staff connections (success, failure, lock) and the staff
//! actions that matter (document opened, request moved, retention run,
//! accounts managed). Client addresses only as keyed network pseudonyms.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::{audit_events, staff_users};
use crate::db::DbConnection;
use crate::error::ApiError;

/// What happened.
pub mod kind {
    pub const LOGIN_SUCCESS: &str = "login.success";
    pub const LOGIN_FAILURE: &str = "login.failure";
    pub const LOGIN_LOCKED: &str = "login.locked";
    pub const LOGIN_RATE_LIMITED: &str = "login.rate_limited";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_DISABLED: &str = "user.disabled";
    pub const USER_ENABLED: &str = "user.enabled";
    /// An account deleted; its entries, this one included, name it by a
    /// pseudonym from then on.
    pub const USER_DELETED: &str = "user.deleted";
    pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
    /// The tenants an account serves were replaced; the detail lists them.
    pub const USER_TENANTS_CHANGED: &str = "user.tenants_changed";
    pub const DOCUMENT_OPENED: &str = "document.opened";
    pub const REQUEST_TRANSITIONED: &str = "request.transitioned";
    pub const REQUEST_EXPORTED: &str = "request.exported";
    /// The DPO wrote to the requester (a message, a closing note, a
    /// rejection's reason): the request's reference, the message's id,
    /// length and attachments' SHA-256, never its text.
    pub const REQUEST_MESSAGE: &str = "request.message";
    /// The DPO extended a request's deadline.
    pub const REQUEST_EXTENDED: &str = "request.extended";
    /// The DPO's decision on a requester's identity; its subject is the
    /// request's reference.
    pub const REQUEST_IDENTITY_DECIDED: &str = "request.identity_decided";
    /// The DPO assigned a request to a referent: the request's reference,
    /// the assignment's id, the referent's account and the due date.
    pub const REQUEST_ASSIGNED: &str = "request.assigned";
    /// An internal note was added to a request: its reference, the note's
    /// id and length, never its text.
    pub const REQUEST_NOTED: &str = "request.noted";
    pub const RETENTION_RUN: &str = "retention.run";
}

/// One entry to write.
#[derive(Debug, Default)]
pub struct Entry<'a> {
    pub tenant_id: Option<&'a str>,
    pub kind: &'a str,
    pub actor_id: Option<&'a str>,
    pub ip_pseudonym: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct Row {
    id: String,
    tenant_id: Option<String>,
    at: NaiveDateTime,
    kind: String,
    actor_id: Option<String>,
    ip_pseudonym: Option<String>,
    subject_id: Option<String>,
    detail: Option<String>,
    actor_pseudonym: Option<String>,
}

/// Writes one entry, in the caller's transaction; only the database can
/// refuse it, and the caller tells that in its own terms.
pub fn record(conn: &mut DbConnection, entry: Entry<'_>, at: NaiveDateTime) -> QueryResult<()> {
    let row = Row {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: entry.tenant_id.map(str::to_owned),
        at,
        kind: entry.kind.to_owned(),
        actor_id: entry.actor_id.map(str::to_owned),
        ip_pseudonym: entry.ip_pseudonym.map(str::to_owned),
        subject_id: entry.subject_id.map(str::to_owned),
        detail: entry.detail.map(|d| d.to_string()),
        actor_pseudonym: None,
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries at or after this instant (RFC 3339, from 2000 to 2199).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant (RFC 3339, from 2000 to 2199).
    pub to: Option<DateTime<Utc>>,
    /// A kind (`login.failure`) or a family of kinds (`login`).
    #[param(max_length = 64, pattern = "^[a-z_.]{1,64}$")]
    pub kind: Option<String>,
    /// Entries of one tenant (slug) among those the account serves (an
    /// admin: any); default all of them.
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Actor {
    pub id: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    /// The slug of the tenant the entry concerns; none for the platform's
    /// own (an unknown address's sign-in, a sweep of every tenant's).
    pub tenant: Option<String>,
    /// The staff member, when known.
    pub actor: Option<Actor>,
    /// For an account since deleted, the pseudonym its entries share
    /// (`deleted-…`), in place of `actor`.
    pub actor_pseudonym: Option<String>,
    /// Keyed pseudonym of the client's network, for connections.
    pub ip_pseudonym: Option<String>,
    /// What the action was about (a request, a document, an account…).
    pub subject_id: Option<String>,
    pub detail: Option<serde_json::Value>,
}

pub struct Filter {
    /// The tenants whose entries are listed (ids); `None`: every entry.
    pub tenant_ids: Option<Vec<String>>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub kind: Option<String>,
}

type Backend = <DbConnection as diesel::Connection>::Backend;

fn filtered(f: &Filter) -> audit_events::BoxedQuery<'static, Backend> {
    let mut q = audit_events::table.into_boxed();
    if let Some(ids) = &f.tenant_ids {
        q = q.filter(audit_events::tenant_id.eq_any(ids.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(audit_events::at.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(audit_events::at.lt(to));
    }
    if let Some(kind) = &f.kind {
        q = if kind.contains('.') {
            q.filter(audit_events::kind.eq(kind.clone()))
        } else {
            q.filter(audit_events::kind.like(format!("{kind}.%")))
        };
    }
    q
}

/// The filtered entries, newest first, and their total; `slug_of` names a
/// tenant by its id.
pub fn list(
    conn: &mut DbConnection,
    filter: &Filter,
    slug_of: impl Fn(&str) -> Option<String>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditItem>, i64), ApiError> {
    let total: i64 = filtered(filter).count().get_result(conn)?;
    let rows: Vec<Row> = filtered(filter)
        .select(Row::as_select())
        .order((audit_events::at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let actor_ids: Vec<&str> = rows.iter().filter_map(|r| r.actor_id.as_deref()).collect();
    let emails: Vec<(String, String)> = if actor_ids.is_empty() {
        Vec::new()
    } else {
        staff_users::table
            .filter(staff_users::id.eq_any(actor_ids))
            .select((staff_users::id, staff_users::email))
            .load(conn)?
    };
    let items = rows
        .into_iter()
        .map(|r| AuditItem {
            actor: r.actor_id.as_ref().and_then(|id| {
                emails
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(id, email)| Actor {
                        id: id.clone(),
                        email: email.clone(),
                    })
            }),
            tenant: r.tenant_id.as_deref().and_then(&slug_of),
            actor_pseudonym: r.actor_pseudonym,
            id: r.id,
            at: r.at.and_utc(),
            kind: r.kind,
            ip_pseudonym: r.ip_pseudonym,
            subject_id: r.subject_id,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
        })
        .collect();
    Ok((items, total))
}

/// A deleted account's entries: its id, as actor or as subject, replaced by
/// one pseudonym shared by all of them and linked to nothing kept.
pub fn pseudonymise_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<String> {
    let pseudonym = format!("deleted-{}", uuid::Uuid::new_v4().simple());
    diesel::update(audit_events::table.filter(audit_events::actor_id.eq(account_id)))
        .set((
            audit_events::actor_id.eq(None::<String>),
            audit_events::actor_pseudonym.eq(Some(&pseudonym)),
        ))
        .execute(conn)?;
    diesel::update(audit_events::table.filter(audit_events::subject_id.eq(account_id)))
        .set(audit_events::subject_id.eq(Some(&pseudonym)))
        .execute(conn)?;
    Ok(pseudonym)
}
