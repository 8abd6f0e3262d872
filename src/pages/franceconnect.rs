//! FranceConnect on a tenant's citizen form (`[tenants.SLUG.franceconnect]`):
//! `/t/{tenant}/franceconnect/login` leaves for the provider,
//! `/callback` comes back with the identity it vouches for, which the form
//! then shows and does not let change; once the request is sent, or when
//! the citizen asks, `/logout` ends the provider's session and
//! `/logged-out` comes back to where the citizen was going.
//!
//! What the browser carries between the steps is one cookie, sealed
//! (`oidc::seal`), for this tenant's pages only: the flow's state, nonce
//! and PKCE verifier, then the identity, then the way back from the
//! provider's logout. Of the identity, the request keeps the names and
//! e-mail, the instant, and the provider's `sub` as a keyed hash only.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::citizen::{tenant_ctx, tenant_of};
use super::render::{self, text};
use super::sealed::{providers_of, with_cookie, Carrier};
use super::{page, see_other, PageError};
use crate::oidc::providers::{citizen_logged_out, Providers};
use crate::oidc::{Callback, OidcError, Pending, RelyingParty};
use crate::privacy::keyed_hash;
use crate::rights::service::RightsService;
use crate::rights::submit::Verified;
use crate::tenants::{Locale, Tenant};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/franceconnect/login").get(login))
        .service(web::resource("/franceconnect/callback").get(callback))
        .service(web::resource("/franceconnect/logout").get(logout))
        .service(web::resource("/franceconnect/logged-out").get(logged_out));
}

const COOKIE: &str = "guichet_franceconnect";
const PURPOSE: &str = "franceconnect";

/// The citizen as FranceConnect vouched for them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Citizen {
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    /// The provider's `sub`, keyed-hashed.
    pub subject_hash: String,
    pub at: DateTime<Utc>,
    /// The hint that ends the provider's session.
    id_token: String,
}

impl Citizen {
    pub fn verified(&self) -> Verified {
        Verified {
            subject_hash: self.subject_hash.clone(),
            at: self.at,
        }
    }
}

/// What the cookie carries, step by step.
#[derive(Serialize, Deserialize)]
enum Carried {
    /// Gone to the provider.
    Flow(Pending),
    /// Back with an identity.
    Identified(Citizen),
    /// Leaving the provider's session, then to `next`.
    Leaving {
        state: Option<String>,
        id_token: Option<String>,
        next: String,
    },
}

/// The cookie of this tenant's pages.
fn carrier(slug: &str) -> Carrier {
    Carrier {
        name: COOKIE,
        purpose: PURPOSE,
        path: format!("/t/{slug}"),
    }
}

fn carried(req: &HttpRequest, providers: &Providers, slug: &str, now: i64) -> Option<Carried> {
    carrier(slug).open(req, providers, now)
}

fn carry(
    providers: &Providers,
    slug: &str,
    what: &Carried,
    now: i64,
    secs: i64,
) -> Cookie<'static> {
    carrier(slug).carry(providers, what, now, secs)
}

fn removal(providers: &Providers, slug: &str) -> Cookie<'static> {
    carrier(slug).removal(providers)
}

/// The citizen FranceConnect identified on this tenant's pages, if any.
pub(super) fn identified(req: &HttpRequest, rights: &RightsService, slug: &str) -> Option<Citizen> {
    let providers = providers_of(req)?;
    providers.citizens.get(slug)?;
    match carried(req, providers, slug, rights.clock.now().timestamp())? {
        Carried::Identified(citizen) => Some(citizen),
        _ => None,
    }
}

/// Whether the tenant offers FranceConnect.
pub(super) fn offered(req: &HttpRequest, slug: &str) -> bool {
    providers_of(req).is_some_and(|p| p.citizens.contains_key(slug))
}

