//! The fields of a rights request, as a citizen fills them in (the JSON
//! API's body and the citizen's page), checked.

use std::collections::HashMap;

use validator::ValidateEmail;

use super::lifecycle::Kind;
use super::mail_text;
use crate::error::{ApiError, FieldError};

/// The text fields a submission may hold.
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
