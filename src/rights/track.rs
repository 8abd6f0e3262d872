//! The requester's side after submission: follow the request with the
//! tracking token (where the DPO's answers are delivered: `messages`, their
//! files in `downloads.rs`), and upload the identity document when asked.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::RightsError;
use super::intake::{read_multipart, FormRules, Upload};
use super::lifecycle::{allowed, Action, By, Kind, Status};
use super::messages::{self, TrackedMessage};
use super::notify::Notifier;
use super::sealing::seal_documents;
use super::service::RightsService;
use super::store::{self, token_hash, RequestRow};
use super::{counts, deadline, related};
use crate::error::ApiError;

/// What happened at a step of the request's life, as its requester is
/// told: `status` is where the request stood after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackEventKind {
    /// The request arrived.
    Submitted,
    /// The DPO moved it.
    StatusChanged,
    /// The requester sent the identity document asked for: the request is
    /// back with the DPO, its clock running again (its status `received`
    /// then, though it did not start over).
    IdentityDocumentReceived,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackEvent {
    pub status: Status,
    pub at: DateTime<Utc>,
    pub event: TrackEventKind,
}

/// One request of the submission a tracking token follows.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackedRequest {
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub due_at: DateTime<Utc>,
    pub extended: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tracking {
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub extended: bool,
    pub events: Vec<TrackEvent>,
    /// The DPO's answers (messages, the closing note, the rejection's
    /// reason), oldest first, with their files to download.
    pub messages: Vec<TrackedMessage>,
    /// An identity document is asked for (status `awaiting_identity`).
    pub identity_awaited: bool,
    /// The answer's clock is stopped until it arrives: `due_at` moves on
    /// by the time it stays stopped.
    pub clock_paused: bool,
    /// Why the DPO asked for an identity document, while one is awaited.
    pub identity_reason: Option<String>,
    /// Every request of the submission (one per right asked for, this one
    /// among them), each with its own status, in the order asked.
    pub requests: Vec<TrackedRequest>,
}

impl Tracking {
    /// When the identity document asked for arrived, if the request has
    /// been back with the DPO since, not moved again.
    pub fn resumed_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .last()
            .filter(|e| e.event == TrackEventKind::IdentityDocumentReceived)
            .filter(|_| self.status == Status::Received)
            .map(|e| e.at)
    }
}

/// The hash a tracking token is looked up by; a token that cannot be one
/// opens nothing.
fn check_token(token: &str) -> Result<String, RightsError> {
    if token.len() > 100 || token.is_empty() {
        return Err(RightsError::UnknownTracking);
    }
    Ok(token_hash(token))
}

/// Where the request stands: no personal data beyond its reference.
#[utoipa::path(
    tag = "requests",
    params(("tracking_token" = String, Path, description = "The token given at submission or in an e-mail.", max_length = 100)),
    responses(
        (status = 200, description = "Status, timeline and the DPO's answers.", body = Tracking),
        (status = 404, description = "Unknown token."),
    )
)]
#[get("/v1/requests/track/{tracking_token}")]
pub async fn track(
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, tracking) = find(&rights, &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(tracking))
}

