//! What a page answers when something goes wrong: a page in the reader's
//! language (or a redirect to the sign-in page), never problem+json; field
//! errors of the JSON API in words for people.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::render::{self, text, text_with};
use crate::error::{ApiError, FieldError};
use crate::rights::mail_text;
use crate::tenants::Locale;

#[derive(Debug)]
enum Kind {
    /// An error page with this status and this message.
    Page {
        status: StatusCode,
        title: String,
        message: String,
        retry_after: Option<String>,
    },
    /// Not signed in: to the sign-in page.
    Redirect(String),
}

#[derive(Debug)]
pub struct PageError {
    lang: Locale,
    kind: Kind,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Page { status, .. } => write!(f, "page error {}", status.as_u16()),
            Kind::Redirect(_) => write!(f, "sign-in needed"),
        }
    }
}

impl PageError {
    pub fn redirect(to: String) -> Self {
        Self {
            lang: Locale::Fr,
            kind: Kind::Redirect(to),
        }
    }

    fn page(lang: Locale, status: StatusCode, title_key: &str, message: String) -> Self {
        Self {
            lang,
            kind: Kind::Page {
                status,
                title: text(lang, title_key),
                message,
                retry_after: None,
            },
        }
    }

    /// A form that does not carry the token of this session.
    pub fn csrf(lang: Locale) -> Self {
        Self::page(
            lang,
            StatusCode::FORBIDDEN,
            "error_csrf_title",
            text(lang, "error_csrf"),
        )
    }

    pub fn internal(lang: Locale) -> Self {
        Self::api(
            lang,
            ApiError::internal(anyhow::anyhow!("no application state")),
        )
    }

    /// An error of the domain, said to people; 5xx causes are logged.
    pub fn api(lang: Locale, e: ApiError) -> Self {
        if e.status.is_server_error() {
            // Logs the cause, as the JSON API does.
            let _ = e.error_response();
        }
        let (title, message) = match e.status.as_u16() {
            404 => ("error_not_found_title", "error_not_found"),
            410 => ("error_gone_title", "error_gone"),
            409 => ("error_conflict_title", "error_conflict"),
            413 | 415 | 422 | 400 => ("error_bad_request_title", "error_bad_request"),
            429 => ("error_rate_title", "error_rate"),
            503 => ("error_unavailable_title", "error_unavailable"),
            _ => ("error_internal_title", "error_internal"),
        };
        let retry_after = e
            .headers
            .iter()
            .find(|(n, _)| n == header::RETRY_AFTER)
            .and_then(|(_, v)| v.to_str().ok())
            .map(str::to_owned);
        Self {
            lang,
            kind: Kind::Page {
                status: e.status,
                title: text(lang, title),
                message: text(lang, message),
                retry_after,
            },
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match &self.kind {
            Kind::Page { status, .. } => *status,
            Kind::Redirect(_) => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match &self.kind {
            Kind::Redirect(to) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to.as_str()))
                .finish(),
            Kind::Page {
                status,
                title,
                message,
                retry_after,
            } => {
                let ctx = json!({"title": title, "message": message, "status": status.as_u16()});
                let html = render::render("error.html", self.lang, "", ctx).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "the error page does not render");
                    format!(
                        "<!DOCTYPE html><title>{}</title><p>{}</p>",
                        status.as_u16(),
                        status
                    )
                });
                let mut res = HttpResponse::build(*status);
                res.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
                if let Some(wait) = retry_after {
                    res.insert_header((header::RETRY_AFTER, wait.as_str()));
                }
                res.body(html)
            }
        }
    }
}

/// Adds `.page(lang)?` to the domain's results.
pub trait OrPage<T> {
    fn page(self, lang: Locale) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn page(self, lang: Locale) -> Result<T, PageError> {
        self.map_err(|e| PageError::api(lang, e.into()))
    }
}