/// What the form shows of FranceConnect.
pub(super) fn form_ctx(
    req: &HttpRequest,
    citizen: Option<&Citizen>,
    slug: &str,
) -> serde_json::Value {
    json!({
        "offered": offered(req, slug),
        "login": format!("/t/{slug}/franceconnect/login"),
        "logout": format!("/t/{slug}/franceconnect/logout"),
        "citizen": citizen.map(|c| json!({
            "given_name": c.given_name, "family_name": c.family_name, "email": c.email,
        })),
    })
}

/// After a request sent with FranceConnect: on to the provider's logout,
/// then to `next`.
pub(super) fn leave(
    req: &HttpRequest,
    rights: &RightsService,
    slug: &str,
    next: String,
) -> HttpResponse {
    let Some(providers) = providers_of(req) else {
        return see_other(next);
    };
    let now = rights.clock.now().timestamp();
    let id_token = match carried(req, providers, slug, now) {
        Some(Carried::Identified(c)) => Some(c.id_token),
        _ => None,
    };
    let leaving = Carried::Leaving {
        state: None,
        id_token,
        next,
    };
    let secs = flow_secs(providers.citizens.get(slug));
    let cookie = carry(providers, slug, &leaving, now, secs);
    with_cookie(
        see_other(format!("/t/{slug}/franceconnect/logout")),
        &cookie,
    )
}

fn flow_secs(party: Option<&RelyingParty>) -> i64 {
    party.map_or(900, |p| i64::from(p.settings().flow_minutes) * 60)
}

/// The form again, with what went wrong with FranceConnect; the journey
/// goes on without it. No identity is kept.
fn failed(providers: &Providers, slug: &str, e: &OidcError) -> HttpResponse {
    // The reason's code only: the provider's messages may name the person.
    tracing::warn!(
        tenant = slug,
        reason = e.code(),
        "FranceConnect sign-in failed"
    );
    let code = match e {
        OidcError::Unreachable(_) => "unreachable",
        _ => "failed",
    };
    let res = see_other(format!("/t/{slug}/droits?franceconnect={code}"));
    with_cookie(res, &removal(providers, slug))
}

/// The notice the form shows after a failed FranceConnect sign-in.
pub(super) fn notice(req: &HttpRequest, lang: Locale) -> Option<String> {
    let code = super::console::query_param(req, "franceconnect")?;
    let key = match code.as_str() {
        "failed" => "fc_failed",
        "unreachable" => "fc_unreachable",
        _ => return None,
    };
    Some(text(lang, key))
}

/// The tenant, its language and its FranceConnect; a tenant without it
/// has no such pages.
fn party_of<'a>(
    req: &HttpRequest,
    rights: &RightsService,
    providers: &'a Providers,
    slug: &str,
) -> Result<(std::sync::Arc<Tenant>, Locale, &'a RelyingParty), PageError> {
    let tenant = tenant_of(rights, slug, render::lang(req, Locale::Fr))?;
    let lang = render::lang(req, tenant.config.locale);
    let party = providers.citizens.get(slug).ok_or_else(|| {
        PageError::api(
            lang,
            crate::error::ApiError::from_status(StatusCode::NOT_FOUND),
        )
    })?;
    Ok((tenant, lang, party))
}

/// `GET /t/{tenant}/franceconnect/login`: to the provider.
async fn login(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    providers: web::Data<Providers>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let slug = path.into_inner();
    let (_, _, party) = party_of(&req, &rights, &providers, &slug)?;
    match party.start().await {
        Ok((url, pending)) => {
            let now = rights.clock.now().timestamp();
            let cookie = carry(
                &providers,
                &slug,
                &Carried::Flow(pending),
                now,
                flow_secs(Some(party)),
            );
            Ok(with_cookie(see_other(url), &cookie))
        }
        Err(e) => Ok(failed(&providers, &slug, &e)),
    }
}

