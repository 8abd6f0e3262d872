//! `consent.js` (`assets/consent.js`): the one script a portal adds, with
//! one tag, to connect its stock cookie banner to this API. The same bytes
//! for every tenant (the script reads the API's address and the tenant
//! from its own URL), cacheable, with a strong ETag (the SHA-256 of the
//! bytes) so that a browser revalidates it for a 304, and stable bytes so
//! that a page may pin them with Subresource Integrity.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};

use super::service::ConsentService;
use crate::error::ApiError;

/// The script, as served.
pub const SCRIPT: &str = include_str!("../../assets/consent.js");

/// The script's strong ETag: its SHA-256, quoted.
pub fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        use sha2::Digest;
        format!("\"{:x}\"", sha2::Sha256::digest(SCRIPT.as_bytes()))
    })
}

/// The version its header names (`/*! Guichet consent.js 1.0.0 | …`).
pub fn version() -> &'static str {
    SCRIPT
        .strip_prefix("/*! Guichet consent.js ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("")
}

/// Whether `If-None-Match` names this ETag (or `*`); a weak validator
/// matches too, as RFC 9110 asks of If-None-Match.
fn not_modified(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag())
}

/// The script that connects a stock cookie banner (tarteaucitron.js,
/// Orejime, Klaro, vanilla-cookieconsent) to this tenant's consent API:
/// `<script src=".../consent.js" data-banner="orejime" defer>`. The same
/// bytes for every tenant; its SHA-384 is the `integrity` a page may pin.
#[utoipa::path(
    tag = "consent",
    params(
        ("tenant" = String, Path, description = "Tenant slug.", pattern = "^[a-z0-9-]{2,40}$"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of a copy already held."),
    ),
    responses(
        (status = 200, description = "The script (JavaScript, UTF-8).", body = String,
            content_type = "text/javascript",
            headers(
                ("etag" = String, description = "Strong: the SHA-256 of the bytes, quoted."),
                ("cache-control" = String, description = "`public, max-age=` `consent.script_max_age_secs`."),
            )),
        (status = 304, description = "The copy held is the current one.",
            headers(("etag" = String, description = "The same ETag."))),
        (status = 404, description = "Unknown tenant."),
    )
)]
#[get("/consent.js")]
pub async fn script(
    req: HttpRequest,
    consent: web::Data<ConsentService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    consent.tenants.get(&path)?;
    let fresh = not_modified(&req);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag()))
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", consent.settings.script_max_age_secs),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        return Ok(res.finish());
    }
    Ok(res
        .content_type("text/javascript; charset=utf-8")
        .body(SCRIPT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_version_the_script_reports() {
        assert!(!version().is_empty());
        assert!(SCRIPT.contains(&format!("var VERSION = '{}';", version())));
    }

    #[test]
    fn the_etag_is_the_quoted_sha256_of_the_bytes() {
        let tag = etag();
        assert_eq!(tag.len(), 66);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
    }
}
