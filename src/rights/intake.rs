//! Reading what a citizen sends: multipart forms (fields and up to two
//! identity documents, streamed with their size checked as they arrive)
//! or JSON when no file is sent. The DPO's answers with their attachments
//! are read the same way (`answer_form`, with its own `FormRules`).
//!
//! This is HTTP transport, the edge itself: what it refuses is the body as
//! it arrives (its media type, its size, a part cut short, a field the form
//! does not have), so it answers `ApiError` directly, with the status of
//! each (400, 413, 415, 422). Only the upload budget it reserves first is
//! the rights' own (`RightsError::UploadsBusy`, converted here).
//!
//! A field of `form::LISTS` keeps every value: a JSON array of strings, or
//! each time a form repeats it, its value split at white space and commas
//! (so one text box may hold several). Any other field keeps its text, the
//! last one when a form repeats it.
//!
//! (Over 400 lines: the one reader of every form's body, multipart and
//! JSON, with its file rules and how lists and objects arrive; each piece
//! is short and they share the refusals of a body as it arrives.)

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::documents::{display_name, sniff};
use super::form::{LISTS, OBJECTS};
use super::uploads::{Reservation, UploadBudget};
use crate::config::RequestSettings;
use crate::error::ApiError;

/// A document as received: its bytes (one copy), type and display name,
/// and the part of the form it came in (`id_document`, `mandate`…).
pub struct Upload {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub filename: String,
    pub part: &'static str,
}

impl Upload {
    /// Another copy of the file (each request of a submission seals its
    /// own).
    pub fn copy(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
            content_type: self.content_type,
            filename: self.filename.clone(),
            part: self.part,
        }
    }
}

/// The text fields, the lists and the documents of a submission.
#[derive(Default)]
pub struct Intake {
    pub fields: HashMap<String, String>,
    /// The fields of `form::LISTS` that were sent, with their values.
    pub lists: HashMap<String, Vec<String>>,
    pub documents: Vec<Upload>,
    /// The share of the upload memory budget the form holds, until the
    /// intake (or what is left of it once its documents are taken) drops.
    pub reservation: Option<Reservation>,
    /// The file part whose file was refused (too large, or not a type the
    /// part accepts), for a page that tells the refusal beside its field.
    pub refused_part: Option<&'static str>,
}

impl Intake {
    /// The documents sent as `part`, taken out of the intake.
    pub fn take(&mut self, part: &str) -> Vec<Upload> {
        let (taken, kept) = std::mem::take(&mut self.documents)
            .into_iter()
            .partition(|d| d.part == part);
        self.documents = kept;
        taken
    }

    /// Whether any document was sent as `part`.
    pub fn has(&self, part: &str) -> bool {
        self.documents.iter().any(|d| d.part == part)
    }
}

/// Multipart boundaries and part headers around the fields and documents.
const FORM_OVERHEAD: usize = 64 * 1024;

