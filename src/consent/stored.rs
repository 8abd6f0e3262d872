//! How a consent event is kept: a compact row (`consent_events`, ids
//! (its own, its subject's, its tenant's) and the pseudonym as bytes, instants in 8 bytes) whose repeated parts are
//! numbers in `dictionary.rs`:
//! - its context: the kind of event, the policy version, the choices, the
//!   Global Privacy Control flag and, for a consent with a receipt, the
//!   receipt's form (header, issuer, tenant, policy hash). A tenant's
//!   visitors share a handful of contexts;
//! - its user agent and page.
//!
//! A receipt is kept as its signature: its form and the event's own fields
//! make it again byte for byte (`receipt::assemble`). A receipt that would
//! not come out the same (none does, as signed here) is kept whole.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::queries::ConsentEvent;
use super::receipt::{self, EventClaims, ReceiptForm};
use crate::db::columns;
use crate::db::schema::consent_events as events;
use crate::db::DbConnection;
use crate::on_backend;

/// The parts of an event that many events share.
#[derive(Debug, Serialize, Deserialize)]
struct Context {
    event: String,
    policy_version: String,
    /// The choices as recorded (a JSON object).
    choices: String,
    gpc: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt: Option<ReceiptForm>,
}

/// A row of `consent_events`, as written and as read.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct Kept {
    pub at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub id: String,
    pub subject_id: String,
    pub tenant_id: String,
    pub context: i32,
    pub user_agent: Option<i32>,
    pub page_url: Option<i32>,
    pub ip_pseudonym: Option<String>,
    pub tc_string: Option<String>,
    pub signature: Option<Vec<u8>>,
    pub receipt: Option<String>,
}

/// Whether events of this tenant and subject may be kept: both ids are
/// UUIDs (a subject id from elsewhere, say an old request, may not be).
pub fn may_hold(tenant_id: &str, subject_id: &str) -> bool {
    uuid::Uuid::parse_str(tenant_id).is_ok() && uuid::Uuid::parse_str(subject_id).is_ok()
}

/// A receipt's claims that are the event's own, as its fields give them.
fn own_claims(
    id: &str,
    subject_id: &str,
    at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    policy_version: &str,
    choices: &BTreeMap<String, bool>,
    gpc: bool,
) -> Option<EventClaims> {
    Some(EventClaims {
        sub: subject_id.to_owned(),
        jti: id.to_owned(),
        iat: at.and_utc().timestamp(),
        exp: expires_at?.and_utc().timestamp(),
        policy_version: policy_version.to_owned(),
        choices: choices.clone(),
        gpc,
    })
}

/// An event ready to be written but for the numbers of its strings.
struct Prepared<'a> {
    event: &'a ConsentEvent,
    context: String,
    signature: Option<Vec<u8>>,
    whole: Option<&'a str>,
}

fn prepare(e: &ConsentEvent) -> Result<Prepared<'_>, serde_json::Error> {
    let split = e.receipt.as_deref().and_then(|jws| {
        let choices = serde_json::from_str(&e.choices).ok()?;
        let own = own_claims(
            &e.id,
            &e.subject_id,
            e.at,
            e.expires_at,
            &e.policy_version,
            &choices,
            e.gpc,
        )?;
        receipt::split(jws, own)
    });
    let (form, signature, whole) = match split {
        Some((form, signature)) => (Some(form), Some(signature), None),
        None => (None, None, e.receipt.as_deref()),
    };
    let context = serde_json::to_string(&Context {
        event: e.event.clone(),
        policy_version: e.policy_version.clone(),
        choices: e.choices.clone(),
        gpc: e.gpc,
        receipt: form,
    })?;
    Ok(Prepared {
        event: e,
        context,
        signature,
        whole,
    })
}

fn internal(e: impl std::fmt::Display) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(e.to_string().into())
}

