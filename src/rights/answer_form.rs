//! Reading the DPO's answers (a message, a move with its closing note or
//! rejection reason): JSON as before, or a multipart form with the same
//! text fields and up to `requests.max_attachments` `attachment` file
//! parts, each at most `requests.max_attachment_bytes`, checked by its
//! bytes and name (`attachments`). A form reserves its share of the upload
//! memory budget before its body is read, as a citizen's does.
//!
//! HTTP transport, as `intake` is: what it refuses is the body as it
//! arrives, answered with `ApiError` (400, 413, 415, 422).

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};
use validator::Validate;

use super::attachments;
use super::intake::{body_kind, read_body, read_form, BodyKind, Files, FormRules, Intake, Upload};
use super::service::RightsService;
use crate::config::RequestSettings;
use crate::error::ApiError;
use crate::http::{parse_json, validation_problem};

/// An answer as read: its text fields, typed and checked by their own
/// rules, and its attachments, holding their share of the upload memory
/// budget until dropped.
pub struct Answer<T> {
    pub body: T,
    pub attachments: Vec<Upload>,
    /// What is left of the form once its attachments are taken: its
    /// reservation, given back when the answer is stored or refused.
    pub held: Intake,
}

/// Text fields of one answer together, in bytes: two texts (a note and a
/// reason) of `requests.message_max_chars` characters of up to four bytes,
/// and a little more for the rest.
fn text_bytes(limits: &RequestSettings) -> usize {
    2 * 4 * limits.message_max_chars + 4096
}

/// A JSON answer may write every character as a `\uXXXX` escape.
fn json_bytes(rights: &RightsService) -> usize {
    let limits = &rights.settings.requests;
    rights
        .settings
        .limits
        .json_body_bytes
        .max(6 * 2 * limits.message_max_chars + 4096)
}

fn attachment(name: Option<&str>, bytes: &[u8]) -> Result<(&'static str, String), ApiError> {
    // A file input always names its file (an empty one is skipped before):
    // a part without a filename is text sent under the files' name.
    if name.is_none() {
        return Err(ApiError::field(
            "attachment",
            "must be a file (a part with a filename)",
        ));
    }
    attachments::check(name, bytes)
        .map(|a| (a.content_type, a.filename))
        .map_err(|attachments::Refused(what)| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "attachment_type",
                format!(
                    "An attachment may be any file but a program or a web page; this one is {what}."
                ),
            )
        })
}

/// How a too large attachment's refusal begins (the body's own limit is
/// also a 413).
const TOO_LARGE: &str = "Each attachment must be at most";

fn attachment_too_large(limit: usize) -> ApiError {
    let limit = if limit >= 1024 * 1024 {
        format!("{} MiB", limit / (1024 * 1024))
    } else {
        format!("{limit} bytes")
    };
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("{TOO_LARGE} {limit}."),
    )
}

/// The bounds of an answer's form.
fn rules(limits: &RequestSettings) -> FormRules {
    FormRules {
        files: vec![Files {
            part: "attachment",
            max_count: limits.max_attachments,
            max_bytes: limits.max_attachment_bytes,
            accept: attachment,
            too_large: attachment_too_large,
        }],
        max_text_bytes: text_bytes(limits),
    }
}

/// Reads an answer, JSON or a multipart form, whose text fields are those
/// of `T` (`fields`); its own rules (`Validate`) are checked, the lengths
/// the configuration sets are the caller's to check.
pub async fn read<T: DeserializeOwned + Validate>(
    req: &HttpRequest,
    payload: web::Payload,
    rights: &RightsService,
    fields: &[&str],
) -> Result<Answer<T>, ApiError> {
    let (body, attachments, held) = match body_kind(req)? {
        BodyKind::Json => {
            let bytes = read_body(payload, json_bytes(rights)).await?;
            (parse_json::<T>(&bytes)?, Vec::new(), Intake::default())
        }
        BodyKind::Multipart => {
            let mut intake = Intake::default();
            let rules = rules(&rights.settings.requests);
            read_form(
                req,
                payload,
                &rights.uploads,
                &rules,
                fields,
                true,
                &mut intake,
            )
            .await?;
            let texts: serde_json::Map<String, serde_json::Value> = intake
                .fields
                .drain()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let json = serde_json::to_vec(&texts).map_err(ApiError::internal)?;
            let attachments = std::mem::take(&mut intake.documents);
            (parse_json::<T>(&json)?, attachments, intake)
        }
    };
    body.validate().map_err(validation_problem)?;
    Ok(Answer {
        body,
        attachments,
        held,
    })
}

