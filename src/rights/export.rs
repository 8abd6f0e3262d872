//! The DPO exports what Guichet holds about a requester, for an access or
//! portability answer: one zip with the request as the detail shows it
//! (`request.json`: its timeline, and its messages) and, for the banner
//! identifiers the request names, every consent event the tenant still
//! keeps for them (`consents.json`, `consents.csv`), each with its receipt,
//! which the requester verifies against `/.well-known/jwks.json`.
//!
//! Built in memory: the request, and at most `consent.history_max` events
//! for each of at most `requests.max_subject_ids` identifiers, read through
//! the consent store as the banner's history route reads them. Each export
//! is journaled on the request's timeline and in the audit log, by the
//! request's reference, before it is built.
//!
//! `send_to_requester` is the console's « Joindre l'export à ma réponse »:
//! the export, then a message to the requester with the zip attached, kept
//! and delivered through the tracking page as every answer is
//! (`dpo::send_message`).

use std::collections::BTreeMap;
use std::io::Write;

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;

use super::answer_form::check_length;
use super::dpo::send_message;
use super::error::RightsError;
use super::intake::Upload;
use super::lifecycle::Action;
use super::messages::MessageView;
use super::queue::{detail_of, visible, RequestDetail};
use super::service::RightsService;
use super::store;
use crate::audit::{self, Entry};
use crate::consent::ConsentEvent;
use crate::error::ApiError;
use crate::staff::Staff;

/// One consent event as the requester receives it.
#[derive(Debug, Serialize)]
pub struct ExportedConsent {
    pub id: String,
    pub subject_id: String,
    /// `given` or `withdrawn`.
    pub event: String,
    pub policy_version: String,
    /// Every purpose of the policy with its choice (those withdrawn, for a
    /// withdrawal).
    pub choices: BTreeMap<String, bool>,
    /// When the event was recorded (the withdrawal's time, for one).
    pub given_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The browser sent `Sec-GPC: 1`.
    pub gpc: bool,
    /// The compact JWS (EdDSA) signed when the consent was given; none
    /// for a withdrawal.
    pub receipt: Option<String>,
    pub page_url: Option<String>,
}

impl From<ConsentEvent> for ExportedConsent {
    fn from(e: ConsentEvent) -> Self {
        Self {
            choices: e.choices(),
            given_at: e.at.and_utc(),
            expires_at: e.expires_at.map(|t| t.and_utc()),
            id: e.id,
            subject_id: e.subject_id,
            event: e.event,
            policy_version: e.policy_version,
            gpc: e.gpc,
            receipt: e.receipt,
            page_url: e.page_url,
        }
    }
}

/// `consents.json`.
#[derive(Debug, Serialize)]
struct Consents<'a> {
    /// The tenant's slug: only its events are here.
    tenant: &'a str,
    subject_ids: &'a [String],
    /// Where the keys that verify the receipts are published.
    verify_with: String,
    events: &'a [ExportedConsent],
}

/// The columns of `consents.csv`, in order.
pub const CSV_HEADER: [&str; 10] = [
    "id",
    "subject_id",
    "event",
    "policy_version",
    "choices",
    "given_at",
    "expires_at",
    "gpc",
    "receipt",
    "page_url",
];

/// A request's export: the zip and its name.
pub struct Export {
    /// `DR-XXXXXX.zip`.
    pub filename: String,
    pub bytes: Vec<u8>,
}

impl Export {
    /// The download: an attachment, never cached.
    pub fn into_response(self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("application/zip")
            .insert_header((
                "content-disposition",
                format!("attachment; filename=\"{}\"", self.filename),
            ))
            .insert_header(("cache-control", "no-store"))
            .insert_header(("x-content-type-options", "nosniff"))
            .body(self.bytes)
    }
}

/// The request and the requester's consents, in one zip.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    responses(
        (status = 200, description = "A zip: `request.json` (the request as its detail shows it, with its timeline) and, when the request names banner identifiers (`subject_ids`), `consents.json` and `consents.csv`: every consent event the tenant keeps for them, each with its receipt (verify it with `/.well-known/jwks.json`). Journaled on the timeline (`exported`) and in the audit log (`request.exported`).",
            content((Vec<u8> = "application/zip")),
            headers(
                ("content-disposition" = String, description = "`attachment; filename=\"DR-XXXXXX.zip\"`, the request's reference."),
                ("cache-control" = String, description = "`no-store`."),
            )),
        (status = 404, description = "No such request (or another tenant's)."),
        (status = 503, description = "The database is unavailable; nothing was journaled."),
    )
)]
#[get("/v1/dpo/requests/{id}/export")]
pub async fn export(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(build(&rights, &staff, path.into_inner())
        .await?
        .into_response())
}

