//! Staff signing in to the console through the instance's identity
//! provider (`[auth.oidc]`: ProConnect, the authority's Keycloak…):
//! `/console/oidc/login` leaves for the provider, `/console/oidc/callback`
//! comes back; the account whose address the provider vouched for (and
//! said verified) must exist and be enabled, and gets the same session as
//! after a password (`staff::http::vouched`). Every attempt is journaled;
//! a refused one ends on the sign-in page, saying so.
//!
//! The session cookie is `SameSite=Strict`: a browser does not send it
//! along a chain of redirects that began at the provider's site, so the
//! callback answers a page of this site that goes on to the console.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::console::query_param;
use super::render::{self, text};
use super::sealed::{with_cookie, Carrier};
use super::signin::{login_page, Filled};
use super::{page, see_other, session, PageError};
use crate::error::ApiError;
use crate::http::client_ip;
use crate::oidc::providers::Providers;
use crate::oidc::{Callback, OidcError, Pending, RelyingParty};
use crate::staff::http::vouched::{journal_failure, sign_in_vouched, Vouched};
use crate::staff::StaffService;
use crate::tenants::Locale;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oidc/login").get(start))
        .service(web::resource("/oidc/callback").get(callback));
}

/// The address that starts a sign-in through the provider, back to `next`.
pub fn start_url(next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("/console/oidc/login?{query}")
}

fn carrier() -> Carrier {
    Carrier {
        name: "guichet_oidc",
        purpose: "staff oidc",
        path: "/console".into(),
    }
}

/// What the browser carries to the provider and back.
#[derive(Serialize, Deserialize)]
struct Flow {
    pending: Pending,
    next: String,
}

fn party(providers: &Providers, lang: Locale) -> Result<&RelyingParty, PageError> {
    providers
        .staff
        .as_ref()
        .ok_or_else(|| PageError::api(lang, ApiError::from_status(StatusCode::NOT_FOUND)))
}

/// The sign-in page again, saying why (`key`), the flow's cookie gone.
fn again(
    req: &HttpRequest,
    service: &StaffService,
    providers: &Providers,
    lang: Locale,
    key: &str,
) -> Result<HttpResponse, PageError> {
    let filled = Filled {
        email: "",
        next: "/console",
        unlock: "",
    };
    let res = login_page(
        req,
        service,
        lang,
        StatusCode::UNAUTHORIZED,
        &filled,
        Some(text(lang, key)),
    )?;
    Ok(with_cookie(res, &carrier().removal(providers)))
}

/// A failure of the provider's side: journaled (its code only), then the
/// sign-in page.
async fn failed(
    req: &HttpRequest,
    service: &StaffService,
    providers: &Providers,
    lang: Locale,
    e: &OidcError,
) -> Result<HttpResponse, PageError> {
    tracing::warn!(
        reason = e.code(),
        "staff sign-in through the provider failed"
    );
    let ip = client_ip(req, &service.server);
    journal_failure(service, ip, e.code())
        .await
        .map_err(|e| PageError::api(lang, e))?;
    again(req, service, providers, lang, "login_oidc_failed")
}

/// `GET /console/oidc/login?next=`: to the provider.
async fn start(
    req: HttpRequest,
    service: web::Data<StaffService>,
    providers: web::Data<Providers>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let party = party(&providers, lang)?;
    let next = session::local_next(query_param(&req, "next").as_deref());
    match party.start().await {
        Ok((url, pending)) => {
            let now = service.clock.now().timestamp();
            let secs = i64::from(party.settings().flow_minutes) * 60;
            let cookie = carrier().carry(&providers, &Flow { pending, next }, now, secs);
            Ok(with_cookie(see_other(url), &cookie))
        }
        Err(e) => failed(&req, &service, &providers, lang, &e).await,
    }
}

/// `GET /console/oidc/callback`: the provider's answer, checked; the
/// account it names signed in.
async fn callback(
    req: HttpRequest,
    service: web::Data<StaffService>,
    providers: web::Data<Providers>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, PageError> {
    let lang = render::lang(&req, Locale::Fr);
    let party = party(&providers, lang)?;
    let now = service.clock.now();
    let Some(flow) = carrier().open::<Flow>(&req, &providers, now.timestamp()) else {
        return failed(&req, &service, &providers, lang, &OidcError::State).await;
    };
    let identity = match party.finish(&flow.pending, &query, now).await {
        Ok(identity) => identity,
        Err(e) => return failed(&req, &service, &providers, lang, &e).await,
    };
    let ip = client_ip(&req, &service.server);
    let vouched = Vouched {
        email: identity.email.as_deref(),
        email_verified: identity.email_verified || !party.settings().require_email_verified,
    };
    let signed = match sign_in_vouched(&service, ip, vouched).await {
        Ok(Ok(signed)) => signed,
        Ok(Err(refusal)) => {
            tracing::warn!(
                reason = refusal.code(),
                "staff sign-in through the provider refused"
            );
            return again(&req, &service, &providers, lang, "login_oidc_refused");
        }
        Err(e) => return Err(PageError::api(lang, e)),
    };
    let ctx = json!({"next": flow.next, "here": "/console/login"});
    let res = page(&req, lang, StatusCode::OK, "console_signed_in.html", ctx)?;
    let res = with_cookie(
        res,
        &session::session_cookie(&service, signed.access_token, signed.expires_in),
    );
    let res = with_cookie(res, &session::removal(&service, session::LOGIN_COOKIE));
    Ok(with_cookie(res, &carrier().removal(&providers)))
}
