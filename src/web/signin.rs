//! Signing in to the console and out: the API's staff sign-in rules (rate
//! limit per address, lock after repeated failures, journal), then the
//! session cookie; the sign-in form carries a token of its own.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use validator::Validate;

use super::console::{form_fields, query_param};
use super::render::{self, text};
use super::session::{self, Session};
use super::{page, see_other, PageError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::client_ip;
use crate::staff::login::{sign_in, LoginRequest};
use crate::tenants::Locale;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/login").get(login_form).post(login))
        .service(web::resource("/logout").post(logout));
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    lang: Locale,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (cookie, token) = session::login_nonce(state);
    let ctx = json!({
        "email": email, "next": next, "csrf": token, "error": error,
        "here": "/console/login",
    });
    let mut res = page(req, lang, status, "console_login.html", ctx)?;
    res.add_cookie(&cookie)
        .map_err(|e| PageError::api(lang, ApiError::internal(anyhow::anyhow!("{e}"))))?;
    Ok(res)
}

/// `GET /console/login`.
async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let next = session::local_next(query_param(&req, "next").as_deref());
    login_page(&req, &state, lang, StatusCode::OK, "", &next, None)
}

/// `POST /console/login`: the staff sign-in rules of the API (rate limit,
/// lock, journal), then the session cookie.
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let form = form_fields(&body, lang)?;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let next = session::local_next(Some(field("next")));
    if !session::login_token_ok(&state, &req, field("csrf")) {
        return Err(PageError::csrf(lang));
    }
    let email = field("email").trim().to_owned();
    let again = |status, message: String| {
        login_page(&req, &state, lang, status, &email, &next, Some(message))
    };
    let credentials = LoginRequest {
        email: email.clone(),
        password: field("password").to_owned(),
    };
    if credentials.validate().is_err() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            text(lang, "login_missing"),
        );
    }
    let ip = client_ip(&req, &state.settings.server);
    match sign_in(&state, ip, credentials.email, credentials.password).await {
        Ok(signed) => {
            let mut res = see_other(next.clone());
            let cookies = [
                session::session_cookie(&state, signed.access_token, signed.expires_in),
                session::removal(&state, session::LOGIN_COOKIE),
            ];
            for c in &cookies {
                res.add_cookie(c).map_err(|e| {
                    PageError::api(lang, ApiError::internal(anyhow::anyhow!("{e}")))
                })?;
            }
            Ok(res)
        }
        Err(e) => {
            let key = match (e.status.as_u16(), e.detail.contains("locked")) {
                (401, _) => "login_invalid",
                (429, true) => "login_locked",
                (429, false) => "error_rate",
                (503, _) => "login_busy",
                _ => return Err(PageError::api(lang, e)),
            };
            let mut res = again(e.status, text(lang, key))?;
            // A lock or a rate limit says when to come back.
            for (name, value) in &e.headers {
                if name == actix_web::http::header::RETRY_AFTER {
                    res.headers_mut().insert(name.clone(), value.clone());
                }
            }
            Ok(res)
        }
    }
}

/// `POST /console/logout`.
async fn logout(
    session: Session,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    session.check(&form_fields(&body, session.lang)?)?;
    let mut res = see_other("/console/login");
    res.add_cookie(&session::removal(&state, session::SESSION_COOKIE))
        .map_err(|e| PageError::api(session.lang, ApiError::internal(anyhow::anyhow!("{e}"))))?;
    Ok(res)
}
