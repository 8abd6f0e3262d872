//! `POST /v1/tenants/{tenant}/requests`: a citizen's rights request (one
//! per right asked for, sharing a case), with its files, committed in one
//! transaction with its timeline and its e-mails; `receive` records staff
//! entries (`entry`) the same way.
//!
//! (Over 400 lines: the one way a request is recorded, whatever its
//! arrival, with the checks of its files and the sealing of its copies, and
//! the answer's types; split, the transaction would part from its checks.)

use std::sync::Arc;

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::arrival::{Channel, Relation};
use super::error::RightsError;
use super::form::{Form, FormLimits, FIELDS};
use super::identity::{IdentityMethod, IdentityOutcome};
use super::intake::{body_kind, read_json, read_multipart, BodyKind, FormRules, Intake, Upload};
use super::lifecycle::{Action, Kind, Role, Status};
use super::notify::Notifier;
use super::reference::new_reference;
use super::sealing::seal_files;
use super::service::RightsService;
use super::store::{self, DocumentRow, RequestRow};
use super::{counts, deadline, search};
use crate::error::{ApiError, FieldError};
use crate::http::client_ip;
use crate::privacy::email_pseudonyms;
use crate::tenants::Tenant;

#[derive(Debug, Serialize, ToSchema)]
pub struct Submitted {
    /// The first request's id (of `kind`, or of the first of `kinds`).
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(example = "DR-7K3P2X")]
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Shown once: the key of the tracking page, which follows every
    /// request of the submission. Only its hash is kept.
    pub tracking_token: String,
    /// Shared by the requests of one submission (one per right).
    #[schema(format = "uuid")]
    pub case_id: String,
    /// How the request arrived (`web` for the public form and this API).
    pub channel: Channel,
    /// Every request of the submission, in the order of `kinds`.
    pub requests: Vec<CaseRequest>,
}

/// One request of a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseRequest {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(example = "DR-7K3P2X")]
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub due_at: DateTime<Utc>,
}

/// How a request arrived: by the public form (or this API), or entered by
/// staff from a letter, the counter, a call…
pub struct Arrival {
    pub channel: Channel,
    /// When the authority received it: the clock starts then.
    pub received_at: DateTime<Utc>,
    /// The staff member who entered it.
    pub entered_by: Option<String>,
    /// The requester's identity, as an identity provider vouched for it
    /// when the request was sent: no identity document is then needed.
    pub verified: Option<Verified>,
}

/// An identity an identity provider vouched for (FranceConnect).
#[derive(Debug, Clone)]
pub struct Verified {
    /// The provider's identifier of the person, as a keyed hash only.
    pub subject_hash: String,
    /// When the provider vouched for it.
    pub at: DateTime<Utc>,
}

/// Who vouched for an identity verified when the request was sent.
pub const FRANCECONNECT: &str = "franceconnect";

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
            let rules = FormRules::submission(limits, false);
            read_multipart(&req, payload, &rights.uploads, &rules, FIELDS).await?
        }
        BodyKind::Json => {
            read_json(payload, rights.settings.limits.json_body_bytes, FIELDS).await?
        }
    };
    let submitted = accept(&rights, tenant, intake, None).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(submitted))
}

/// Checks and records a request the public sent (the JSON API's and the
/// citizen's page): received now, by the web.
pub async fn accept(
    rights: &RightsService,
    tenant: Arc<Tenant>,
    intake: Intake,
    verified: Option<Verified>,
) -> Result<Submitted, RightsError> {
    let arrival = Arrival {
        channel: Channel::Web,
        received_at: rights.clock.now(),
        entered_by: None,
        verified,
    };
    let limits = FormLimits::of(&rights.settings.requests);
    receive(rights, tenant, intake, &limits, arrival).await
}

/// The files of a submission, by role, each sealed once per request.
const GIVEN_PARTS: [(&str, Role); 3] = [
    ("id_document", Role::IdDocument),
    ("mandate", Role::Mandate),
    ("letter", Role::Letter),
];