/// The request a tracking token opens, and what its requester may see of it.
pub async fn find(
    rights: &RightsService,
    token: &str,
) -> Result<(RequestRow, Tracking), RightsError> {
    let hash = check_token(token)?;
    let (row, events, answers, case) = rights
        .run(move |conn| {
            let row = store::find_by_tracking(conn, &hash)?.ok_or(RightsError::UnknownTracking)?;
            let events = store::timeline(conn, &row.id)?;
            let answers = messages::views(conn, &row.id)?;
            let case = match &row.case_id {
                Some(case_id) => related::case_rows(conn, case_id)?,
                None => vec![row.clone()],
            };
            Ok((row, events, answers, case))
        })
        .await?;
    let requests = case
        .into_iter()
        .map(|r| TrackedRequest {
            reference: r.reference,
            kind: r.kind,
            status: r.status,
            due_at: r.due_at.and_utc(),
            extended: r.extended,
        })
        .collect();
    let identity_awaited = row.status == Status::AwaitingIdentity;
    let identity_reason = events
        .iter()
        .rev()
        .find(|e| e.action == Action::Transition && e.status == Some(Status::AwaitingIdentity))
        .filter(|_| identity_awaited)
        .and_then(|e| e.detail.as_deref())
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|d| d["note"].as_str().map(str::to_owned));
    let events = events
        .into_iter()
        .filter_map(|e| {
            Some(TrackEvent {
                status: e.status?,
                at: e.at.and_utc(),
                event: match e.action {
                    Action::Received => TrackEventKind::Submitted,
                    Action::DocumentUploaded => TrackEventKind::IdentityDocumentReceived,
                    _ => TrackEventKind::StatusChanged,
                },
            })
        })
        .collect();
    let tracking = Tracking {
        reference: row.reference.clone(),
        kind: row.kind,
        status: row.status,
        received_at: row.received_at.and_utc(),
        due_at: row.due_at.and_utc(),
        extended: row.extended,
        events,
        messages: answers.into_iter().map(TrackedMessage::from).collect(),
        identity_awaited,
        clock_paused: row.paused_at.is_some(),
        identity_reason,
        requests,
    };
    Ok((row, tracking))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub status: Status,
    pub due_at: DateTime<Utc>,
    pub documents: usize,
}

/// Sends the identity document the DPO asked for; the clock resumes.
#[utoipa::path(
    tag = "requests",
    params(("tracking_token" = String, Path, description = "The tracking token.", max_length = 100)),
    request_body(content = super::form::DocumentsUpload, content_type = "multipart/form-data", description = "One or two `id_document` file parts (PDF, JPEG or PNG, 10 MiB each)."),
    responses(
        (status = 201, description = "Received; the request is back to `received`, its clock runs again, and the DPO is e-mailed.", body = Uploaded),
        (status = 400, description = "Malformed form."),
        (status = 404, description = "Unknown token."),
        (status = 409, description = "No identity document is awaited, also when an upload or a move made at the same time came first (`not_awaiting_identity`); or a concurrent change got in the way (`concurrent_change`)."),
        (status = 413, description = "A document is too large."),
        (status = 415, description = "Not multipart, or not a PDF, JPEG or PNG."),
        (status = 408, description = "The body stopped arriving, or took too long."),
        (status = 422, description = "No document, or too many."),
        (status = 503, description = "Too many documents being received at once (`uploads_busy`); see Retry-After."),
    )
)]
#[post("/v1/requests/track/{tracking_token}/documents")]
pub async fn upload(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let row = awaiting_identity(&rights, &path).await?;
    if !matches!(
        super::intake::body_kind(&req)?,
        super::intake::BodyKind::Multipart
    ) {
        return Err(ApiError::unsupported_media_type("multipart/form-data"));
    }
    let rules = FormRules::identity(&rights.settings.requests);
    let intake = read_multipart(&req, payload, &rights.uploads, &rules, &[]).await?;
    let uploaded = receive_documents(&rights, row, intake.documents).await?;
    Ok(HttpResponse::Created().json(uploaded))
}

/// The request a tracking token opens if it awaits an identity document,
/// or else the first request of its case that does (the token of a
/// submission follows every request of it).
pub async fn awaiting_identity(
    rights: &RightsService,
    token: &str,
) -> Result<RequestRow, RightsError> {
    let lookup = check_token(token)?;
    let (row, case) = rights
        .run(move |conn| {
            let row =
                store::find_by_tracking(conn, &lookup)?.ok_or(RightsError::UnknownTracking)?;
            let case = match &row.case_id {
                Some(case_id) if row.status != Status::AwaitingIdentity => {
                    related::case_rows(conn, case_id)?
                }
                _ => Vec::new(),
            };
            Ok((row, case))
        })
        .await?;
    std::iter::once(row)
        .chain(case)
        .find(|r| r.status == Status::AwaitingIdentity)
        .ok_or(RightsError::NotAwaitingIdentity)
}