/// Writes events (inside the caller's transaction).
pub fn insert(conn: &mut DbConnection, rows: &[ConsentEvent]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let prepared = rows
        .iter()
        .map(prepare)
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    let mut wanted: Vec<&str> = Vec::new();
    for p in &prepared {
        wanted.push(&p.context);
        wanted.extend(p.event.user_agent.as_deref());
        wanted.extend(p.event.page_url.as_deref());
    }
    let numbers = super::dictionary::numbers(conn, &wanted)?;
    let number = |v: &str| {
        numbers
            .get(v)
            .copied()
            .ok_or(diesel::result::Error::NotFound)
    };
    let kept = prepared
        .iter()
        .map(|p| {
            let e = p.event;
            Ok(Kept {
                at: e.at,
                expires_at: e.expires_at,
                id: e.id.clone(),
                subject_id: e.subject_id.clone(),
                tenant_id: e.tenant_id.clone(),
                context: number(&p.context)?,
                user_agent: e.user_agent.as_deref().map(number).transpose()?,
                page_url: e.page_url.as_deref().map(number).transpose()?,
                ip_pseudonym: e.ip_pseudonym.clone(),
                tc_string: e.tc_string.clone(),
                signature: p.signature.clone(),
                receipt: p.whole.map(str::to_owned),
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    let values: Vec<_> = kept
        .into_iter()
        .map(|k| {
            (
                events::at.eq(columns::instant(k.at)),
                events::expires_at.eq(columns::instant_or_null(k.expires_at)),
                events::id.eq(columns::uuid(k.id)),
                events::subject_id.eq(columns::uuid(k.subject_id)),
                events::tenant_id.eq(columns::uuid(k.tenant_id)),
                events::context.eq(k.context),
                events::user_agent.eq(k.user_agent),
                events::page_url.eq(k.page_url),
                events::ip_pseudonym.eq(columns::hex(k.ip_pseudonym)),
                events::tc_string.eq(k.tc_string),
                events::signature.eq(k.signature),
                events::receipt.eq(k.receipt),
            )
        })
        .collect();
    on_backend!(conn, |c| diesel::insert_into(events::table)
        .values(&values)
        .execute(c))
    .map(drop)
}

/// The events of rows read on `conn`, their strings read there too.
pub fn events_of(conn: &mut DbConnection, rows: Vec<Kept>) -> QueryResult<Vec<ConsentEvent>> {
    Read::of(conn, rows)?.events()
}

/// Events read, made from their rows only when asked: an export hands a
/// page on as read, and its events are made (receipts assembled) on
/// another thread while the next page is read.
pub enum Read {
    /// Rows of one database, with the strings they refer to.
    Rows {
        rows: Vec<Kept>,
        strings: HashMap<i32, String>,
    },
    /// Events already made (from several databases: SQLite's files).
    Events(Vec<ConsentEvent>),
}

impl Read {
    /// Rows read on `conn`, their strings read there too.
    pub fn of(conn: &mut DbConnection, rows: Vec<Kept>) -> QueryResult<Self> {
        let mut numbers: Vec<i32> = rows
            .iter()
            .flat_map(|r| [Some(r.context), r.user_agent, r.page_url])
            .flatten()
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let strings = super::dictionary::values(conn, numbers)?;
        Ok(Self::Rows { rows, strings })
    }

    /// The `(at, id)` of the last event, where the next page starts.
    pub fn last(&self) -> Option<(NaiveDateTime, String)> {
        match self {
            Self::Rows { rows, .. } => rows.last().map(|r| (r.at, r.id.clone())),
            Self::Events(events) => events.last().map(|e| (e.at, e.id.clone())),
        }
    }

    /// The events, made.
    pub fn events(self) -> QueryResult<Vec<ConsentEvent>> {
        match self {
            Self::Rows { rows, strings } => {
                let mut contexts = Contexts::default();
                rows.into_iter()
                    .map(|r| contexts.event_of(&strings, r))
                    .collect()
            }
            Self::Events(events) => Ok(events),
        }
    }
}

/// The event of a row, its strings given.
pub fn event_of(strings: &HashMap<i32, String>, row: Kept) -> QueryResult<ConsentEvent> {
    Contexts::default().event_of(strings, row)
}

/// A context as read, with its choices as a receipt's claims hold them.
struct Parsed {
    context: Context,
    choices: Option<BTreeMap<String, bool>>,
}

/// The contexts read so far, by number: rows of one read share a handful.
#[derive(Default)]
struct Contexts(HashMap<i32, Parsed>);

impl Contexts {
    fn event_of(&mut self, strings: &HashMap<i32, String>, row: Kept) -> QueryResult<ConsentEvent> {
        let text = |n: i32| {
            strings
                .get(&n)
                .ok_or_else(|| internal(format!("consent string {n} is missing")))
        };
        let parsed = match self.0.entry(row.context) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let context: Context =
                    serde_json::from_str(text(row.context)?).map_err(internal)?;
                let choices = serde_json::from_str(&context.choices).ok();
                e.insert(Parsed { context, choices })
            }
        };
        let context = &parsed.context;
        let receipt = match (row.receipt, &context.receipt, row.signature) {
            (Some(whole), _, _) => Some(whole),
            (None, Some(form), Some(signature)) => {
                let own = parsed
                    .choices
                    .as_ref()
                    .and_then(|choices| {
                        own_claims(
                            &row.id,
                            &row.subject_id,
                            row.at,
                            row.expires_at,
                            &context.policy_version,
                            choices,
                            context.gpc,
                        )
                    })
                    .ok_or_else(|| internal("a receipt without its event's claims"))?;
                Some(receipt::assemble(form, own, &signature).map_err(internal)?)
            }
            _ => None,
        };
        Ok(ConsentEvent {
            id: row.id,
            tenant_id: row.tenant_id,
            subject_id: row.subject_id,
            event: context.event.clone(),
            policy_version: context.policy_version.clone(),
            choices: context.choices.clone(),
            gpc: context.gpc,
            at: row.at,
            expires_at: row.expires_at,
            ip_pseudonym: row.ip_pseudonym,
            user_agent: row.user_agent.map(text).transpose()?.cloned(),
            page_url: row.page_url.map(text).transpose()?.cloned(),
            tc_string: row.tc_string,
            receipt,
        })
    }
}
