//! Signing in to the console and out: the API's staff sign-in rules (rate
//! limit per address, lock per e-mail address after repeated failures, the
//! unlock link's way back in, journal), then the session cookie; the
//! sign-in form carries a token of its own. Signing out revokes the token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use validator::Validate;

use super::console::{form_fields, query_param};
use super::render::{self, text};
use super::session::{self, Session};
use super::{page, see_other, PageError};
use crate::error::ApiError;
use crate::http::client_ip;
use crate::staff::http::login::{is_locked, sign_in, LoginRequest};
use crate::staff::lockout::is_link_token;
use crate::staff::revoked;
use crate::staff::StaffService;
use crate::tenants::Locale;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/login").get(login_form).post(login))
        .service(web::resource("/logout").post(logout))
        .configure(super::signin_oidc::routes);
}

/// What the sign-in form carries from one showing to the next.
pub(super) struct Filled<'a> {
    pub email: &'a str,
    pub next: &'a str,
    /// The unlock link's token, when the form was opened from one.
    pub unlock: &'a str,
}

/// The sign-in page: the form for a password unless the instance takes
/// none (`auth.password_sign_in`), the identity provider's way in when
/// `[auth.oidc]` names one.
pub(super) fn login_page(
    req: &HttpRequest,
    service: &StaffService,
    lang: Locale,
    status: StatusCode,
    filled: &Filled<'_>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (cookie, token) = session::login_nonce(service);
    let oidc = super::sealed::providers_of(req)
        .filter(|p| p.staff.is_some())
        .map(|_| super::signin_oidc::start_url(filled.next));
    let ctx = json!({
        "email": filled.email, "next": filled.next, "unlock": filled.unlock,
        "csrf": token, "error": error, "here": "/console/login",
        "password": service.auth.password_sign_in, "oidc": oidc,
    });
    let mut res = page(req, lang, status, "console_login.html", ctx)?;
    res.add_cookie(&cookie)
        .map_err(|e| PageError::api(lang, ApiError::internal(anyhow::anyhow!("{e}"))))?;
    Ok(res)
}

/// `GET /console/login`.
async fn login_form(
    req: HttpRequest,
    service: web::Data<StaffService>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let next = session::local_next(query_param(&req, "next").as_deref());
    let unlock = query_param(&req, "unlock").filter(|t| is_link_token(t));
    let filled = Filled {
        email: "",
        next: &next,
        unlock: unlock.as_deref().unwrap_or(""),
    };
    login_page(&req, &service, lang, StatusCode::OK, &filled, None)
}

/// `POST /console/login`: the staff sign-in rules of the API (rate limit,
/// lock, journal), then the session cookie.
async fn login(
    req: HttpRequest,
    service: web::Data<StaffService>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let form = form_fields(&body, lang)?;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let next = session::local_next(Some(field("next")));
    if !session::login_token_ok(&service, &req, field("csrf")) {
        return Err(PageError::csrf(lang));
    }
    let email = field("email").trim().to_owned();
    let unlock = Some(field("unlock")).filter(|t| is_link_token(t));
    let filled = Filled {
        email: &email,
        next: &next,
        unlock: unlock.unwrap_or(""),
    };
    let again =
        |status, message: String| login_page(&req, &service, lang, status, &filled, Some(message));
    let credentials = LoginRequest {
        email: email.clone(),
        password: field("password").to_owned(),
        unlock_token: unlock.map(str::to_owned),
    };
    if credentials.validate().is_err() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            text(lang, "login_missing"),
        );
    }
    let ip = client_ip(&req, &service.server);
    let LoginRequest {
        email,
        password,
        unlock_token,
    } = credentials;
    match sign_in(&service, ip, email, password, unlock_token).await {
        Ok(signed) => {
            let mut res = see_other(next.clone());
            let cookies = [
                session::session_cookie(&service, signed.access_token, signed.expires_in),
                session::removal(&service, session::LOGIN_COOKIE),
            ];
            for c in &cookies {
                res.add_cookie(c).map_err(|e| {
                    PageError::api(lang, ApiError::internal(anyhow::anyhow!("{e}")))
                })?;
            }
            Ok(res)
        }
        Err(e) => {
            let key = match (e.status.as_u16(), is_locked(&e)) {
                (401, _) => "login_invalid",
                (429, true) => "login_locked",
                (429, false) => "error_rate",
                (503, _) => "login_busy",
                (403, _) => "login_password_off",
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

/// `POST /console/logout`: the session's token is refused from now on,
/// wherever it is presented, and the cookie goes.
async fn logout(
    session: Session,
    service: web::Data<StaffService>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    session.check(&form_fields(&body, session.lang)?)?;
    let (jti, exp) = (session.token_id.clone(), session.token_expires_at);
    let now = service.clock.now().naive_utc();
    let batch = i64::from(service.auth.sweep_batch);
    let expires_at = chrono::DateTime::from_timestamp(exp, 0)
        .map_or(now, |t| t.naive_utc())
        .max(now);
    service
        .db
        .run(move |conn| Ok(revoked::revoke(conn, &jti, expires_at, now, batch)?))
        .await
        .map_err(|e| PageError::api(session.lang, e))?;
    let mut res = see_other("/console/login");
    res.add_cookie(&session::removal(&service, session::SESSION_COOKIE))
        .map_err(|e| PageError::api(session.lang, ApiError::internal(anyhow::anyhow!("{e}"))))?;
    Ok(res)
}