/// Reads an answer's multipart form by the answers' rules into `intake`,
/// which keeps what was read before an error: a page shows the form again
/// with its text. `fields` are the text fields the form may hold (a page's
/// own, its CSRF token, among them); the caller types and checks them.
pub async fn read_form_into(
    req: &HttpRequest,
    payload: web::Payload,
    rights: &RightsService,
    fields: &[&str],
    intake: &mut Intake,
) -> Result<(), ApiError> {
    let rules = rules(&rights.settings.requests);
    read_form(req, payload, &rights.uploads, &rules, fields, true, intake).await
}

/// Whether a refused form's error is about one of its attachments (its
/// size or its type), not its text.
pub fn is_attachment_error(e: &ApiError) -> bool {
    match e.status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => e.code == "attachment_type",
        StatusCode::PAYLOAD_TOO_LARGE => e.detail.starts_with(TOO_LARGE),
        _ => false,
    }
}

/// The text of an answer, at most `max` characters: a longer one is
/// refused, naming the field and the limit, never cut.
pub fn check_length(
    field: &str,
    text: Option<&str>,
    max: usize,
) -> Result<(), crate::error::FieldError> {
    match text {
        Some(t) if t.chars().count() > max => Err(crate::error::FieldError {
            field: field.to_owned(),
            message: format!("must be at most {max} characters"),
        }),
        _ => Ok(()),
    }
}

/// The attachments of an answer in the OpenAPI document: files of any type
/// but programs and web pages.
pub fn attachments_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
        )
        .max_items(Some(super::patterns::ATTACHMENTS_MAX))
        .description(Some(
            "Files sent to the requester with the answer (file parts, each with a filename): \
             any type but programs (ELF, PE, \
             Mach-O, `#!` scripts, or named .exe, .dll, .bat, .cmd, .com, .msi, .scr, .ps1, \
             .vbs, .js, .jar, .sh, .hta) and web pages (HTML, XHTML, SVG, or so named), \
             checked by their bytes and their names (415 `attachment_type`); at most \
             `requests.max_attachment_bytes` (20 MiB) each (413). Encrypted at rest; \
             destroyed with the requester's data.",
        ))
}

/// A schema whose properties are `T`'s, read as text fields of a form (a
/// form has no `null`), with the attachments.
fn form_schema<T: PartialSchema>(description: &str) -> RefOr<Schema> {
    let mut object = match T::schema() {
        RefOr::T(Schema::Object(object)) => object,
        other => return other,
    };
    for property in object.properties.values_mut() {
        if let RefOr::T(Schema::Object(field)) = property {
            if let utoipa::openapi::schema::SchemaType::Array(types) = &field.schema_type {
                let kept: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                field.schema_type = utoipa::openapi::schema::SchemaType::from_iter(kept);
            }
        }
    }
    object
        .properties
        .insert("attachment".into(), attachments_schema().build().into());
    object.description = Some(description.into());
    RefOr::T(Schema::Object(object))
}

/// A message to the requester as a multipart form: `body` and its files.
pub struct MessageForm;

impl PartialSchema for MessageForm {
    fn schema() -> RefOr<Schema> {
        form_schema::<super::dpo::MessageRequest>(
            "A message to the requester with its attachments (`attachment` file parts).",
        )
    }
}

impl ToSchema for MessageForm {
    fn name() -> Cow<'static, str> {
        "MessageForm".into()
    }
}

/// A move as a multipart form: `to`, `note`, `reason`, and the files of the
/// closing note (to `completed`) or of the rejection's reason.
pub struct TransitionForm;

impl PartialSchema for TransitionForm {
    fn schema() -> RefOr<Schema> {
        form_schema::<super::dpo::TransitionRequest>(
            "A move with the files of its closing note (to `completed`, with a `note`) or of \
             its rejection's reason (`attachment` file parts).",
        )
    }
}

impl ToSchema for TransitionForm {
    fn name() -> Cow<'static, str> {
        "TransitionForm".into()
    }
}