/// A file's type and display name, or its refusal (a 415), from its name
/// and bytes.
pub type Accept = fn(Option<&str>, &[u8]) -> Result<(&'static str, String), ApiError>;

/// The file parts a form may hold, and how each is checked.
pub struct Files {
    /// The name of the parts (`id_document`, `attachment`).
    pub part: &'static str,
    pub max_count: usize,
    pub max_bytes: usize,
    pub accept: Accept,
    /// What a file over `max_bytes` is told (a 413).
    pub too_large: fn(usize) -> ApiError,
}

/// The bounds of a multipart form.
pub struct FormRules {
    /// Each kind of file part the form may hold.
    pub files: Vec<Files>,
    /// All the text fields together, in bytes.
    pub max_text_bytes: usize,
}

impl FormRules {
    /// The identity documents of a submission or an upload.
    pub fn identity(limits: &RequestSettings) -> Self {
        Self {
            files: vec![given("id_document", limits.max_documents, limits)],
            max_text_bytes: limits.max_text_bytes,
        }
    }

    /// A submission's files: identity documents, and a mandate when the
    /// requester acts for another; from staff, the scanned letter too.
    pub fn submission(limits: &RequestSettings, from_staff: bool) -> Self {
        let mut files = vec![
            given("id_document", limits.max_documents, limits),
            given("mandate", 1, limits),
        ];
        if from_staff {
            files.push(given("letter", limits.max_documents, limits));
        }
        Self {
            files,
            max_text_bytes: limits.max_text_bytes,
        }
    }

    /// The largest form these bounds let through: what a form without a
    /// declared length reserves of the upload memory budget.
    fn largest(&self) -> usize {
        let files: usize = self.files.iter().map(|f| f.max_count * f.max_bytes).sum();
        files + self.max_text_bytes + FORM_OVERHEAD
    }
}

/// Bytes a form may bring into memory: its declared length, at most the
/// largest form the limits let through (the readers below stop there).
fn form_bytes(req: &HttpRequest, rules: &FormRules) -> usize {
    let largest = rules.largest();
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(largest, |n| n.min(largest))
}

/// A file the requester gives (identity document, mandate, letter): PDF,
/// JPEG or PNG, as large as an identity document.
fn given(part: &'static str, max_count: usize, limits: &RequestSettings) -> Files {
    Files {
        part,
        max_count,
        max_bytes: limits.max_document_bytes,
        accept: identity_document,
        too_large,
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "Each document must be at most {} MiB.",
            limit / (1024 * 1024)
        ),
    )
}

/// An identity document: a PDF, JPEG or PNG, by its bytes.
fn identity_document(name: Option<&str>, bytes: &[u8]) -> Result<(&'static str, String), ApiError> {
    let content_type = sniff(bytes).ok_or_else(|| {
        ApiError::unsupported_media_type(
            "a PDF, JPEG or PNG file (checked by its content, not its name)",
        )
    })?;
    Ok((content_type, display_name(name, content_type)))
}

/// Reads a multipart form: text fields in `allowed`, files by `rules`.
pub async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
    budget: &UploadBudget,
    rules: &FormRules,
    allowed: &[&str],
) -> Result<Intake, ApiError> {
    let mut intake = Intake::default();
    read_form(req, payload, budget, rules, allowed, false, &mut intake).await?;
    Ok(intake)
}

/// Reads a multipart form by `rules` into `intake`, its files (each
/// streamed, its size checked as it arrives, then accepted or refused) in
/// `intake.documents`, after reserving its share of the upload memory
/// budget.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    budget: &UploadBudget,
    rules: &FormRules,
    allowed: &[&str],
    skip_empty: bool,
    intake: &mut Intake,
) -> Result<(), ApiError> {
    intake.reservation = Some(budget.reserve(form_bytes(req, rules))?);
    let mut form = Multipart::new(req.headers(), payload);
    let mut text_bytes = 0usize;
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| ApiError::bad_request(format!("The form could not be read: {e}.")))?;
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(files) = rules.files.iter().find(|f| f.part == name) {
            if intake
                .documents
                .iter()
                .filter(|d| d.part == files.part)
                .count()
                >= files.max_count
            {
                return Err(ApiError::field(
                    files.part,
                    format!("at most {} files may be sent", files.max_count),
                ));
            }
            let filename = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .map(str::to_owned);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::bad_request("The upload was interrupted."))?;
                if bytes.len() + chunk.len() > files.max_bytes {
                    intake.refused_part = Some(files.part);
                    return Err((files.too_large)(files.max_bytes));
                }
                if bytes.is_empty() {
                    bytes.reserve(chunk.len().max(64 * 1024));
                }
                bytes.extend_from_slice(&chunk);
            }
            if skip_empty && bytes.is_empty() && filename.as_deref().unwrap_or("").is_empty() {
                continue;
            }
            let (content_type, filename) = (files.accept)(filename.as_deref(), &bytes)
                .inspect_err(|_| intake.refused_part = Some(files.part))?;
            intake.documents.push(Upload {
                filename,
                bytes,
                content_type,
                part: files.part,
            });
            continue;
        }
        if !allowed.contains(&name.as_str()) && !is_member(&name, allowed) {
            return Err(ApiError::field(name, "is not a field of this form"));
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| ApiError::bad_request("The form was interrupted."))?;
            text_bytes += chunk.len();
            if text_bytes > rules.max_text_bytes {
                return Err(ApiError::payload_too_large(rules.max_text_bytes));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value)
            .map_err(|_| ApiError::field(name.clone(), "must be UTF-8 text"))?;
        if LISTS.contains(&name.as_str()) {
            let values = value
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            intake.lists.entry(name).or_default().extend(values);
        } else if let Some(members) = members_of(&name) {
            // An object sent as the JSON text of one part.
            let object: serde_json::Value = match value.trim() {
                "" => serde_json::Value::Null,
                text => serde_json::from_str(text)
                    .map_err(|_| ApiError::field(name.clone(), "must be a JSON object"))?,
            };
            if !object.is_null() {
                spread(&name, members, object, &mut intake.fields)?;
            }
        } else {
            intake.fields.insert(name, value);
        }
    }
    Ok(())
}