/// Checks and records a submission: one request per right asked for,
/// sharing a case, each with its copy of the files sent, its timeline
/// entry; one tracking token and one acknowledgement for them all (and,
/// from the public, one notice to the DPO), in one transaction.
pub async fn receive(
    rights: &RightsService,
    tenant: Arc<Tenant>,
    mut intake: Intake,
    limits: &FormLimits,
    arrival: Arrival,
) -> Result<Submitted, RightsError> {
    let from_staff = arrival.entered_by.is_some();
    let form = Form::parse(&intake.fields, &intake.lists, limits)?;
    offered(&tenant, &form, &intake)?;
    check_files(
        &tenant,
        &form,
        &intake,
        from_staff || arrival.verified.is_some(),
    )?;
    // Kept under the current key; an earlier request of the same address
    // may be under a retired one.
    let email_hashes = Arc::new(
        form.email
            .as_deref()
            .map(|email| email_pseudonyms(rights.pseudonym_keys.iter(), email))
            .unwrap_or_default(),
    );
    let email_hash = email_hashes.first().cloned();
    if let (Some(hash), false) = (&email_hash, from_staff) {
        // In memory, keyed under the current key, which changes only with a
        // restart, which empties it.
        rights.submission_limits.check_email(hash)?;
    }

    let now = rights.clock.now();
    let received_at = arrival.received_at.naive_utc();
    let due = deadline::initial_due(arrival.received_at);
    let case_id = uuid::Uuid::now_v7().to_string();
    let has_document = intake.has("id_document");
    let verified = arrival.verified.clone();
    let rows: Vec<RequestRow> = form
        .kinds
        .iter()
        .map(|&kind| {
            let opposition = kind == Kind::Opposition;
            RequestRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant.id.clone(),
                reference: String::new(),
                kind,
                status: Status::Received,
                is_open: true,
                search_text: None,
                first_name: Some(form.first_name.clone()),
                last_name: Some(form.last_name.clone()),
                email: form.email.clone(),
                email_hash: email_hash.clone(),
                postal_address: form.postal_address.clone(),
                details: Some(form.details.clone()),
                scope: form.scope.clone().filter(|_| opposition),
                grounds: form.grounds.clone().filter(|_| opposition),
                received_at,
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
                identity_outcome: verified.as_ref().map(|_| IdentityOutcome::Verified),
                identity_method: verified.as_ref().map(|_| IdentityMethod::Franceconnect),
                identity_at: verified.as_ref().map(|v| v.at.naive_utc()),
                identity_by: verified.as_ref().map(|_| FRANCECONNECT.to_owned()),
                identity_note: None,
                new_document_at: None,
                channel: arrival.channel,
                case_id: Some(case_id.clone()),
                on_behalf_first_name: form.on_behalf_of.as_ref().map(|o| o.first_name.clone()),
                on_behalf_last_name: form.on_behalf_of.as_ref().map(|o| o.last_name.clone()),
                on_behalf_relation: form.on_behalf_of.as_ref().map(|o| o.relation),
            }
        })
        .collect();
    let documents = Arc::new(seal_for_each(rights, &rows, &mut intake, now.naive_utc()).await?);
    let entered = arrival
        .entered_by
        .as_ref()
        .map(|_| serde_json::json!({"channel": arrival.channel, "entered_at": now}))
        .or_else(|| {
            verified.as_ref().map(|v| {
                serde_json::json!({"identity": {
                    "outcome": "verified", "method": FRANCECONNECT,
                    "at": v.at, "subject_hash": v.subject_hash,
                }})
            })
        });
    let actor = arrival.entered_by.unwrap_or_else(|| "requester".to_owned());
    let mut attempt = 0;
    let (rows, token) = loop {
        attempt += 1;
        let (rights2, tenant2, rows, documents, email_hashes, entered, actor) = (
            rights.clone(),
            tenant.clone(),
            rows.clone(),
            documents.clone(),
            email_hashes.clone(),
            entered.clone(),
            actor.clone(),
        );
        let result = rights
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| {
                    let mut stored = Vec::with_capacity(rows.len());
                    for mut row in rows {
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
                        if !email_hashes.is_empty() {
                            row.duplicate_of = store::open_duplicate(
                                conn,
                                &row.tenant_id,
                                &email_hashes,
                                row.kind,
                            )?;
                        }
                        store::insert(conn, &row)?;
                        if let Some(text) = &row.search_text {
                            search::index(conn, &row.id, text)?;
                        }
                        counts::moved(conn, None, &row)?;
                        for doc in documents.iter().filter(|d| d.request_id == row.id) {
                            store::insert_document(conn, doc)?;
                        }
                        let mut detail = entered.clone().unwrap_or_else(|| serde_json::json!({}));
                        if let Some(d) = &row.duplicate_of {
                            detail["duplicate_of"] = d.as_str().into();
                        }
                        let detail = detail
                            .as_object()
                            .is_some_and(|d| !d.is_empty())
                            .then_some(detail);
                        store::add_event(
                            conn,
                            &row.id,
                            row.received_at,
                            &actor,
                            Action::Received,
                            Some(Status::Received),
                            detail,
                        )?;
                        stored.push(row);
                    }
                    let token = store::new_tracking_token(conn, &stored[0].id, now.naive_utc())?;
                    Notifier {
                        state: &rights2,
                        tenant: &tenant2,
                    }
                    .submitted(
                        conn,
                        &stored,
                        &token,
                        has_document,
                        !from_staff,
                        now.naive_utc(),
                    )?;
                    Ok((stored, token))
                })
            })
            .await;
        match result {
            Err(e) if attempt < 3 && e.is_unique_violation() => continue,
            other => break other?,
        }
    };
    tracing::info!(
        request = %rows[0].id,
        kinds = rows.len(),
        channel = %arrival.channel,
        documents = documents.len(),
        "rights request received"
    );
    let first = &rows[0];
    Ok(Submitted {
        id: first.id.clone(),
        reference: first.reference.clone(),
        kind: first.kind,
        status: Status::Received,
        received_at: first.received_at.and_utc(),
        due_at: first.due_at.and_utc(),
        tracking_token: token,
        case_id,
        channel: arrival.channel,
        requests: rows
            .iter()
            .map(|r| CaseRequest {
                id: r.id.clone(),
                reference: r.reference.clone(),
                kind: r.kind,
                status: r.status,
                due_at: r.due_at.and_utc(),
            })
            .collect(),
    })
}

