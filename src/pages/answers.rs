//! The DPO's answers in the console: the forms of a request's moves and
//! messages read as the API reads them (a multipart form with its
//! `attachment` files, by `answer_form`'s rules; a plain form still for the
//! moves that carry no text), their refusals in words beside their fields
//! and in a summary at the top of the form, and the answers already sent,
//! each with its files to download.

use std::collections::HashMap;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest};
use serde_json::{json, Value};

use super::console::form_fields;
use super::errors::field_errors;
use super::render::{date_time, text, text_with};
use super::PageError;
use crate::error::ApiError;
use crate::rights::answer_form::{self, is_attachment_error};
use crate::rights::intake::{read_body, Intake, Upload};
use crate::rights::messages::MessageView;
use crate::rights::service::RightsService;
use crate::tenants::Locale;

/// The text fields of the console's action forms, the CSRF token first.
const FIELDS: &[&str] = &["csrf", "to", "note", "reason", "body"];

/// A console form as read: its text fields, its files, and what refused
/// its files as they arrived (too many, too large, a forbidden type), the
/// text read before kept to be shown again.
pub struct ActionForm {
    pub fields: HashMap<String, String>,
    pub attachments: Vec<Upload>,
    pub refused: Option<ApiError>,
    /// The form's share of the upload memory budget, held until dropped.
    _held: Intake,
}

fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Reads a console form, multipart (with files) or urlencoded. A browser
/// sends a text area's line breaks as CRLF: they are kept as LF, so the
/// length checked is the one the page's counter shows.
pub async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    rights: &RightsService,
    lang: Locale,
) -> Result<ActionForm, PageError> {
    let mut form = if is_multipart(req) {
        let mut intake = Intake::default();
        let read = answer_form::read_form_into(req, payload, rights, FIELDS, &mut intake).await;
        let refused = match read {
            Ok(()) => None,
            Err(e) if answer_errors(lang, &e).is_some() => Some(e),
            Err(e) => return Err(PageError::api(lang, e)),
        };
        ActionForm {
            fields: std::mem::take(&mut intake.fields),
            attachments: std::mem::take(&mut intake.documents),
            refused,
            _held: intake,
        }
    } else {
        // Two texts of `message_max_chars` characters, each of up to
        // four bytes written as three `%XX`, and the rest of the form.
        let limit = 2 * 12 * rights.settings.requests.message_max_chars + 64 * 1024;
        let body = read_body(payload, limit)
            .await
            .map_err(|e| PageError::api(lang, e))?;
        ActionForm {
            fields: form_fields(&body, lang)?,
            attachments: Vec::new(),
            refused: None,
            _held: Intake::default(),
        }
    };
    for value in form.fields.values_mut() {
        if value.contains('\r') {
            *value = value.replace("\r\n", "\n");
        }
    }
    Ok(form)
}

/// The field errors of a refused answer in words for people: its files'
/// size and type are errors of its `attachment` field.
pub fn answer_errors(lang: Locale, e: &ApiError) -> Option<Vec<(String, String)>> {
    if !is_attachment_error(e) {
        // A body over its limit, a form that cannot be read: a page of
        // its own.
        return (e.status.as_u16() == 422)
            .then(|| field_errors(lang, e))
            .flatten();
    }
    let key = if e.status.as_u16() == 413 {
        "err_attachment_too_large"
    } else {
        "err_attachment_type"
    };
    Some(vec![("attachment".into(), text(lang, key))])
}

/// The label of a field of the form `form`, as the summary names it.
fn label(lang: Locale, form: &str, field: &str) -> String {
    let key = match (form, field) {
        (_, "attachment") => "field_attachments",
        (_, "body") => "field_message",
        ("extension", _) => "field_extension_reason",
        ("rejected", _) => "field_reject_reason",
        _ => "field_note_requester",
    };
    text(lang, key)
}