/// `GET /t/{tenant}/franceconnect/callback`: the provider's answer, checked;
/// then the form, filled with the identity.
async fn callback(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    providers: web::Data<Providers>,
    path: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let slug = path.into_inner();
    let (_, lang, party) = party_of(&req, &rights, &providers, &slug)?;
    let now = rights.clock.now();
    let Some(Carried::Flow(pending)) = carried(&req, &providers, &slug, now.timestamp()) else {
        return Ok(failed(&providers, &slug, &OidcError::State));
    };
    let answer = Callback {
        code: query.get("code").cloned(),
        state: query.get("state").cloned(),
        error: query.get("error").cloned(),
    };
    let identity = match party.finish(&pending, &answer, now).await {
        Ok(identity) => identity,
        Err(e) => return Ok(failed(&providers, &slug, &e)),
    };
    let (Some(given_name), Some(family_name)) = (identity.given_name, identity.family_name) else {
        let e = OidcError::UserInfo("no given_name or family_name".into());
        return Ok(failed(&providers, &slug, &e));
    };
    let Some(key) = rights.pseudonym_keys.first() else {
        return Err(PageError::internal(lang));
    };
    let citizen = Citizen {
        given_name,
        family_name,
        email: identity.email,
        subject_hash: keyed_hash(key, "franceconnect sub", identity.subject.as_bytes()),
        at: now,
        id_token: identity.id_token,
    };
    let secs = i64::from(party.settings().identity_minutes) * 60;
    let cookie = carry(
        &providers,
        &slug,
        &Carried::Identified(citizen),
        now.timestamp(),
        secs,
    );
    Ok(with_cookie(see_other(format!("/t/{slug}/droits")), &cookie))
}

/// `GET /t/{tenant}/franceconnect/logout`: the provider's session ended
/// (its page, then back to `/logged-out`); the identity forgotten here.
async fn logout(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    providers: web::Data<Providers>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let slug = path.into_inner();
    let (tenant, lang, party) = party_of(&req, &rights, &providers, &slug)?;
    let now = rights.clock.now().timestamp();
    let form = format!("/t/{slug}/droits");
    let (id_token, next) = match carried(&req, &providers, &slug, now) {
        Some(Carried::Identified(c)) => (Some(c.id_token), form),
        Some(Carried::Leaving { id_token, next, .. }) => (id_token, next),
        _ => (None, form),
    };
    let Some(id_token) = id_token else {
        return Ok(with_cookie(see_other(next), &removal(&providers, &slug)));
    };
    let state = crate::oidc::random_state();
    let back = citizen_logged_out(&providers.public_url, &slug);
    let url = match party.end_session_url(&id_token, &back, &state).await {
        Ok(Some(url)) => url,
        Ok(None) | Err(_) => {
            return Ok(with_cookie(see_other(next), &removal(&providers, &slug)));
        }
    };
    let leaving = Carried::Leaving {
        state: Some(state),
        id_token: None,
        next: next.clone(),
    };
    let cookie = carry(&providers, &slug, &leaving, now, flow_secs(Some(party)));
    // A page that goes on by itself: the way here may have been a form's
    // answer, which the page policy (`form-action 'self'`) keeps from
    // leaving the site.
    let ctx = json!({
        "tenant": tenant_ctx(&rights, &tenant, lang),
        "url": url,
        "here": format!("/t/{slug}/droits"),
    });
    let res = page(&req, lang, StatusCode::OK, "citizen_leaving.html", ctx)?;
    Ok(with_cookie(res, &cookie))
}

/// `GET /t/{tenant}/franceconnect/logged-out`: back from the provider's
/// logout, on to where the citizen was going.
async fn logged_out(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    providers: web::Data<Providers>,
    path: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let slug = path.into_inner();
    party_of(&req, &rights, &providers, &slug)?;
    let now = rights.clock.now().timestamp();
    let next = match carried(&req, &providers, &slug, now) {
        Some(Carried::Leaving {
            state: Some(state),
            next,
            ..
        }) if query.get("state") == Some(&state) => next,
        _ => format!("/t/{slug}/droits"),
    };
    Ok(with_cookie(see_other(next), &removal(&providers, &slug)))
}