/// A field error of the domain in words for people: the rules' messages
/// are known, each has its text; an unknown one is shown as it is.
pub fn field_message(lang: Locale, e: &FieldError) -> String {
    let m = e.message.as_str();
    let number = |m: &str| {
        m.split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    let key = match (e.field.as_str(), m) {
        ("id_document", m) if m.starts_with("at most") => {
            return text_with(lang, "err_id_too_many", &[("n", &number(m))])
        }
        ("id_document", _) => "err_id_required",
        ("subject_ids", m) if m.starts_with("must hold at most") => {
            return text_with(lang, "err_subject_ids_too_many", &[("n", &number(m))])
        }
        ("subject_ids", _) => "err_subject_ids",
        ("attachment", m) if m.starts_with("at most") => {
            return text_with(lang, "err_attachment_too_many", &[("n", &number(m))])
        }
        ("attachment", m) if m.starts_with("files go with") => "err_attachment_alone",
        ("kind", "is required") => "err_kind_required",
        ("kind", _) => "err_kind",
        ("kinds", "must not name a right twice") => "err_kinds_twice",
        ("kinds", "must name at least one right") => "err_kinds_required",
        ("kinds", _) => "err_kind",
        ("mandate", m) if m.starts_with("is required") => "err_mandate_required",
        ("mandate", m) if m.starts_with("goes with") => "err_mandate_alone",
        ("mandate", m) if m.starts_with("at most") => "err_mandate_too_many",
        ("on_behalf_of.relation", m) if m.starts_with("must be") => "err_relation",
        ("scope", m) if m.starts_with("is required") => "err_scope_required",
        ("scope", "applies to oppositions only") => "err_scope_only",
        ("scope", _) => "err_scope",
        ("grounds", m) if m.starts_with("is required") => "err_grounds_required",
        ("reason", m) if m.starts_with("is required") => "err_reason_required",
        ("from" | "to", m) if m.starts_with("must be a day") => "err_day",
        ("from", m) if m.starts_with("must not be after") => "err_range_order",
        ("from", m) if m.starts_with("the range must not exceed") => {
            return text_with(lang, "err_range_long", &[("n", &number(m))])
        }
        (_, "is required") | (_, "must not be empty") => "err_required",
        (_, "must be an e-mail address") => "err_email",
        (_, "must not contain control characters") | (_, "must be UTF-8 text") => "err_control",
        (_, mail_text::HOLDS_LINK) => "err_link",
        (_, mail_text::TURNS_TEXT) => "err_bidi",
        (_, m) if m.starts_with("must be at most") => {
            return text_with(lang, "err_too_long", &[("n", &number(m))])
        }
        _ => return m.to_owned(),
    };
    text(lang, key)
}

/// The field errors an error carries, in words for people; a refused
/// document (wrong type, too large) is an error of the document field
/// (`id_document`; see `file_errors` for a form with other file parts).
pub fn field_errors(lang: Locale, e: &ApiError) -> Option<Vec<(String, String)>> {
    match e.status.as_u16() {
        422 => Some(
            e.errors
                .iter()
                .map(|f| (f.field.clone(), field_message(lang, f)))
                .collect(),
        ),
        415 => Some(vec![("id_document".into(), text(lang, "err_id_type"))]),
        413 => Some(vec![("id_document".into(), text(lang, "err_id_too_large"))]),
        _ => None,
    }
}

/// `field_errors` of a form with several file parts: a refused file is an
/// error of the part it came in (`Intake::refused_part`).
pub fn file_errors(
    lang: Locale,
    e: &ApiError,
    refused_part: Option<&str>,
) -> Option<Vec<(String, String)>> {
    let mut found = field_errors(lang, e)?;
    if let (413 | 415, Some(part)) = (e.status.as_u16(), refused_part) {
        for (field, _) in &mut found {
            *field = part.to_owned();
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fe(field: &str, message: &str) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    #[test]
    fn the_rules_messages_have_french_words() {
        let fr = Locale::Fr;
        assert_eq!(
            field_message(fr, &fe("email", "must be an e-mail address")),
            "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."
        );
        assert_eq!(
            field_message(fr, &fe("details", "must be at most 5000 characters")),
            "Ce texte dépasse 5000 caractères."
        );
        assert_eq!(
            field_message(fr, &fe("first_name", "is required")),
            "Ce champ est obligatoire."
        );
        assert_eq!(
            field_message(fr, &fe("x", "something new")),
            "something new"
        );
    }
}
