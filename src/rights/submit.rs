//! `POST /v1/tenants/{tenant}/requests`: a citizen's rights request, with
//! its identity documents, committed in one transaction with its timeline
//! and its two e-mails.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use governor::Quota;
use rand::Rng;
use serde::Serialize;
use utoipa::ToSchema;
use validator::ValidateEmail;

use super::documents::sha256_hex;
use super::intake::{body_kind, read_json, read_multipart, BodyKind, Intake, Upload};
use super::lifecycle::{Kind, Status};
use super::notify::Notifier;
use super::store::{self, DocumentRow, RequestRow};
use super::{counts, deadline, mail_text, search};
use crate::app::AppState;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::{client_ip, limit_key, KeyedLimit, Refused};
use crate::privacy::email_pseudonyms;
use crate::tenants::Tenant;

pub const FIELDS: &[&str] = &[
    "kind",
    "first_name",
    "last_name",
    "email",
    "postal_address",
    "details",
    "scope",
    "grounds",
];

/// The submission limits: per client address and per e-mail address,
/// each holding at most `requests.submission_limit_keys` keys and
/// forgetting those whose quota is whole again (`KeyedLimit`).
#[derive(Clone)]
pub struct SubmissionLimiter {
    per_ip: Arc<KeyedLimit<IpAddr>>,
    per_email: Arc<KeyedLimit<String>>,
}

impl SubmissionLimiter {
    pub fn new(per_ip_per_hour: u32, per_email_per_day: u32, max_keys: usize) -> Self {
        let per = |n: u32, period: std::time::Duration| {
            let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
            Quota::with_period(period / n.get())
                .expect("non-zero period")
                .allow_burst(n)
        };
        Self {
            per_ip: Arc::new(KeyedLimit::new(
                per(per_ip_per_hour, std::time::Duration::from_secs(3600)),
                max_keys,
            )),
            per_email: Arc::new(KeyedLimit::new(
                per(per_email_per_day, std::time::Duration::from_secs(86_400)),
                max_keys,
            )),
        }
    }

    fn refuse(refused: Refused, what: &str) -> ApiError {
        match refused {
            Refused::Wait(wait) => ApiError::too_many_requests(
                wait.as_secs() + 1,
                format!("Too many requests from this {what}; try again later."),
            ),
            Refused::Full => ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "submissions_busy",
                "Too many senders are being counted at once; try again in a minute.",
            )
            .with_header("retry-after", "60"),
        }
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip
            .check(&limit_key(ip))
            .map_err(|r| Self::refuse(r, "address"))
    }

    pub fn check_email(&self, email_hash: &str) -> Result<(), ApiError> {
        self.per_email
            .check(&email_hash.to_owned())
            .map_err(|r| Self::refuse(r, "e-mail address"))
    }
}

/// The fields of a request, checked.
#[derive(Debug, Clone)]
pub struct Form {
    pub kind: Kind,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub postal_address: Option<String>,
    pub details: String,
    pub scope: Option<String>,
    pub grounds: Option<String>,
}

fn text(
    fields: &HashMap<String, String>,
    name: &str,
    max: usize,
    multiline: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = fields.get(name)?.trim();
    if value.is_empty() {
        return None;
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        errors.push(FieldError {
            field: name.into(),
            message: "must not contain control characters".into(),
        });
        return None;
    }
    if value.chars().count() > max {
        errors.push(FieldError {
            field: name.into(),
            message: format!("must be at most {max} characters"),
        });
        return None;
    }
    Some(value.to_owned())
}

impl Form {
    pub fn parse(fields: &HashMap<String, String>, details_max: usize) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let required = |name: &str, v: Option<String>, errors: &mut Vec<FieldError>| {
            if v.is_none() && !errors.iter().any(|e| e.field == name) {
                errors.push(FieldError {
                    field: name.into(),
                    message: "is required".into(),
                });
            }
            v
        };
        let kind_raw = text(fields, "kind", 20, false, &mut errors);
        let kind = match kind_raw.as_deref() {
            None => {
                required("kind", None, &mut errors);
                None
            }
            Some(k) => {
                let parsed = Kind::parse(k);
                if parsed.is_none() {
                    errors.push(FieldError {
                        field: "kind".into(),
                        message: "must be access, rectification, erasure, restriction, opposition or portability".into(),
                    });
                }
                parsed
            }
        };
        let first_name = required(
            "first_name",
            text(fields, "first_name", 100, false, &mut errors),
            &mut errors,
        );
        let last_name = required(
            "last_name",
            text(fields, "last_name", 100, false, &mut errors),
            &mut errors,
        );
        // The names may greet the requester in letters to an address no
        // one has confirmed yet: no link, nothing that turns text around.
        for (field, name) in [("first_name", &first_name), ("last_name", &last_name)] {
            if let Some(why) = name.as_deref().and_then(mail_text::refusal) {
                errors.push(FieldError {
                    field: field.into(),
                    message: why.into(),
                });
            }
        }
        let email = required(
            "email",
            text(fields, "email", 254, false, &mut errors),
            &mut errors,
        )
        .map(|e| e.to_lowercase());
        if let Some(e) = &email {
            if !e.validate_email() {
                errors.push(FieldError {
                    field: "email".into(),
                    message: "must be an e-mail address".into(),
                });
            }
        }
        let postal_address = text(fields, "postal_address", 500, true, &mut errors);
        let details = required(
            "details",
            text(fields, "details", details_max, true, &mut errors),
            &mut errors,
        );
        let scope = text(fields, "scope", 20, false, &mut errors);
        let grounds = text(fields, "grounds", details_max, true, &mut errors);
        match (kind, scope.as_deref()) {
            (Some(Kind::Opposition), None) => errors.push(FieldError {
                field: "scope".into(),
                message: "is required for an opposition: prospection or processing".into(),
            }),
            (Some(Kind::Opposition), Some("prospection" | "processing")) => {}
            (Some(Kind::Opposition), Some(_)) => errors.push(FieldError {
                field: "scope".into(),
                message: "must be prospection or processing".into(),
            }),
            (Some(_), Some(_)) => errors.push(FieldError {
                field: "scope".into(),
                message: "applies to oppositions only".into(),
            }),
            _ => {}
        }
        if kind == Some(Kind::Opposition)
            && scope.as_deref() == Some("processing")
            && grounds.is_none()
        {
            errors.push(FieldError {
                field: "grounds".into(),
                message: "is required for an opposition to processing (the legitimate ground)"
                    .into(),
            });
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Self {
            kind: kind.expect("checked"),
            first_name: first_name.expect("checked"),
            last_name: last_name.expect("checked"),
            email: email.expect("checked"),
            postal_address,
            details: details.expect("checked"),
            scope,
            grounds,
        })
    }
}