/// The summary of each refused form (keyed by its name), its text fields
/// first: a link to each field with what is wrong.
pub fn summaries(lang: Locale, errors: &HashMap<String, String>) -> Value {
    let mut by_form: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for (key, message) in errors {
        if let Some((form, field)) = key.split_once('.') {
            by_form.entry(form).or_default().push((field, message));
        }
    }
    let mut out = serde_json::Map::new();
    for (form, mut fields) in by_form {
        fields.sort_by_key(|(f, _)| (*f == "attachment", *f));
        let items: Vec<Value> = fields
            .into_iter()
            .map(|(field, message)| {
                json!({
                    "href": format!("#{form}-{field}"),
                    "label": label(lang, form, field),
                    "message": message,
                })
            })
            .collect();
        out.insert(form.to_owned(), Value::Array(items));
    }
    Value::Object(out)
}

/// What the answer forms say of their limits: the counter's maximum, in
/// figures and in words, and the files a form may carry.
pub fn limits(lang: Locale, rights: &RightsService) -> Value {
    let limits = &rights.settings.requests;
    let max = limits.message_max_chars;
    json!({
        "max_chars": max,
        // `{n}` filled in by the page, then by its script as one types.
        "counter": text_with(lang, "answer_counter", &[("max", &grouped(lang, max as u64))]),
        "separator": separator(lang),
        "files_hint": text_with(
            lang,
            "answer_files_hint",
            &[
                ("n", &limits.max_attachments.to_string()),
                ("mib", &(limits.max_attachment_bytes / (1024 * 1024)).to_string()),
            ],
        ),
    })
}

/// What groups a number's thousands.
fn separator(lang: Locale) -> &'static str {
    match lang {
        Locale::Fr => "\u{202f}",
        Locale::En => ",",
    }
}

/// A number with its thousands grouped as each language writes them
/// (« 50 000 », "50,000"); the page's script writes them the same way.
pub fn grouped(lang: Locale, n: u64) -> String {
    let digits = n.to_string();
    let sep = separator(lang);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

fn size_kib(size: i64) -> i64 {
    (size + 1023) / 1024
}

/// The answers sent, oldest first, each file a journaled download.
pub fn sent(
    lang: Locale,
    rights: &RightsService,
    request_id: &str,
    messages: &[MessageView],
) -> Vec<Value> {
    let tz = rights.settings.requests.tz();
    messages
        .iter()
        .map(|m| {
            let files: Vec<Value> = m
                .attachments
                .iter()
                .map(|a| {
                    json!({
                        "id": a.id, "filename": a.filename, "content_type": a.content_type,
                        "size_kib": size_kib(a.size), "sha256": a.sha256,
                        "purged": a.purged_at.is_some(),
                        "url": format!("/console/requests/{request_id}/attachments/{}", a.id),
                    })
                })
                .collect();
            json!({
                "id": m.id,
                "at": date_time(m.at, lang, tz),
                "datetime": m.at.to_rfc3339(),
                "author": m.author,
                "kind_label": text(lang, &format!("answer_kind_{}", m.kind.as_str())),
                "body": m.body,
                "erased": m.erased_at.is_some(),
                "attachments": files,
            })
        })
        .collect()
}

/// The name of the file an `attachment.downloaded` entry names.
pub fn downloaded(detail: Option<&Value>, messages: &[MessageView]) -> String {
    let id = detail
        .and_then(|d| d.get("attachment"))
        .and_then(Value::as_str)
        .unwrap_or("");
    messages
        .iter()
        .flat_map(|m| m.attachments.iter())
        .find(|a| a.id == id)
        .map(|a| a.filename.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_as_each_language_writes_them() {
        assert_eq!(grouped(Locale::Fr, 50_000), "50\u{202f}000");
        assert_eq!(grouped(Locale::En, 50_000), "50,000");
        assert_eq!(grouped(Locale::En, 1_234_567), "1,234,567");
        assert_eq!(grouped(Locale::Fr, 999), "999");
    }
}
