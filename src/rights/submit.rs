//! `POST /v1/tenants/{tenant}/requests`: a citizen's rights request, with
//! its identity documents, committed in one transaction with its timeline
//! and its two e-mails.

use std::sync::Arc;

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::RightsError;
use super::form::{Form, FormLimits, FIELDS};
use super::intake::{body_kind, read_json, read_multipart, BodyKind, Intake};
use super::lifecycle::{Action, Kind, Status};
use super::notify::Notifier;
use super::reference::new_reference;
use super::sealing::seal_documents;
use super::service::RightsService;
use super::store::{self, RequestRow};
use super::{counts, deadline, search};
use crate::error::ApiError;
use crate::http::client_ip;
use crate::privacy::email_pseudonyms;
use crate::tenants::Tenant;

#[derive(Debug, Serialize, ToSchema)]
pub struct Submitted {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(example = "DR-7K3P2X")]
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Shown once: the key of the tracking page. Only its hash is kept.
    pub tracking_token: String,
}

/// Submits a rights request.
#[utoipa::path(
    tag = "requests",
    params(("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$")),
    request_body(
        description = "The request's fields, with file parts `id_document` as multipart (PDF, JPEG or PNG, 10 MiB each, 2 at most); JSON with the same fields when no file is sent.",
        content(
            (super::form::SubmissionForm = "multipart/form-data"),
            (super::form::Submission = "application/json"),
        ),
    ),
    responses(
        (status = 201, description = "Received: reference, deadline and tracking token (shown once).", body = Submitted),
        (status = 400, description = "Malformed form or JSON."),
        (status = 413, description = "A document or the form is too large."),
        (status = 415, description = "Not multipart or JSON, or a document that is not PDF, JPEG or PNG."),
        (status = 422, description = "Invalid fields, or the identity document the tenant requires is missing."),
        (status = 408, description = "The body stopped arriving, or took too long."),
        (status = 429, description = "Too many submissions from this address or e-mail."),
        (status = 503, description = "Too many documents being received at once (`uploads_busy`), or too many senders being counted at once (`submissions_busy`); see Retry-After."),
    )
)]
#[post("/requests")]
pub async fn submit(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = rights.tenants.get(&path)?;
    let limits = &rights.settings.requests;
    if let Some(ip) = client_ip(&req, &rights.settings.server) {
        rights.submission_limits.check_ip(ip)?;
    }
    let intake = match body_kind(&req)? {
        BodyKind::Multipart => {
            read_multipart(&req, payload, &rights.uploads, limits, FIELDS).await?
        }
        BodyKind::Json => {
            read_json(payload, rights.settings.limits.json_body_bytes, FIELDS).await?
        }
    };
    let submitted = accept(&rights, tenant, intake).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(submitted))
}

/// Checks and records a request read from a form (the JSON API's and the
/// citizen's page): the request, its documents, its timeline and its two
/// e-mails in one transaction.
pub async fn accept(
    rights: &RightsService,
    tenant: Arc<Tenant>,
    intake: Intake,
) -> Result<Submitted, RightsError> {
    let limits = &rights.settings.requests;
    let form = Form::parse(&intake.fields, &intake.lists, &FormLimits::of(limits))?;
    if tenant.config.require_id_document && intake.documents.is_empty() {
        return Err(RightsError::field(
            "id_document",
            "a copy of an identity document (PDF, JPEG or PNG) is required",
        ));
    }
    // Kept under the current key; an earlier request of the same address
    // may be under a retired one.
    let email_hashes = Arc::new(email_pseudonyms(rights.pseudonym_keys.iter(), &form.email));
    let email_hash = email_hashes[0].clone();
    // In memory, keyed under the current key, which changes only with a
    // restart, which empties it.
    rights.submission_limits.check_email(&email_hash)?;

    let now = rights.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let has_document = !intake.documents.is_empty();
    let documents =
        Arc::new(seal_documents(rights, id.clone(), intake.documents, now.naive_utc()).await?);
    let due = deadline::initial_due(now);
    let row = RequestRow {
        id,
        tenant_id: tenant.id.clone(),
        reference: String::new(),
        kind: form.kind,
        status: Status::Received,
        is_open: true,
        search_text: None,
        first_name: Some(form.first_name),
        last_name: Some(form.last_name),
        email: Some(form.email),
        email_hash: Some(email_hash),
        postal_address: form.postal_address,
        details: Some(form.details),
        scope: form.scope,
        grounds: form.grounds,
        received_at: now.naive_utc(),
        due_at: due.naive_utc(),
        paused_at: None,
        extended: false,
        extension_reason: None,
        closed_at: None,
        outcome_reason: None,
        duplicate_of: None,
        erased_at: None,
        updated_at: now.naive_utc(),
        subject_ids: store::subject_ids_text(&form.subject_ids),
        identity_outcome: None,
        identity_method: None,
        identity_at: None,
        identity_by: None,
        identity_note: None,
        new_document_at: None,
    };
    let mut attempt = 0;
    let (row, token) = loop {
        attempt += 1;
        let (rights2, tenant2, row, documents, email_hashes) = (
            rights.clone(),
            tenant.clone(),
            row.clone(),
            documents.clone(),
            email_hashes.clone(),
        );
        let result = rights
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| {
                    let mut row = row;
                    row.reference = loop {
                        let candidate = new_reference();
                        if !store::reference_taken(conn, &row.tenant_id, &candidate)? {
                            break candidate;
                        }
                    };
                    row.search_text = Some(search::text_of(
                        &row.reference,
                        row.first_name.as_deref(),
                        row.last_name.as_deref(),
                        row.email.as_deref(),
                    ));
                    row.duplicate_of =
                        store::open_duplicate(conn, &row.tenant_id, &email_hashes, row.kind)?;
                    store::insert(conn, &row)?;
                    if let Some(text) = &row.search_text {
                        search::index(conn, &row.id, text)?;
                    }
                    counts::moved(conn, None, &row)?;
                    for doc in documents.iter() {
                        store::insert_document(conn, doc)?;
                    }
                    let detail = row
                        .duplicate_of
                        .as_ref()
                        .map(|d| serde_json::json!({"duplicate_of": d}));
                    store::add_event(
                        conn,
                        &row.id,
                        row.received_at,
                        "requester",
                        Action::Received,
                        Some(Status::Received),
                        detail,
                    )?;
                    let token = store::new_tracking_token(conn, &row.id, row.received_at)?;
                    Notifier {
                        state: &rights2,
                        tenant: &tenant2,
                    }
                    .submitted(
                        conn,
                        &row,
                        &token,
                        has_document,
                        row.received_at,
                    )?;
                    Ok((row, token))
                })
            })
            .await;
        match result {
            Err(e) if attempt < 3 && e.is_unique_violation() => continue,
            other => break other?,
        }
    };
    tracing::info!(request = %row.id, kind = %row.kind, documents = documents.len(), "rights request received");
    Ok(Submitted {
        id: row.id,
        reference: row.reference,
        kind: form.kind,
        status: Status::Received,
        received_at: row.received_at.and_utc(),
        due_at: row.due_at.and_utc(),
        tracking_token: token,
    })
}
