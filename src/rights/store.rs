//! Rights requests, their documents and their timeline in the database (the
//! DPO's answers and their attachments: `messages.rs`).
//!
//! (Over 400 lines: the rows and the queries of one table family, each query
//! short; a split by table would separate a request from its timeline.)

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::arrival::{Channel, OnBehalfOf, Relation};
use super::identity::{IdentityMethod, IdentityOutcome};
use super::lifecycle::{Action, Kind, Role, Status};
use crate::db::schema::{
    request_documents as docs, request_events as events, rights_requests as requests,
    suppression_list, tracking_tokens,
};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = requests, treat_none_as_null = true)]
pub struct RequestRow {
    pub id: String,
    pub tenant_id: String,
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub is_open: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub email_hash: Option<String>,
    pub postal_address: Option<String>,
    pub details: Option<String>,
    pub scope: Option<String>,
    pub grounds: Option<String>,
    pub search_text: Option<String>,
    pub received_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub paused_at: Option<NaiveDateTime>,
    pub extended: bool,
    pub extension_reason: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub outcome_reason: Option<String>,
    pub duplicate_of: Option<String>,
    pub erased_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
    /// The banner identifiers the request names: a JSON array of
    /// lower-case hyphenated UUIDs (`subject_ids`), none when empty.
    pub subject_ids: Option<String>,
    /// The DPO's latest decision on the requester's identity: what, how,
    /// when, by whom (the staff member's e-mail), and a note (free text,
    /// erased with the requester's data).
    pub identity_outcome: Option<IdentityOutcome>,
    pub identity_method: Option<IdentityMethod>,
    pub identity_at: Option<NaiveDateTime>,
    pub identity_by: Option<String>,
    pub identity_note: Option<String>,
    /// When the requester sent an identity document the DPO asked for,
    /// until the DPO opens the request or one of its documents, or moves
    /// it.
    pub new_document_at: Option<NaiveDateTime>,
    /// How the request arrived.
    pub channel: Channel,
    /// Shared by the requests of one submission, one per right.
    pub case_id: Option<String>,
    /// The person the requester acts for, and why it may (erased with the
    /// requester's data).
    pub on_behalf_first_name: Option<String>,
    pub on_behalf_last_name: Option<String>,
    pub on_behalf_relation: Option<Relation>,
}

/// How `RequestRow::subject_ids` keeps a list: none when it is empty.
pub fn subject_ids_text(ids: &[String]) -> Option<String> {
    (!ids.is_empty()).then(|| serde_json::Value::from(ids).to_string())
}

impl RequestRow {
    /// The person the requester acts for, if any (none once erased).
    pub fn on_behalf_of(&self) -> Option<OnBehalfOf> {
        Some(OnBehalfOf {
            first_name: self.on_behalf_first_name.clone()?,
            last_name: self.on_behalf_last_name.clone()?,
            relation: self.on_behalf_relation?,
        })
    }

    /// The banner identifiers the request names (none once erased).
    pub fn subject_ids(&self) -> Vec<String> {
        self.subject_ids
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = docs)]
pub struct DocumentRow {
    pub id: String,
    pub request_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Option<Vec<u8>>,
    pub uploaded_at: NaiveDateTime,
    pub purged_at: Option<NaiveDateTime>,
    pub role: Role,
    /// The answer an attachment came with.
    pub message_id: Option<String>,
}