/// The members of an object field (`form::OBJECTS`).
fn members_of(name: &str) -> Option<&'static [&'static str]> {
    OBJECTS
        .iter()
        .find(|(object, _)| *object == name)
        .map(|(_, members)| *members)
}

/// Whether `name` is a member of an allowed object field, written
/// `object.member` (`on_behalf_of.relation`).
fn is_member(name: &str, allowed: &[&str]) -> bool {
    name.split_once('.').is_some_and(|(object, member)| {
        allowed.contains(&object) && members_of(object).is_some_and(|m| m.contains(&member))
    })
}

/// Keeps an object's members as fields `object.member`: texts, or null
/// for an absent one; any other member, or value, is refused.
fn spread(
    name: &str,
    members: &[&str],
    object: serde_json::Value,
    fields: &mut HashMap<String, String>,
) -> Result<(), ApiError> {
    let serde_json::Value::Object(object) = object else {
        return Err(ApiError::field(name, "must be an object"));
    };
    for (member, value) in object {
        let field = format!("{name}.{member}");
        if !members.contains(&member.as_str()) {
            return Err(ApiError::field(field, "is not a field of this form"));
        }
        match value {
            serde_json::Value::String(s) => {
                fields.insert(field, s);
            }
            serde_json::Value::Null => {}
            _ => return Err(ApiError::field(field, "must be a string")),
        }
    }
    Ok(())
}

pub enum BodyKind {
    Multipart,
    Json,
}

pub fn body_kind(req: &HttpRequest) -> Result<BodyKind, ApiError> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        Ok(BodyKind::Multipart)
    } else if ct.starts_with("application/json") {
        Ok(BodyKind::Json)
    } else {
        Err(ApiError::unsupported_media_type(
            "multipart/form-data, or application/json when no file is sent",
        ))
    }
}

/// Reads a whole body of at most `limit` bytes (413 beyond).
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::bad_request("The request body could not be read."))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON body of string fields (no documents).
pub async fn read_json(
    payload: web::Payload,
    limit: usize,
    allowed: &[&str],
) -> Result<Intake, ApiError> {
    let body = read_body(payload, limit).await?;
    let map: serde_json::Map<String, serde_json::Value> = crate::http::parse_json(&body)?;
    let mut intake = Intake::default();
    for (name, value) in map {
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::field(name, "is not a field of this form"));
        }
        if let Some(members) = members_of(&name) {
            if !value.is_null() {
                spread(&name, members, value, &mut intake.fields)?;
            }
            continue;
        }
        if LISTS.contains(&name.as_str()) {
            match value {
                serde_json::Value::Array(items) => {
                    let values = items
                        .into_iter()
                        .map(|item| match item {
                            serde_json::Value::String(s) => Ok(s),
                            _ => Err(ApiError::field(name.clone(), "must be an array of strings")),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    intake.lists.insert(name, values);
                }
                serde_json::Value::Null => {}
                _ => return Err(ApiError::field(name, "must be an array of strings")),
            }
            continue;
        }
        match value {
            serde_json::Value::String(s) => {
                intake.fields.insert(name, s);
            }
            serde_json::Value::Null => {}
            _ => return Err(ApiError::field(name, "must be a string")),
        }
    }
    Ok(intake)
}
