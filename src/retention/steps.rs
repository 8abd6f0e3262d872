//! The kinds of record a sweep removes, and for each the SQL that finds
//! them in key order and removes a batch of them.
//!
//! (Over 400 lines: one section per kind of record, each short; they stay
//! together so that a reader sees every kind a sweep removes in one place.)

use chrono::{DateTime, NaiveDateTime};
use diesel::dsl::exists;
use diesel::prelude::*;

use crate::clock::Period;
use crate::config::Periods;
use crate::db::columns;
use crate::db::schema::{
    audit_events as journal, consent_events as consents, mail_outbox as mail,
    request_documents as docs, request_events as events, request_messages as messages,
    rights_requests as requests, suppression_list as suppression, tracking_tokens as tokens,
};
use crate::db::DbConnection;
use crate::rights::lifecycle::{Action, Role};

/// A record's position in a step's order: its instant, then its key.
pub type Key = (NaiveDateTime, String);

/// What kind of record a step removes; the names are those of the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ConsentEvents,
    Documents { opposition: bool },
    RequesterData { opposition: bool },
    Suppression,
    Journal,
    MailSent,
    MailDead,
}

pub mod category {
    pub const CONSENT_EVENTS: &str = "consent_events";
    pub const ID_DOCUMENTS: &str = "id_documents";
    /// The files the DPO attached to the answers, destroyed with the
    /// requester's data.
    pub const ATTACHMENTS: &str = "attachments";
    pub const REQUESTS_ERASED: &str = "requests_erased";
    pub const SUPPRESSION_ENTRIES: &str = "suppression_entries";
    pub const JOURNAL_ENTRIES: &str = "journal_entries";
    pub const MAIL_MESSAGES: &str = "mail_messages";
}

pub const TENANT_STEPS: [Step; 9] = [
    Step::ConsentEvents,
    Step::Documents { opposition: false },
    Step::Documents { opposition: true },
    Step::RequesterData { opposition: false },
    Step::RequesterData { opposition: true },
    Step::Suppression,
    Step::Journal,
    Step::MailSent,
    Step::MailDead,
];

/// Records of no tenant: admins' sign-ins, test messages.
pub const PLATFORM_STEPS: [Step; 3] = [Step::Journal, Step::MailSent, Step::MailDead];

impl Step {
    pub fn period(self, p: &Periods) -> Period {
        match self {
            Self::ConsentEvents => p.consent_records,
            Self::Documents { opposition: false } => p.id_documents,
            Self::Documents { opposition: true } => p.id_documents_opposition,
            Self::RequesterData { opposition: false } => p.requester_data,
            Self::RequesterData { opposition: true } => p.requester_data_opposition,
            Self::Suppression => p.suppression_list,
            Self::Journal => p.staff_journal,
            Self::MailSent | Self::MailDead => p.delivered_mail,
        }
    }
}

/// Keyset condition: strictly after `(t, id)` in `(timestamp, id)` order.
macro_rules! after {
    ($q:expr, $ts:expr, $id:expr, $after:expr) => {
        match $after {
            None => $q,
            // `>=` first: the bound an index range scan starts from (an OR
            // alone would make PostgreSQL walk the index from its start).
            Some((t, id)) => $q
                .filter($ts.ge(*t))
                .filter($ts.gt(*t).or($ts.eq(*t).and($id.gt(id.clone())))),
        }
    };
}

/// What a real run would remove of these candidates. Identity documents
/// are counted one by one; erasing a request destroys no more of them in
/// a real run, since their period never outlasts the requester's data
/// (checked at start) and their step runs first. (A dry run counts the
/// erased requests, not the attachments that go with them.)
pub fn would_remove(conn: &mut DbConnection, step: Step, ids: &[String]) -> QueryResult<i64> {
    match step {
        Step::Documents { .. } => docs::table
            .filter(docs::request_id.eq_any(ids))
            .filter(docs::role.eq_any(Role::GIVEN))
            .filter(docs::purged_at.is_null())
            .count()
            .get_result(conn),
        _ => Ok(ids.len() as i64),
    }
}