/// A document's metadata, without its content.
#[derive(Debug, Clone, Queryable)]
pub struct DocumentMeta {
    pub id: String,
    /// An identity document, a mandate or a letter (`Role::GIVEN`).
    pub role: Role,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: NaiveDateTime,
    pub purged_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct TimelineEntry {
    pub id: String,
    pub request_id: String,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: Action,
    pub status: Option<Status>,
    pub detail: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &RequestRow) -> QueryResult<()> {
    diesel::insert_into(requests::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn save(conn: &mut DbConnection, row: &RequestRow) -> QueryResult<()> {
    diesel::update(requests::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

/// Stores a document. On PostgreSQL its bytes are streamed (`db::copy`)
/// rather than bound; SQLite binds them without a copy.
pub fn insert_document(conn: &mut DbConnection, row: &DocumentRow) -> QueryResult<()> {
    let DbConnection::Pg(pg) = conn else {
        return diesel::insert_into(docs::table)
            .values(row)
            .execute(conn)
            .map(|_| ());
    };
    use crate::db::copy::{write_row, Field};
    use diesel::pg::CopyFormat;
    let fields = [
        Field::Text(&row.id),
        Field::Text(&row.request_id),
        Field::Text(&row.filename),
        Field::Text(&row.content_type),
        Field::BigInt(row.size),
        Field::Text(&row.sha256),
        Field::Text(&row.key_id),
        Field::Bytes(&row.nonce),
        row.ciphertext.as_deref().map_or(Field::Null, Field::Bytes),
        Field::Timestamp(row.uploaded_at),
        row.purged_at.map_or(Field::Null, Field::Timestamp),
        Field::Text(row.role.as_str()),
        row.message_id.as_deref().map_or(Field::Null, Field::Text),
    ];
    let columns = (
        docs::id,
        docs::request_id,
        docs::filename,
        docs::content_type,
        docs::size,
        docs::sha256,
        docs::key_id,
        docs::nonce,
        docs::ciphertext,
        docs::uploaded_at,
        docs::purged_at,
        docs::role,
        docs::message_id,
    );
    diesel::copy_from(docs::table)
        .from_raw_data(columns, |out| {
            write_row(out, &fields)
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
        })
        .with_format(CopyFormat::Binary)
        .execute(pg)
        .map(|_| ())
}

pub fn add_event(
    conn: &mut DbConnection,
    request_id: &str,
    at: NaiveDateTime,
    actor: &str,
    action: Action,
    status: Option<Status>,
    detail: Option<serde_json::Value>,
) -> QueryResult<()> {
    let row = TimelineEntry {
        id: uuid::Uuid::now_v7().to_string(),
        request_id: request_id.to_owned(),
        at,
        actor: actor.to_owned(),
        action,
        status,
        detail: detail.map(|d| d.to_string()),
    };
    diesel::insert_into(events::table)
        .values(&row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RequestRow>> {
    requests::table
        .find(id)
        .select(RequestRow::as_select())
        .first(conn)
        .optional()
}

/// Reads a request in order to change it, inside the change's
/// `db::write_transaction`, so that what is checked is still true when the
/// change commits. On PostgreSQL the row stays locked (`FOR UPDATE`) until
/// the transaction ends: a concurrent change to the same request waits,
/// then reads what this one wrote. On SQLite the write transaction holds
/// the database's write lock from its start.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RequestRow>> {
    match conn {
        DbConnection::Pg(c) => requests::table
            .find(id)
            .select(RequestRow::as_select())
            .for_update()
            .first(c)
            .optional(),
        DbConnection::Sqlite(_) => find(conn, id),
    }
}

pub fn find_by_tracking(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<RequestRow>> {
    tracking_tokens::table
        .inner_join(requests::table.on(requests::id.eq(tracking_tokens::request_id)))
        .filter(tracking_tokens::token_hash.eq(hash))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()
}

/// Makes a new tracking token for the request, keeps its hash, returns it.
pub fn new_tracking_token(
    conn: &mut DbConnection,
    request_id: &str,
    at: NaiveDateTime,
) -> QueryResult<String> {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    diesel::insert_into(tracking_tokens::table)
        .values((
            tracking_tokens::token_hash.eq(token_hash(&token)),
            tracking_tokens::request_id.eq(request_id),
            tracking_tokens::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(token)
}

pub use crate::privacy::token_hash;

/// An open request of the same kind from the same address, if any: one
/// whose e-mail pseudonym is any of `email_hashes` (under the current key
/// or a retired one).
pub fn open_duplicate(
    conn: &mut DbConnection,
    tenant_id: &str,
    email_hashes: &[String],
    kind: Kind,
) -> QueryResult<Option<String>> {
    requests::table
        .filter(requests::tenant_id.eq(tenant_id))
        .filter(requests::email_hash.eq_any(email_hashes))
        .filter(requests::kind.eq(kind))
        .filter(requests::is_open.eq(true))
        .order(requests::received_at.asc())
        .select(requests::id)
        .first(conn)
        .optional()
}

pub fn reference_taken(
    conn: &mut DbConnection,
    tenant_id: &str,
    reference: &str,
) -> QueryResult<bool> {
    let n: i64 = requests::table
        .filter(requests::tenant_id.eq(tenant_id))
        .filter(requests::reference.eq(reference))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn timeline(conn: &mut DbConnection, request_id: &str) -> QueryResult<Vec<TimelineEntry>> {
    events::table
        .filter(events::request_id.eq(request_id))
        .order((events::at.asc(), events::id.asc()))
        .select(TimelineEntry::as_select())
        .load(conn)
}

/// The request's identity documents, without their contents.
pub fn documents(conn: &mut DbConnection, request_id: &str) -> QueryResult<Vec<DocumentMeta>> {
    docs::table
        .filter(docs::request_id.eq(request_id))
        .filter(docs::role.eq_any(Role::GIVEN))
        .order((docs::uploaded_at.asc(), docs::id.asc()))
        .select((
            docs::id,
            docs::role,
            docs::filename,
            docs::content_type,
            docs::size,
            docs::sha256,
            docs::uploaded_at,
            docs::purged_at,
        ))
        .load(conn)
}

/// A file of the request, of this role, with its content.
pub fn document(
    conn: &mut DbConnection,
    request_id: &str,
    id: &str,
    roles: &[Role],
) -> QueryResult<Option<DocumentRow>> {
    docs::table
        .filter(docs::request_id.eq(request_id))
        .filter(docs::id.eq(id))
        .filter(docs::role.eq_any(roles))
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()
}

/// Destroys the contents of the request's identity documents still held
/// (their metadata stay, saying when; the DPO's attachments are not
/// touched); returns how many.
pub fn destroy_id_documents(
    conn: &mut DbConnection,
    request_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        docs::table
            .filter(docs::request_id.eq(request_id))
            .filter(docs::role.eq(Role::IdDocument))
            .filter(docs::purged_at.is_null()),
    )
    .set((
        docs::ciphertext.eq(None::<Vec<u8>>),
        docs::purged_at.eq(Some(at)),
    ))
    .execute(conn)
}

/// The DPO has seen the document that arrived at `arrived`: the request is
/// no longer marked « Nouvelle pièce », unless another arrived since.
pub fn mark_seen(
    conn: &mut DbConnection,
    request_id: &str,
    arrived: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        requests::table
            .find(request_id)
            .filter(requests::new_document_at.eq(arrived)),
    )
    .set(requests::new_document_at.eq(None::<NaiveDateTime>))
    .execute(conn)
    .map(|_| ())
}

pub fn suppress(
    conn: &mut DbConnection,
    tenant_id: &str,
    email_hash: &str,
    request_id: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let listed: i64 = suppression_list::table
        .filter(suppression_list::tenant_id.eq(tenant_id))
        .filter(suppression_list::email_hash.eq(email_hash))
        .count()
        .get_result(conn)?;
    if listed == 0 {
        diesel::insert_into(suppression_list::table)
            .values((
                suppression_list::tenant_id.eq(tenant_id),
                suppression_list::email_hash.eq(email_hash),
                suppression_list::request_id.eq(request_id),
                suppression_list::added_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether the address is listed under any of its pseudonyms.
pub fn is_suppressed(
    conn: &mut DbConnection,
    tenant_id: &str,
    email_hashes: &[String],
) -> QueryResult<bool> {
    let n: i64 = suppression_list::table
        .filter(suppression_list::tenant_id.eq(tenant_id))
        .filter(suppression_list::email_hash.eq_any(email_hashes))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// One line of the DPO's queue.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = requests)]
pub struct QueueRow {
    pub id: String,
    pub tenant_id: String,
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub is_open: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub received_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub paused_at: Option<NaiveDateTime>,
    pub extended: bool,
    pub duplicate_of: Option<String>,
    pub new_document_at: Option<NaiveDateTime>,
    pub channel: Channel,
    pub case_id: Option<String>,
    /// To link the requester's other requests (`related`).
    pub email_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Open first, most urgent first.
    Urgency,
    DueDesc,
    ReceivedAsc,
    ReceivedDesc,
}

#[derive(Debug, Clone)]
pub struct QueueFilter {
    /// The tenants whose requests are listed (ids); `None`: every tenant.
    pub tenant_ids: Option<Vec<String>>,
    pub statuses: Vec<Status>,
    pub kind: Option<Kind>,
    pub overdue_at: Option<NaiveDateTime>,
    /// Beginnings of words a request must all have (none: no search).
    pub search: Vec<String>,
    /// The requests the search's rarer terms found, looked up before the
    /// query (`search::resolve`); the terms left in `search` are joined.
    pub found: Option<Vec<String>>,
    /// One person's requests: those whose e-mail pseudonym is one of these.
    pub email_hashes: Option<Vec<String>>,
    /// A referent's queue: only the requests assigned to this account.
    pub assigned_to: Option<String>,
    pub sort: Sort,
}

type Backend = <DbConnection as diesel::Connection>::Backend;

pub(super) fn filtered(f: &QueueFilter) -> requests::BoxedQuery<'static, Backend> {
    let mut q = requests::table.into_boxed();
    // One tenant by equality, as the queue's indexes are read best.
    q = match f.tenant_ids.as_deref() {
        None => q,
        Some([one]) => q.filter(requests::tenant_id.eq(one.clone())),
        Some(ids) => q.filter(requests::tenant_id.eq_any(ids.to_vec())),
    };
    if !f.statuses.is_empty() {
        q = q.filter(requests::status.eq_any(f.statuses.clone()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(requests::kind.eq(*k));
    }
    if let Some(hashes) = &f.email_hashes {
        q = q.filter(requests::email_hash.eq_any(hashes.clone()));
    }
    if let Some(referent) = &f.assigned_to {
        use crate::db::schema::request_assignments as assignments;
        q = q.filter(
            requests::id.eq_any(
                assignments::table
                    .filter(assignments::referent_id.eq(referent.clone()))
                    .select(assignments::request_id),
            ),
        );
    }
    if let Some(now) = f.overdue_at {
        q = q
            .filter(requests::is_open.eq(true))
            .filter(requests::paused_at.is_null())
            .filter(requests::due_at.lt(now));
    }
    if let Some(ids) = &f.found {
        q = q.filter(requests::id.eq_any(ids.clone()));
    }
    super::search::matching(q, &f.search)
}

pub fn queue(
    conn: &mut DbConnection,
    f: &QueueFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<QueueRow>, i64)> {
    let resolved;
    let f = if f.search.is_empty() {
        f
    } else {
        resolved = super::search::resolve(conn, f)?;
        if resolved.found.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), 0));
        }
        &resolved
    };
    if f.search.is_empty() && f.found.is_some() {
        return super::search::found_page(conn, f, offset, limit);
    }
    let total = super::counts::total(conn, f)?;
    let q = filtered(f).select(QueueRow::as_select());
    let q = match f.sort {
        // A search's matches are few: sort them, rather than walk the
        // open-first index hoping to meet them (the same order, written
        // so that no index provides it).
        Sort::Urgency if !f.search.is_empty() || f.found.is_some() => q.order((
            requests::is_open.ne(true).asc(),
            requests::due_at.asc(),
            requests::id.asc(),
        )),
        Sort::Urgency => q.order((
            requests::is_open.desc(),
            requests::due_at.asc(),
            requests::id.asc(),
        )),
        Sort::DueDesc => q.order((requests::due_at.desc(), requests::id.desc())),
        Sort::ReceivedAsc => q.order((requests::received_at.asc(), requests::id.asc())),
        Sort::ReceivedDesc => q.order((requests::received_at.desc(), requests::id.desc())),
    };
    let rows = q.offset(offset).limit(limit).load(conn)?;
    Ok((rows, total))
}
