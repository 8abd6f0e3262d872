//! Body and query extractors whose every failure is a clear problem:
//! 415 wrong media type, 413 too large, 400 malformed, 422 with `errors[]`
//! naming each field that is wrong.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::BodyLimits;
use crate::error::{ApiError, FieldError};

/// A JSON body, parsed then validated.
#[derive(Debug)]
pub struct ValidatedJson<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON body parsed by its type's serde rules, not yet validated: for a
/// body whose rules need what the handler holds (the configuration's
/// limits, the tenants), checked there with `ValidateArgs`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> FromRequest for JsonBody<T>
where
    T: DeserializeOwned + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<BodyLimits>>()
            .map_or(16 * 1024, |l| l.json_bytes);
        let json = is_json(req);
        let declared: Option<usize> = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::unsupported_media_type("application/json"));
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::payload_too_large(limit));
            }
            let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|_| ApiError::bad_request("The request body could not be read."))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::payload_too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(JsonBody(parse_json(&body)?))
        })
    }
}

impl<T> FromRequest for ValidatedJson<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parsed = JsonBody::<T>::from_request(req, payload);
        Box::pin(async move {
            let JsonBody(value) = parsed.await?;
            value.validate().map_err(validation_problem)?;
            Ok(ValidatedJson(value))
        })
    }
}

/// Parses JSON: a syntax error is a 400, a well-formed document with a
/// wrong shape is a 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON document is expected.",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { String::new() } else { path };
                ApiError::field(field, strip_position(&inner.to_string()))
            }
            _ => ApiError::bad_request(format!("The request body is not valid JSON: {inner}.")),
        }
    })
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A validation rule: the text must hold more than white space.
pub fn not_blank(value: &str) -> Result<(), validator::ValidationError> {
    if value.trim().is_empty() {
        return Err(
            validator::ValidationError::new("blank").with_message("must not be empty".into())
        );
    }
    Ok(())
}

/// A validation rule: a text for people holds no control character but
/// line breaks and tabs (PostgreSQL cannot even store NUL).
pub fn plain_text(value: &str) -> Result<(), validator::ValidationError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(validator::ValidationError::new("control")
            .with_message("must not contain control characters".into()));
    }
    Ok(())
}

/// Flattens validator's nested errors into `errors[]`.
pub fn validation_problem(errors: ValidationErrors) -> ApiError {
    let mut out = Vec::new();
    flatten("", &errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::validation(out)
}

fn flatten(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("fails the `{}` rule", e.code));
                    out.push(FieldError {
                        field: path.clone(),
                        message,
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u8,
    }

    #[test]
    fn syntax_is_400_shape_is_422_with_the_field() {
        let e = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = parse_json::<Body>(br#"{"name": "x", "count": "many"}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert_eq!(e.errors[0].field, "count");
        let e = parse_json::<Body>(br#"{"name": "x"}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.errors[0].message.contains("count"), "{:?}", e.errors);
        let e = parse_json::<Body>(b"  ").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }
}
