//! Pages people use, served by the binary itself: the citizen's request
//! form and tracking page (`/t/{tenant}/…`), and the DPO's console
//! (`/console`). Plain HTML forms that work without JavaScript, templates
//! and CSS compiled in (with the console's one script, the answer forms'
//! character counters), and a Content-Security-Policy that allows nothing
//! but this origin. Handlers call the same functions as the JSON API.

mod accessibility;
mod answers;
mod casefile;
mod chart;
mod citizen;
mod console;
mod delivery;
mod entry;
mod errors;
mod franceconnect;
mod identity;
mod insight;
mod letters;
mod linked;
pub mod render;
mod report;
mod sealed;
pub mod session;
mod signin;
mod signin_oidc;
mod theme;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{guard, web, HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::tenants::Locale;

pub use errors::PageError;
pub use insight::retention_runs;

/// The policy of every page: this origin only, no inline script.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

const CSS: &str = include_str!("../../assets/guichet.css");
/// The console's only script: the answer forms' character counters.
const CONSOLE_JS: &str = include_str!("../../assets/console.js");

fn page_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        // Tracking links carry their token in the address.
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        // A tracking link opened in a browser shows the tracking page; the
        // API answers JSON to everyone else at the same address.
        web::resource("/v1/requests/track/{token}")
            .guard(guard::Get())
            .guard(guard::fn_guard(|ctx| wants_html(ctx.head().headers())))
            .wrap(page_headers())
            .to(citizen::track_redirect),
    )
    .service(
        web::resource("/assets/guichet.css")
            .wrap(
                DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::CACHE_CONTROL, "public, max-age=3600")),
            )
            .get(css),
    )
    .service(
        web::resource("/assets/console.js")
            .wrap(
                DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::CACHE_CONTROL, "public, max-age=3600")),
            )
            .get(console_js),
    )
    .service(
        web::scope("/t/{tenant}")
            .wrap(page_headers())
            .configure(citizen::routes)
            .default_service(web::to(not_found)),
    )
    .service(
        web::scope("/console")
            .wrap(page_headers())
            .configure(console::routes)
            .default_service(web::to(not_found)),
    );
}

/// A browser asking for a page: HTML accepted, JSON not asked for.
fn wants_html(headers: &header::HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("text/html") && !accept.contains("application/json")
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        ))
        .body(CSS)
}

async fn console_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ))
        .body(CONSOLE_JS)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let lang = render::lang(&req, Locale::Fr);
    PageError::api(lang, ApiError::from_status(StatusCode::NOT_FOUND)).error_response()
}

/// The path of the current request, for the language links.
fn here(req: &HttpRequest) -> String {
    req.path().to_owned()
}

/// Renders a page with `status`.
fn page(
    req: &HttpRequest,
    lang: Locale,
    status: StatusCode,
    template: &str,
    ctx: serde_json::Value,
) -> Result<HttpResponse, PageError> {
    let html =
        render::render(template, lang, &here(req), ctx).map_err(|e| PageError::api(lang, e))?;
    Ok(render::respond(req, status, html))
}

/// 303 See Other: the answer to a form that worked.
fn see_other(location: impl Into<String>) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.into()))
        .finish()
}