/// Exports a request the staff member may see: journaled, then built.
pub async fn build(
    rights: &RightsService,
    staff: &Staff,
    id: String,
) -> Result<Export, RightsError> {
    let row = visible(rights, staff, id).await?;
    let subjects = row.subject_ids();
    let limit = rights.settings.consent_history_max;
    let mut events = Vec::new();
    for subject in &subjects {
        let found = rights
            .consents
            .history(&row.tenant_id, subject, limit)
            .await?;
        events.extend(found.into_iter().map(ExportedConsent::from));
    }
    let now = rights.clock.now();
    let at = now.naive_utc();
    let actor = staff.clone();
    let read: Vec<String> = events.iter().map(|e| e.subject_id.clone()).collect();
    let row = rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // Read again, held until the journal commits: an erasure
                // made meanwhile leaves no identifier to export.
                let row = store::lock(conn, &row.id)?.ok_or(RightsError::UnknownRequest)?;
                let subjects = row.subject_ids();
                let detail = serde_json::json!({
                    "subject_ids": subjects.len(),
                    "consent_events": read.iter().filter(|s| subjects.contains(s)).count(),
                });
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::Exported,
                    None,
                    Some(detail.clone()),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_EXPORTED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.reference),
                        detail: Some(detail),
                        ..Default::default()
                    },
                    at,
                )?;
                Ok(row)
            })
        })
        .await?;
    let subjects = row.subject_ids();
    events.retain(|e| subjects.contains(&e.subject_id));
    let consent_events = events.len();
    let tenant = rights
        .tenants
        .slug_of(Some(&row.tenant_id))
        .unwrap_or_default();
    let verify_with = format!(
        "{}/.well-known/jwks.json",
        rights.settings.server.public_url.trim_end_matches('/')
    );
    let filename = format!("{}.zip", row.reference);
    let detail = detail_of(rights, row).await?;
    let bytes = actix_web::rt::task::spawn_blocking(move || {
        zip_of(&detail, &tenant, &subjects, &events, &verify_with, now)
    })
    .await
    .map_err(|e| RightsError::Internal(format!("export task failed: {e}")))??;
    tracing::info!(
        request = %filename.trim_end_matches(".zip"),
        consent_events,
        "request exported"
    );
    Ok(Export { filename, bytes })
}

/// Writes to the requester of a request the staff member may see, with its
/// export attached, in one action: the text is checked first (nothing is
/// exported for a message that would be refused), then the export is built
/// and journaled, then the message kept, journaled and announced.
pub async fn send_to_requester(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: &str,
) -> Result<MessageView, RightsError> {
    let limits = &rights.settings.requests;
    check_length("body", Some(body), limits.message_max_chars)?;
    let row = visible(rights, staff, id.clone()).await?;
    if row.email.is_none() {
        return Err(RightsError::RequesterErased);
    }
    let built = build(rights, staff, id.clone()).await?;
    if built.bytes.len() > limits.max_attachment_bytes {
        return Err(RightsError::field(
            "attachment",
            format!(
                "the export is over {} MiB, the largest attachment: download it and send it another way",
                limits.max_attachment_bytes / (1024 * 1024)
            ),
        ));
    }
    let zip = Upload {
        bytes: built.bytes,
        content_type: "application/zip",
        filename: built.filename,
        part: "attachment",
    };
    send_message(rights, staff, id, body, vec![zip]).await
}

fn zip_of(
    detail: &RequestDetail,
    tenant: &str,
    subjects: &[String],
    events: &[ExportedConsent],
    verify_with: &str,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, RightsError> {
    let failed = |e: &dyn std::fmt::Display| RightsError::Internal(format!("export: {e}"));
    let mut files = vec![(
        "request.json",
        serde_json::to_vec_pretty(detail).map_err(|e| failed(&e))?,
    )];
    if !subjects.is_empty() {
        let consents = Consents {
            tenant,
            subject_ids: subjects,
            verify_with: verify_with.to_owned(),
            events,
        };
        files.push((
            "consents.json",
            serde_json::to_vec_pretty(&consents).map_err(|e| failed(&e))?,
        ));
        files.push(("consents.csv", csv_of(events).map_err(|e| failed(&e))?));
    }
    let stamp = zip::DateTime::from_date_and_time(
        now.year().clamp(1980, 2107) as u16,
        now.month() as u8,
        now.day() as u8,
        now.hour() as u8,
        now.minute() as u8,
        now.second().min(59) as u8,
    )
    .unwrap_or_default();
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(stamp);
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        out.start_file(name, options).map_err(|e| failed(&e))?;
        out.write_all(&content).map_err(|e| failed(&e))?;
    }
    Ok(out.finish().map_err(|e| failed(&e))?.into_inner())
}

fn csv_of(events: &[ExportedConsent]) -> Result<Vec<u8>, csv::Error> {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    for e in events {
        let choices = serde_json::to_string(&e.choices).unwrap_or_default();
        out.write_record([
            e.id.as_str(),
            e.subject_id.as_str(),
            e.event.as_str(),
            e.policy_version.as_str(),
            choices.as_str(),
            time(e.given_at).as_str(),
            e.expires_at.map(time).unwrap_or_default().as_str(),
            if e.gpc { "true" } else { "false" },
            e.receipt.as_deref().unwrap_or(""),
            e.page_url.as_deref().unwrap_or(""),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}