/// Every right asked for is one the tenant offers (Val Parisis, for one,
/// does not offer portability).
fn offered(tenant: &Tenant, form: &Form, intake: &Intake) -> Result<(), RightsError> {
    let field = if intake.lists.contains_key("kinds") {
        "kinds"
    } else {
        "kind"
    };
    match form
        .kinds
        .iter()
        .find(|k| !tenant.config.offers(k.as_str()))
    {
        Some(kind) => Err(RightsError::field(
            field,
            format!(
                "{} does not offer the {}: it offers {}",
                tenant.config.name,
                kind.label(crate::tenants::Locale::En),
                tenant.config.rights.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// The files a submission must or must not hold: the identity document a
/// tenant requires of the public, the mandate of one acting under it.
fn check_files(
    tenant: &Tenant,
    form: &Form,
    intake: &Intake,
    from_staff: bool,
) -> Result<(), RightsError> {
    let mut errors = Vec::new();
    if tenant.config.require_id_document && !from_staff && !intake.has("id_document") {
        errors.push(FieldError {
            field: "id_document".into(),
            message: "a copy of an identity document (PDF, JPEG or PNG) is required".into(),
        });
    }
    let relation = form.on_behalf_of.as_ref().map(|o| o.relation);
    match (relation, intake.has("mandate")) {
        (Some(Relation::Mandate), false) => errors.push(FieldError {
            field: "mandate".into(),
            message: "is required when acting under a mandate: a copy of it (PDF, JPEG or PNG)"
                .into(),
        }),
        (None, true) => errors.push(FieldError {
            field: "mandate".into(),
            message: "goes with on_behalf_of: the person the request is made for".into(),
        }),
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RightsError::Invalid(errors))
    }
}

/// Seals a copy of every file sent for each request of the submission (each
/// request keeps its own, under its own retention). The copies beyond the
/// first are counted against the upload memory budget too.
async fn seal_for_each(
    rights: &RightsService,
    rows: &[RequestRow],
    intake: &mut Intake,
    now: chrono::NaiveDateTime,
) -> Result<Vec<DocumentRow>, RightsError> {
    let sent: usize = intake.documents.iter().map(|d| d.bytes.len()).sum();
    let _copies = match sent * (rows.len() - 1) {
        0 => None,
        extra => Some(rights.uploads.reserve(extra)?),
    };
    let mut sealed = Vec::new();
    for (part, role) in GIVEN_PARTS {
        let uploads = intake.take(part);
        for row in rows {
            let copies = uploads.iter().map(Upload::copy).collect();
            sealed.extend(seal_files(rights, row.id.clone(), copies, role, now).await?);
        }
    }
    Ok(sealed)
}
