//! What the DPO reads: the queue, most urgent first, and a request in full
//! with its documents and timeline.
//!
//! (Over 400 lines: the queue and the detail are the two readings of the
//! DPO, sharing the rule of who may see a request and the views they
//! answer; each piece is short.)

use actix_web::{get, web, HttpResponse};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::readable;
pub use super::access::visible;
use super::arrival::{Channel, OnBehalfOf};
use super::error::RightsError;
use super::identity::IdentityView;
use super::lifecycle::{next_for_staff, Action, Kind, Status};
use super::messages::{self, MessageView};
use super::referents::{self, AssignmentView, NoteView};
use super::related::{self, LinkedRequest};
use super::service::RightsService;
use super::store::{self, QueueFilter, RequestRow, Sort};
use super::{deadline, search};
use crate::error::ApiError;
use crate::http::{ListResponse, PageQuery};
use crate::staff::Staff;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Comma-separated statuses.
    #[param(
        example = "received,in_progress",
        pattern = "^ *((received|in_progress|awaiting_identity|completed|rejected) *)?(, *((received|in_progress|awaiting_identity|completed|rejected) *)?)*$"
    )]
    pub status: Option<String>,
    pub kind: Option<Kind>,
    /// Only requests past their due date.
    pub overdue: Option<bool>,
    /// Beginnings of words of the reference, names or e-mail (all of
    /// them; case and accents ignored).
    #[param(max_length = 100, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub q: Option<String>,
    /// `due_at` (default: open first, most urgent first), `-due_at`,
    /// `received_at`, `-received_at`.
    #[param(pattern = "^-?(due_at|received_at)$")]
    pub sort: Option<String>,
    /// One of the account's tenants (slug): an admin's any, a DPO's one of
    /// those it serves (another answers 404).
    #[param(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
    /// Only the requests of the person who made this one (the same e-mail
    /// address), open or closed, itself included.
    #[param(format = "uuid")]
    pub same_person_as: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueItem {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(pattern = "^DR-[0-9A-HJKMNP-TV-Z]{6}$", example = "DR-7K3P2X")]
    pub reference: String,
    /// The tenant's slug.
    pub tenant: String,
    pub kind: Kind,
    pub status: Status,
    pub requester_name: String,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    pub extended: bool,
    /// An open request of the same kind from the same address.
    #[schema(format = "uuid")]
    pub duplicate_of: Option<String>,
    /// The requester sent the identity document asked for, and no one has
    /// opened the request since (« Nouvelle pièce »).
    pub new_document: bool,
    /// How the request arrived.
    pub channel: Channel,
    /// Shared by the requests of one submission.
    #[schema(format = "uuid")]
    pub case_id: Option<String>,
    /// How many other requests the same person (the same e-mail address)
    /// made to the tenant, open or closed: `?same_person_as=` lists them.
    #[schema(minimum = 0)]
    pub others: i64,
    /// Its assignments to referents, oldest first.
    pub assignments: Vec<AssignmentView>,
}

fn name(first: Option<&str>, last: Option<&str>) -> String {
    format!("{} {}", first.unwrap_or(""), last.unwrap_or(""))
        .trim()
        .to_owned()
}

fn slug(rights: &RightsService, tenant_id: &str) -> String {
    rights.tenants.slug_of(Some(tenant_id)).unwrap_or_default()
}

/// The queue, most urgent first.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(QueueQuery),
    responses(
        (status = 200, description = "Requests.", body = inline(ListResponse<QueueItem>)),
        (status = 404, description = "`same_person_as` names no request the account may see, or `tenant` no tenant it serves."),
        (status = 422, description = "Invalid filter, sort or paging."),
    )
)]
#[get("/v1/dpo/requests")]
pub async fn queue(
    staff: Staff,
    rights: web::Data<RightsService>,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list(&rights, &staff, query.into_inner()).await?))
}

