//! `GET /t/{tenant}/logo` and `GET /t/{tenant}/theme.css`: a tenant's logo
//! and accent colour, from memory (read at start), kept by browsers a day
//! and revalidated by their `ETag`. Pages link them with `?v=` their
//! version, so a new logo shows at once. An SVG logo is shown as an image
//! (`<img>`, where it runs nothing) and served with a policy that lets it
//! run nothing when opened alone either.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::citizen::tenant_of;
use super::render;
use super::PageError;
use crate::error::ApiError;
use crate::rights::service::RightsService;
use crate::tenants::theme::{Asset, Theme};
use crate::tenants::{Locale, Tenant};

/// The policy of an SVG logo opened on its own: nothing loads, nothing
/// runs, its own styles apply.
const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

const CACHE: &str = "public, max-age=86400";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/logo").get(logo))
        .service(web::resource("/theme.css").get(stylesheet));
}

/// What a page says of its tenant's theme: the addresses of its logo and
/// stylesheet, with their versions.
pub fn ctx(tenant: &Tenant) -> serde_json::Value {
    let Theme { logo, css } = tenant.theme.as_ref();
    let at = |name: &str, asset: &Option<Asset>| {
        asset
            .as_ref()
            .map(|a| format!("/t/{}/{name}?v={}", tenant.slug, a.version))
    };
    serde_json::json!({"logo": at("logo", logo), "css": at("theme.css", css)})
}

async fn logo(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    serve(&req, &rights, &path, |theme| theme.logo.as_ref())
}

async fn stylesheet(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    serve(&req, &rights, &path, |theme| theme.css.as_ref())
}

fn serve(
    req: &HttpRequest,
    rights: &RightsService,
    slug: &str,
    pick: impl Fn(&Theme) -> Option<&Asset>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(req, Locale::Fr);
    let tenant = tenant_of(rights, slug, lang)?;
    let Some(asset) = pick(&tenant.theme) else {
        return Err(PageError::api(
            lang,
            ApiError::from_status(StatusCode::NOT_FOUND),
        ));
    };
    let etag = format!("\"{}\"", asset.version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, CACHE))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if asset.is_svg() {
        res.insert_header((header::CONTENT_SECURITY_POLICY, SVG_CSP));
    }
    if fresh {
        return Ok(res.finish());
    }
    Ok(res
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .body(asset.bytes.clone()))
}