pub fn step_category(step: Step) -> &'static str {
    match step {
        Step::ConsentEvents => category::CONSENT_EVENTS,
        Step::Documents { .. } => category::ID_DOCUMENTS,
        Step::RequesterData { .. } => category::REQUESTS_ERASED,
        Step::Suppression => category::SUPPRESSION_ENTRIES,
        Step::Journal => category::JOURNAL_ENTRIES,
        Step::MailSent | Step::MailDead => category::MAIL_MESSAGES,
    }
}

/// The next candidates of a step, `(timestamp, key)` in key order, made at
/// or before `upto`.
pub fn candidates(
    conn: &mut DbConnection,
    step: Step,
    tenant: Option<&str>,
    after: Option<&Key>,
    upto: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Key>> {
    let t = tenant.unwrap_or_default().to_owned();
    match step {
        Step::ConsentEvents => {
            let mut q = consents::table
                .filter(consents::tenant_id.eq(columns::uuid(t)))
                .filter(consents::at.le(columns::instant(upto)))
                .into_boxed();
            if let Some((at, id)) = after {
                let (at, id) = (columns::instant(*at), columns::uuid(id));
                q = q.filter(consents::at.ge(at)).filter(
                    consents::at
                        .gt(at)
                        .or(consents::at.eq(at).and(consents::id.gt(id))),
                );
            }
            q.select((consents::at, consents::id))
                .order((consents::at.asc(), consents::id.asc()))
                .limit(limit)
                .load(conn)
        }
        Step::Documents { opposition } | Step::RequesterData { opposition } => {
            let mut q = requests::table
                .filter(requests::tenant_id.eq(t))
                .filter(requests::erased_at.is_null())
                .filter(requests::is_open.eq(false))
                .filter(requests::closed_at.le(upto))
                .into_boxed();
            q = if opposition {
                q.filter(requests::kind.eq("opposition"))
            } else {
                q.filter(requests::kind.ne("opposition"))
            };
            if let Step::Documents { .. } = step {
                q = q.filter(exists(
                    docs::table
                        .filter(docs::request_id.eq(requests::id))
                        .filter(docs::role.eq_any(Role::GIVEN))
                        .filter(docs::purged_at.is_null()),
                ));
            }
            let rows: Vec<(Option<NaiveDateTime>, String)> =
                after!(q, requests::closed_at, requests::id, after)
                    .select((requests::closed_at, requests::id))
                    .order((requests::closed_at.asc(), requests::id.asc()))
                    .limit(limit)
                    .load(conn)?;
            Ok(keys(rows))
        }
        Step::Suppression => {
            let q = suppression::table
                .filter(suppression::tenant_id.eq(t))
                .filter(suppression::added_at.le(upto))
                .into_boxed();
            after!(q, suppression::added_at, suppression::email_hash, after)
                .select((suppression::added_at, suppression::email_hash))
                .order((suppression::added_at.asc(), suppression::email_hash.asc()))
                .limit(limit)
                .load(conn)
        }
        Step::Journal => {
            let mut q = journal::table
                .filter(journal::kind.like("login.%"))
                .filter(journal::at.le(upto))
                .into_boxed();
            q = match tenant {
                Some(_) => q.filter(journal::tenant_id.eq(t)),
                None => q.filter(journal::tenant_id.is_null()),
            };
            after!(q, journal::at, journal::id, after)
                .select((journal::at, journal::id))
                .order((journal::at.asc(), journal::id.asc()))
                .limit(limit)
                .load(conn)
        }
        Step::MailSent => {
            let mut q = mail::table
                .filter(mail::status.eq(crate::mail::outbox::Status::Sent.as_str()))
                .filter(mail::sent_at.le(upto))
                .into_boxed();
            q = match tenant {
                Some(_) => q.filter(mail::tenant_id.eq(t)),
                None => q.filter(mail::tenant_id.is_null()),
            };
            let rows: Vec<(Option<NaiveDateTime>, String)> =
                after!(q, mail::sent_at, mail::id, after)
                    .select((mail::sent_at, mail::id))
                    .order((mail::sent_at.asc(), mail::id.asc()))
                    .limit(limit)
                    .load(conn)?;
            Ok(keys(rows))
        }
        Step::MailDead => {
            let mut q = mail::table
                .filter(mail::status.eq(crate::mail::outbox::Status::Dead.as_str()))
                .filter(mail::created_at.le(upto))
                .into_boxed();
            q = match tenant {
                Some(_) => q.filter(mail::tenant_id.eq(t)),
                None => q.filter(mail::tenant_id.is_null()),
            };
            after!(q, mail::created_at, mail::id, after)
                .select((mail::created_at, mail::id))
                .order((mail::created_at.asc(), mail::id.asc()))
                .limit(limit)
                .load(conn)
        }
    }
}

fn keys(rows: Vec<(Option<NaiveDateTime>, String)>) -> Vec<Key> {
    rows.into_iter()
        .filter_map(|(t, id)| Some((t?, id)))
        .collect()
}

/// Removes the records `ids` of one step; returns counts by category.
pub fn remove(
    conn: &mut DbConnection,
    step: Step,
    tenant: Option<&str>,
    ids: &[String],
    as_of: NaiveDateTime,
) -> QueryResult<Vec<(&'static str, i64)>> {
    let locked;
    let ids = match step {
        Step::Documents { .. } | Step::RequesterData { .. } => {
            locked = still_closed(conn, ids)?;
            &locked[..]
        }
        _ => ids,
    };
    let n = match step {
        Step::ConsentEvents => {
            diesel::delete(consents::table.filter(consents::id.eq_any(columns::uuids(ids))))
                .execute(conn)?
        }
        Step::Documents { .. } => {
            let n = destroy_documents(conn, ids, Some(&Role::GIVEN), as_of)?;
            timeline(conn, ids, as_of, Action::DocumentsDestroyed)?;
            n
        }
        Step::RequesterData { .. } => {
            // The answers' attachments go with the requester's data; an
            // identity document still held (none, unless its period was
            // made longer than the requester data's) goes too.
            let documents = destroy_documents(conn, ids, Some(&Role::GIVEN), as_of)?;
            let attachments = destroy_documents(conn, ids, None, as_of)?;
            let erased = diesel::update(
                requests::table
                    .filter(requests::id.eq_any(ids))
                    .filter(requests::erased_at.is_null()),
            )
            .set((
                requests::first_name.eq(None::<String>),
                requests::last_name.eq(None::<String>),
                requests::email.eq(None::<String>),
                requests::email_hash.eq(None::<String>),
                requests::postal_address.eq(None::<String>),
                requests::details.eq(None::<String>),
                requests::grounds.eq(None::<String>),
                requests::subject_ids.eq(None::<String>),
                requests::search_text.eq(None::<String>),
                requests::extension_reason.eq(None::<String>),
                requests::outcome_reason.eq(None::<String>),
                requests::identity_note.eq(None::<String>),
                requests::on_behalf_first_name.eq(None::<String>),
                requests::on_behalf_last_name.eq(None::<String>),
                requests::erased_at.eq(Some(as_of)),
                requests::updated_at.eq(as_of),
            ))
            .execute(conn)?;
            // Notes, reasons and messages of the timeline are free text.
            diesel::update(events::table.filter(events::request_id.eq_any(ids)))
                .set(events::detail.eq(None::<String>))
                .execute(conn)?;
            // What the DPO wrote to the requester was kept as proof until
            // now; the rows stay, saying when their text went.
            diesel::update(
                messages::table
                    .filter(messages::request_id.eq_any(ids))
                    .filter(messages::erased_at.is_null()),
            )
            .set((
                messages::body.eq(None::<String>),
                messages::erased_at.eq(Some(as_of)),
            ))
            .execute(conn)?;
            // Internal notes and the DPO's instructions to referents too.
            crate::rights::referents::erase(conn, ids, as_of)?;
            diesel::delete(tokens::table.filter(tokens::request_id.eq_any(ids))).execute(conn)?;
            timeline(conn, ids, as_of, Action::Erased)?;
            return Ok(vec![
                (category::ID_DOCUMENTS, documents as i64),
                (category::ATTACHMENTS, attachments as i64),
                (category::REQUESTS_ERASED, erased as i64),
            ]);
        }
        Step::Suppression => diesel::delete(
            suppression::table
                .filter(suppression::tenant_id.eq(tenant.unwrap_or_default()))
                .filter(suppression::email_hash.eq_any(ids)),
        )
        .execute(conn)?,
        Step::Journal => {
            diesel::delete(journal::table.filter(journal::id.eq_any(ids))).execute(conn)?
        }
        Step::MailSent | Step::MailDead => {
            diesel::delete(mail::table.filter(mail::id.eq_any(ids))).execute(conn)?
        }
    };
    Ok(vec![(step_category(step), n as i64)])
}

/// Of the requests listed for a batch, those still closed and not erased,
/// read again in the batch's transaction. On PostgreSQL they stay locked
/// (`FOR UPDATE`, in key order) until the batch commits, as a change to a
/// request holds it (`requests::store::lock`): a message queued or a move
/// made meanwhile commits wholly before the erasure, which then blanks it
/// too, or finds the requester's data gone. On SQLite the batch's write
/// transaction holds the database.
fn still_closed(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<String>> {
    let q = requests::table
        .filter(requests::id.eq_any(ids))
        .filter(requests::is_open.eq(false))
        .filter(requests::erased_at.is_null())
        .order(requests::id.asc())
        .select(requests::id);
    match conn {
        DbConnection::Pg(c) => q.for_update().load(c),
        DbConnection::Sqlite(_) => q.load(conn),
    }
}

/// Destroys the contents of the requests' files still held, those of one
/// role (or every file left, with none); their metadata stay, saying when.
fn destroy_documents(
    conn: &mut DbConnection,
    request_ids: &[String],
    roles: Option<&[Role]>,
    as_of: NaiveDateTime,
) -> QueryResult<usize> {
    let held = docs::table
        .filter(docs::request_id.eq_any(request_ids))
        .filter(docs::purged_at.is_null());
    let destroyed = (
        docs::ciphertext.eq(None::<Vec<u8>>),
        docs::purged_at.eq(Some(as_of)),
    );
    match roles {
        Some(roles) => diesel::update(held.filter(docs::role.eq_any(roles)))
            .set(destroyed)
            .execute(conn),
        None => diesel::update(held).set(destroyed).execute(conn),
    }
}

/// Puts what the sweep did on each request's timeline.
fn timeline(
    conn: &mut DbConnection,
    request_ids: &[String],
    as_of: NaiveDateTime,
    action: Action,
) -> QueryResult<()> {
    for id in request_ids {
        crate::rights::store::add_event(conn, id, as_of, "system", action, None, None)?;
    }
    Ok(())
}

/// How many consents of the tenant were given at or before `upto`.
pub fn consent_count(
    conn: &mut DbConnection,
    tenant: &str,
    upto: NaiveDateTime,
) -> QueryResult<i64> {
    consents::table
        .filter(consents::tenant_id.eq(columns::uuid(tenant)))
        .filter(consents::at.le(columns::instant(upto)))
        .count()
        .get_result(conn)
}

/// Deletes the next `batch` consents of the tenant given at or before
/// `upto`, after `from` in `(at, id)` order, by a range of the time index:
/// no key travels. Returns the last key of the range (none when fewer than
/// `batch` were left, all deleted) and how many went.
pub fn delete_consents(
    conn: &mut DbConnection,
    tenant: &str,
    upto: NaiveDateTime,
    from: Option<&Key>,
    batch: i64,
) -> QueryResult<(Option<Key>, usize)> {
    // Every stored instant is after the epoch, every id above the nil
    // UUID: the first batch's floor.
    let (t0, id0) = from.cloned().unwrap_or((
        DateTime::UNIX_EPOCH.naive_utc(),
        uuid::Uuid::nil().to_string(),
    ));
    let (t0, id0) = (columns::instant(t0), columns::uuid(id0));
    let in_range = consents::table
        .filter(consents::tenant_id.eq(columns::uuid(tenant)))
        .filter(consents::at.le(columns::instant(upto)))
        .filter(consents::at.ge(t0))
        .filter(
            consents::at
                .gt(t0)
                .or(consents::at.eq(t0).and(consents::id.gt(id0))),
        );
    let bound: Option<Key> = in_range
        .clone()
        .select((consents::at, consents::id))
        .order((consents::at.asc(), consents::id.asc()))
        .offset(batch - 1)
        .first(conn)
        .optional()?;
    let n = match &bound {
        Some((t, id)) => {
            let (t, id) = (columns::instant(*t), columns::uuid(id));
            diesel::delete(
                in_range.filter(
                    consents::at
                        .lt(t)
                        .or(consents::at.eq(t).and(consents::id.le(id))),
                ),
            )
            .execute(conn)?
        }
        None => diesel::delete(in_range).execute(conn)?,
    };
    Ok((bound, n))
}