/// One page of the queue a staff member may see.
pub async fn list(
    rights: &RightsService,
    staff: &Staff,
    q: QueueQuery,
) -> Result<ListResponse<QueueItem>, RightsError> {
    let (page, per_page, offset) = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .resolve(&rights.settings.limits)?;
    let mut statuses = Vec::new();
    for s in q
        .status
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let status = Status::parse(s)
            .ok_or_else(|| RightsError::field("status", format!("`{s}` is not a status")))?;
        statuses.push(status);
    }
    let sort = match q.sort.as_deref() {
        None | Some("due_at") => Sort::Urgency,
        Some("-due_at") => Sort::DueDesc,
        Some("received_at") => Sort::ReceivedAsc,
        Some("-received_at") => Sort::ReceivedDesc,
        Some(_) => {
            return Err(RightsError::field(
                "sort",
                "must be due_at, -due_at, received_at or -received_at",
            ))
        }
    };
    if q.q
        .as_deref()
        .is_some_and(|q| q.chars().any(char::is_control))
    {
        return Err(RightsError::field(
            "q",
            "must not contain control characters",
        ));
    }
    let query = q.q.as_deref().map(str::trim).unwrap_or("");
    if query.chars().count() > 100 {
        return Err(RightsError::field("q", "must be at most 100 characters"));
    }
    let search = search::terms(query);
    let email_hashes = match q.same_person_as {
        Some(id) => {
            // A request one may not see is none (404), as its detail.
            let row = visible(rights, staff, id).await?;
            Some(related::pseudonyms_of(&row, &rights.pseudonym_keys))
        }
        None => None,
    };
    let now = rights.clock.now();
    // A referent's queue: what is assigned to it, whatever its tenant.
    let (tenant_ids, assigned_to) = if staff.is_referent() {
        (None, Some(staff.id.clone()))
    } else {
        (
            staff
                .list_scope(&rights.tenants, q.tenant.as_deref())?
                .to_ids(),
            None,
        )
    };
    let filter = QueueFilter {
        tenant_ids,
        assigned_to,
        statuses,
        kind: q.kind,
        overdue_at: q.overdue.filter(|o| *o).map(|_| now.naive_utc()),
        search,
        found: None,
        email_hashes,
        sort,
    };
    let (rows, total, people, mut assigned) = rights
        .run(move |conn| {
            let (rows, total) = store::queue(conn, &filter, offset, i64::from(per_page))?;
            let people: Vec<(String, String)> = rows
                .iter()
                .filter_map(|r| Some((r.tenant_id.clone(), r.email_hash.clone()?)))
                .collect();
            let people = related::counts_by_person(conn, &people)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let mut assigned: HashMap<String, Vec<AssignmentView>> = HashMap::new();
            for (request, view) in referents::of_requests(conn, &ids, now.naive_utc())? {
                assigned.entry(request).or_default().push(view);
            }
            Ok((rows, total, people, assigned))
        })
        .await?;
    let items = rows
        .into_iter()
        .map(|r| QueueItem {
            assignments: assigned.remove(&r.id).unwrap_or_default(),
            others: r
                .email_hash
                .as_ref()
                .and_then(|h| people.get(&(r.tenant_id.clone(), h.clone())))
                .map_or(0, |n| n - 1),
            channel: r.channel,
            case_id: r.case_id,
            tenant: slug(rights, &r.tenant_id),
            overdue: deadline::is_overdue(
                r.is_open,
                r.paused_at.is_some(),
                r.due_at.and_utc(),
                now,
            ),
            requester_name: name(r.first_name.as_deref(), r.last_name.as_deref()),
            kind: r.kind,
            status: r.status,
            id: r.id,
            reference: r.reference,
            received_at: r.received_at.and_utc(),
            due_at: r.due_at.and_utc(),
            extended: r.extended,
            duplicate_of: r.duplicate_of,
            new_document: r.new_document_at.is_some(),
        })
        .collect();
    Ok(ListResponse {
        items,
        total,
        page,
        per_page,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    #[schema(format = "uuid")]
    pub id: String,
    pub filename: String,
    /// As read from the document's bytes.
    #[schema(pattern = "^(application/pdf|image/jpeg|image/png)$")]
    pub content_type: String,
    /// Bytes.
    #[schema(minimum = 0)]
    pub size: i64,
    /// Of the original bytes, in hexadecimal.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// An identity document, the mandate of one acting for another, or the
    /// scanned letter the request arrived by.
    #[schema(pattern = "^(id_document|mandate|letter)$")]
    pub role: String,
    pub uploaded_at: DateTime<Utc>,
    /// When the content was destroyed at the end of its retention.
    pub purged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub at: DateTime<Utc>,
    /// `requester`, `system`, or the staff member's e-mail.
    pub actor: String,
    pub action: String,
    pub status: Option<Status>,
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestDetail {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(pattern = "^DR-[0-9A-HJKMNP-TV-Z]{6}$", example = "DR-7K3P2X")]
    pub reference: String,
    pub tenant: String,
    pub kind: Kind,
    pub status: Status,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub postal_address: Option<String>,
    pub details: Option<String>,
    pub scope: Option<String>,
    pub grounds: Option<String>,
    /// The cookie banner's identifiers the request names, lower-case and
    /// hyphenated (none once the requester's data were erased).
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub subject_ids: Vec<String>,
    /// How the request arrived: `web`, or entered by staff (`post`,
    /// `counter`, `phone`, `email`, `other`).
    pub channel: Channel,
    /// Shared by the requests of one submission (one per right).
    #[schema(format = "uuid")]
    pub case_id: Option<String>,
    /// The other requests of the same submission (« Demandes liées »).
    pub case: Vec<LinkedRequest>,
    /// The same person's other requests to the tenant (the same e-mail
    /// address), open or closed, outside this case; latest first, at most
    /// 50.
    pub same_person: Vec<LinkedRequest>,
    /// The person the requester acts for (none once erased).
    pub on_behalf_of: Option<OnBehalfOf>,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    pub extended: bool,
    pub extension_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome_reason: Option<String>,
    #[schema(format = "uuid")]
    pub duplicate_of: Option<String>,
    /// When the requester's personal data were erased at the end of their
    /// retention (an anonymous record stays).
    pub erased_at: Option<DateTime<Utc>>,
    /// The DPO's latest decision on the requester's identity.
    pub identity: Option<IdentityView>,
    /// When the requester sent the identity document asked for, if no one
    /// had opened the request since: this reading marks it seen.
    pub new_document_at: Option<DateTime<Utc>>,
    /// The moves the DPO may make now.
    pub next: Vec<Status>,
    /// The files the requester gave: identity documents, mandate, letter.
    pub documents: Vec<DocumentView>,
    /// The DPO's answers to the requester (messages, the closing note, the
    /// rejection's reason), oldest first, with their attachments.
    pub messages: Vec<MessageView>,
    /// Its assignments to referents, oldest first.
    pub assignments: Vec<AssignmentView>,
    /// Internal notes of the DPO and the referents, oldest first: never
    /// shown to the requester.
    pub notes: Vec<NoteView>,
    /// The timeline; a message's entry carries its `message_id` and its
    /// `body` (until the retention erases it).
    pub events: Vec<EventView>,
}

/// A request the staff member may see, in full, as the DPO reads it: the
/// queue no longer marks the document that had arrived (the API's detail
/// and the console's page).
pub async fn open(
    rights: &RightsService,
    staff: &Staff,
    id: String,
) -> Result<RequestDetail, RightsError> {
    let row = readable(rights, staff, id).await?;
    if let Some(arrived) = row.new_document_at.filter(|_| !staff.is_referent()) {
        let id = row.id.clone();
        rights
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| Ok(store::mark_seen(conn, &id, arrived)?))
            })
            .await?;
    }
    let mut read = detail_of(rights, row).await?;
    if staff.is_referent() {
        // A referent reads the request to contribute, and acts on nothing:
        // no move, no identity document.
        read.next.clear();
        read.documents.clear();
    }
    Ok(read)
}