const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `DR-` and six characters without look-alikes (no I, L, O, U).
pub fn new_reference() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("DR-{tail}")
}

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

/// Encrypts documents off the async executor.
pub async fn seal_documents(
    state: &web::Data<AppState>,
    request_id: String,
    uploads: Vec<Upload>,
    now: NaiveDateTime,
) -> Result<Vec<DocumentRow>, ApiError> {
    let state = state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        uploads
            .into_iter()
            .map(|mut up| {
                let id = uuid::Uuid::now_v7().to_string();
                let sha256 = sha256_hex(&up.bytes);
                let size = up.bytes.len() as i64;
                let (key_id, nonce) = state
                    .documents
                    .seal(&id, &mut up.bytes)
                    .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
                Ok(DocumentRow {
                    id,
                    request_id: request_id.clone(),
                    filename: up.filename,
                    content_type: up.content_type.to_owned(),
                    size,
                    sha256,
                    key_id,
                    nonce,
                    ciphertext: Some(up.bytes),
                    uploaded_at: now,
                    purged_at: None,
                })
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(anyhow::anyhow!("encryption task failed: {e}")))?
}

/// Submits a rights request.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/requests",
    tag = "requests",
    params(("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$")),
    request_body(
        description = "The request's fields, with file parts `id_document` as multipart (PDF, JPEG or PNG, 10 MiB each, 2 at most); JSON with the same fields when no file is sent.",
        content(
            (super::forms::SubmissionForm = "multipart/form-data"),
            (super::forms::SubmissionJson = "application/json"),
        ),
    ),
    responses(
        (status = 201, description = "Received: reference, deadline and tracking token (shown once).", body = Submitted),
        (status = 400, description = "Malformed form or JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown tenant.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A document or the form is too large.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart or JSON, or a document that is not PDF, JPEG or PNG.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the identity document the tenant requires is missing.", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving, or took too long.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many submissions from this address or e-mail.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many documents being received at once (`uploads_busy`), or too many senders being counted at once (`submissions_busy`); see Retry-After.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let tenant = state.tenants.get(&path)?;
    let limits = &state.settings.requests;
    if let Some(ip) = client_ip(&req, &state.settings.server) {
        state.submission_limits.check_ip(ip)?;
    }
    let intake = match body_kind(&req)? {
        BodyKind::Multipart => read_multipart(&req, payload, limits, FIELDS).await?,
        BodyKind::Json => read_json(payload, state.settings.limits.json_body_bytes, FIELDS).await?,
    };
    let submitted = accept(&state, tenant, intake).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(submitted))
}

/// Checks and records a request read from a form (the JSON API's and the
/// citizen's page): the request, its documents, its timeline and its two
/// e-mails in one transaction.
pub async fn accept(
    state: &web::Data<AppState>,
    tenant: Arc<Tenant>,
    intake: Intake,
) -> Result<Submitted, ApiError> {
    let limits = &state.settings.requests;
    let form = Form::parse(&intake.fields, limits.details_max_chars)?;
    if tenant.config.require_id_document && intake.documents.is_empty() {
        return Err(ApiError::field(
            "id_document",
            "a copy of an identity document (PDF, JPEG or PNG) is required",
        ));
    }
    // Kept under the current key; an earlier request of the same address
    // may be under a retired one.
    let email_hashes = Arc::new(email_pseudonyms(
        state.secrets.pseudonym_keys(),
        &form.email,
    ));
    let email_hash = email_hashes[0].clone();
    // In memory, keyed under the current key, which changes only with a
    // restart, which empties it.
    state.submission_limits.check_email(&email_hash)?;

    let now = state.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let has_document = !intake.documents.is_empty();
    let documents =
        Arc::new(seal_documents(state, id.clone(), intake.documents, now.naive_utc()).await?);
    let due = deadline::initial_due(now);
    let row = RequestRow {
        id,
        tenant_id: tenant.id.clone(),
        reference: String::new(),
        kind: form.kind.as_str().into(),
        status: Status::Received.as_str().into(),
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
    };
    let mut attempt = 0;
    let (row, token) = loop {
        attempt += 1;
        let (state2, tenant2, row, documents, email_hashes) = (
            state.clone(),
            tenant.clone(),
            row.clone(),
            documents.clone(),
            email_hashes.clone(),
        );
        let result = state
            .db
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
                        store::open_duplicate(conn, &row.tenant_id, &email_hashes, &row.kind)?;
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
                        "received",
                        Some("received"),
                        detail,
                    )?;
                    let token = store::new_tracking_token(conn, &row.id, row.received_at)?;
                    Notifier {
                        state: &state2,
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
            Err(e) if attempt < 3 && e.code == "unique_violation" => continue,
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