/// Records the identity documents the DPO asked for, for `row` and every
/// other request of its case that awaits them too (one upload serves
/// them all, each keeping its copy): each goes back to `received`, its
/// clock runs again, the queue marks it « Nouvelle pièce » and the DPO is
/// e-mailed, all in one transaction.
pub async fn receive_documents(
    rights: &RightsService,
    row: RequestRow,
    documents: Vec<Upload>,
) -> Result<Uploaded, RightsError> {
    if documents.is_empty() {
        return Err(RightsError::field("id_document", "a document is required"));
    }
    let tenant = rights
        .tenants
        .by_id(&row.tenant_id)
        .ok_or(RightsError::UnknownTracking)?;
    let rights2 = rights.clone();
    let now = rights.clock.now();
    let count = documents.len();
    let case_id = row.case_id.clone();
    let opened = row.id.clone();
    let mut targets = vec![row.id.clone()];
    if let Some(case_id) = case_id {
        let siblings = rights
            .run(move |conn| Ok(related::case_rows(conn, &case_id)?))
            .await?;
        targets.extend(
            siblings
                .into_iter()
                .filter(|r| r.id != row.id && r.status == Status::AwaitingIdentity)
                .map(|r| r.id),
        );
    }
    let _copies = match documents.iter().map(|d| d.bytes.len()).sum::<usize>() * (targets.len() - 1)
    {
        0 => None,
        extra => Some(rights.uploads.reserve(extra)?),
    };
    // Locked in one order, whichever token of the case was used.
    targets.sort_unstable();
    let mut sealed = Vec::with_capacity(targets.len());
    for id in &targets {
        let copies = documents.iter().map(Upload::copy).collect();
        sealed.push(seal_documents(rights, id.clone(), copies, now.naive_utc()).await?);
    }
    drop(documents);
    let (status, due) = rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let mut answer = None;
                for (id, documents) in targets.iter().zip(&sealed) {
                    // Read again, held until the upload commits: the status
                    // may have moved, and a move made meanwhile waits for
                    // this one. Only the request the token opened must
                    // still await the document; the others of its case
                    // that no longer do are left as they are.
                    let row = store::lock(conn, id)?.ok_or(RightsError::UnknownTracking)?;
                    if !allowed(row.status, Status::Received, By::Requester) {
                        if *id == opened {
                            return Err(RightsError::NotAwaitingIdentity);
                        }
                        continue;
                    }
                    let resumed = resume(conn, &rights2, &tenant, row, documents, now)?;
                    if *id == opened {
                        answer = Some(resumed);
                    }
                }
                answer.ok_or(RightsError::NotAwaitingIdentity)
            })
        })
        .await?;
    Ok(Uploaded {
        status,
        due_at: due.and_utc(),
        documents: count,
    })
}

/// One request awaiting its identity document gets it: back to `received`,
/// its clock running again, marked « Nouvelle pièce », the DPO told.
fn resume(
    conn: &mut crate::db::DbConnection,
    rights: &RightsService,
    tenant: &crate::tenants::Tenant,
    mut row: RequestRow,
    documents: &[super::store::DocumentRow],
    now: DateTime<Utc>,
) -> Result<(Status, chrono::NaiveDateTime), RightsError> {
    let before = row.clone();
    for doc in documents {
        store::insert_document(conn, doc)?;
    }
    let paused = row.paused_at.take().unwrap_or(row.due_at).and_utc();
    row.due_at = deadline::resume(row.due_at.and_utc(), paused, now).naive_utc();
    row.status = Status::Received;
    row.updated_at = now.naive_utc();
    row.new_document_at = Some(now.naive_utc());
    store::save(conn, &row)?;
    counts::moved(conn, Some(&before), &row)?;
    store::add_event(
        conn,
        &row.id,
        now.naive_utc(),
        "requester",
        Action::DocumentUploaded,
        Some(Status::Received),
        Some(serde_json::json!({"documents": documents.len()})),
    )?;
    Notifier {
        state: rights,
        tenant,
    }
    .document_received(conn, &row, documents.len(), now.naive_utc())?;
    Ok((Status::Received, row.due_at))
}