/// A request in full: its documents, its timeline and the moves the DPO
/// may make now.
pub async fn detail_of(
    rights: &RightsService,
    row: RequestRow,
) -> Result<RequestDetail, RightsError> {
    let id = row.id.clone();
    let hashes = related::pseudonyms_of(&row, &rights.pseudonym_keys);
    let linked = row.clone();
    let now = rights.clock.now();
    let (documents, events, messages, case, same_person, assignments, notes) = rights
        .run(move |conn| {
            Ok((
                store::documents(conn, &id)?,
                store::timeline(conn, &id)?,
                messages::views(conn, &id)?,
                related::case_of(conn, &linked)?,
                related::same_person(conn, &linked, &hashes)?,
                referents::of_requests(conn, std::slice::from_ref(&id), now.naive_utc())?,
                referents::notes_of(conn, &id)?,
            ))
        })
        .await?;
    let bodies: HashMap<&str, &str> = messages
        .iter()
        .filter_map(|m| Some((m.id.as_str(), m.body.as_deref()?)))
        .collect();
    let status = row.status;
    let subject_ids = row.subject_ids();
    Ok(RequestDetail {
        tenant: slug(rights, &row.tenant_id),
        kind: row.kind,
        status,
        overdue: deadline::is_overdue(
            row.is_open,
            row.paused_at.is_some(),
            row.due_at.and_utc(),
            now,
        ),
        next: next_for_staff(status),
        identity: IdentityView::of(&row),
        new_document_at: row.new_document_at.map(|t| t.and_utc()),
        on_behalf_of: row.on_behalf_of(),
        channel: row.channel,
        case,
        same_person,
        documents: documents
            .into_iter()
            .map(|d| DocumentView {
                role: d.role.as_str().to_owned(),
                id: d.id,
                filename: d.filename,
                content_type: d.content_type,
                size: d.size,
                sha256: d.sha256,
                uploaded_at: d.uploaded_at.and_utc(),
                purged_at: d.purged_at.map(|t| t.and_utc()),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| {
                let mut said: Option<serde_json::Value> =
                    e.detail.and_then(|d| serde_json::from_str(&d).ok());
                if let (Action::Message, Some(d)) = (e.action, said.as_mut()) {
                    let body = d["message_id"].as_str().and_then(|m| bodies.get(m));
                    if let Some(body) = body {
                        d["body"] = (*body).into();
                    }
                }
                EventView {
                    at: e.at.and_utc(),
                    actor: e.actor,
                    action: e.action.as_str().to_owned(),
                    status: e.status,
                    detail: said,
                }
            })
            .collect(),
        messages,
        assignments: assignments.into_iter().map(|(_, a)| a).collect(),
        notes,
        id: row.id,
        reference: row.reference,
        first_name: row.first_name,
        last_name: row.last_name,
        email: row.email,
        postal_address: row.postal_address,
        details: row.details,
        subject_ids,
        case_id: row.case_id,
        scope: row.scope,
        grounds: row.grounds,
        received_at: row.received_at.and_utc(),
        due_at: row.due_at.and_utc(),
        extended: row.extended,
        extension_reason: row.extension_reason,
        closed_at: row.closed_at.map(|t| t.and_utc()),
        outcome_reason: row.outcome_reason,
        duplicate_of: row.duplicate_of,
        erased_at: row.erased_at.map(|t| t.and_utc()),
    })
}

/// Everything about a request.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    responses(
        (status = 200, description = "The request, its documents and its timeline.", body = RequestDetail),
        (status = 404, description = "No such request (or another tenant's)."),
    )
)]
#[get("/v1/dpo/requests/{id}")]
pub async fn detail(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let detail = open(&rights, &staff, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(detail))
}
