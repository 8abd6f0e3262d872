//! `POST /v1/auth/login`: one answer for every wrong credential, the same
//! cost whether the account exists or not, a lock after repeated failures,
//! a rate limit per client address, and every attempt journaled.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::accounts::{self, Role};
use super::token::{self, Claims};
use crate::app::AppState;
use crate::audit::{self, kind};
use crate::error::{ApiError, Problem};
use crate::http::{client_ip, limit_key, ValidatedJson};
use crate::privacy::ip_pseudonym;

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginRequest {
    #[validate(length(min = 3, max = 254, message = "must be an e-mail address"))]
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(format = "password", min_length = 1, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Limits login attempts per client address.
#[derive(Clone)]
pub struct LoginLimiter(Arc<DefaultKeyedRateLimiter<IpAddr>>);

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(RateLimiter::keyed(quota)))
    }

    /// `Err(seconds to wait)` when the address is over its quota.
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.0.check_key(&limit_key(ip)).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs() + 1
        })?;
        if self.0.len() > 100_000 {
            self.0.retain_recent();
        }
        Ok(())
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("Invalid email or password.").with_header("www-authenticate", "Bearer")
}

/// Signs a staff member in.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "staff",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = LoginResponse),
        (status = 400, description = "Malformed body.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown e-mail or wrong password (one answer for both).", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Account locked after repeated failures, or too many attempts from this address; see Retry-After.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many sign-ins at once; try again.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidatedJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.0;
    let ip = client_ip(&req, &state.settings.server);
    let signed = sign_in(&state, ip, email, password).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(LoginResponse {
            access_token: signed.access_token,
            token_type: "Bearer",
            expires_in: signed.expires_in,
        }))
}

/// A successful sign-in: the token and its lifetime.
pub struct SignedIn {
    pub access_token: String,
    pub expires_in: u64,
}

/// Checks a staff member's credentials by the sign-in rules (rate limit per
/// client address, lock after repeated failures, one answer for every wrong
/// credential, every attempt journaled) and issues a token. The JSON API
/// and the console's sign-in page both go through here.
pub async fn sign_in(
    state: &web::Data<AppState>,
    ip: Option<IpAddr>,
    email: String,
    password: String,
) -> Result<SignedIn, ApiError> {
    let now = state.clock.now();
    let pseudonym = ip.map(|ip| ip_pseudonym(&state.secrets.pseudonym, ip));
    let auth = &state.settings.auth;

    if let Some(ip) = ip {
        if let Err(wait) = state.login_limiter.check(ip) {
            let p = pseudonym.clone();
            state
                .db
                .run(move |conn| {
                    audit::record(
                        conn,
                        audit::Entry {
                            kind: kind::LOGIN_RATE_LIMITED,
                            ip_pseudonym: p.as_deref(),
                            ..Default::default()
                        },
                        now.naive_utc(),
                    )
                })
                .await?;
            return Err(ApiError::too_many_requests(
                wait,
                "Too many sign-in attempts from this address; wait before trying again.",
            ));
        }
    }

    // No account's address holds a control character (and PostgreSQL
    // cannot even compare one with NUL): such an address is unknown.
    let account = if email.chars().any(char::is_control) {
        None
    } else {
        let lookup = email.clone();
        state
            .db
            .run(move |conn| accounts::find_by_email(conn, &lookup))
            .await?
    };

    if let Some(row) = &account {
        if let Some(until) = row.locked_until.filter(|u| *u > now.naive_utc()) {
            let (tenant, actor, p) = (row.tenant_id.clone(), row.id.clone(), pseudonym.clone());
            state
                .db
                .run(move |conn| {
                    audit::record(
                        conn,
                        audit::Entry {
                            tenant_id: tenant.as_deref(),
                            kind: kind::LOGIN_LOCKED,
                            actor_id: Some(&actor),
                            ip_pseudonym: p.as_deref(),
                            ..Default::default()
                        },
                        now.naive_utc(),
                    )
                })
                .await?;
            let wait = (until - now.naive_utc()).num_seconds().max(1) as u64;
            return Err(ApiError::too_many_requests(
                wait,
                "This account is locked after repeated failed sign-ins; try again later.",
            ));
        }
    }

    let hash = account.as_ref().map(|r| r.password_hash.clone());
    let valid = state.hasher.verify(password, hash).await?;
    let enabled = account.as_ref().is_some_and(|r| !r.disabled);

    let Some(row) = account else {
        let p = pseudonym.clone();
        state
            .db
            .run(move |conn| {
                audit::record(
                    conn,
                    audit::Entry {
                        kind: kind::LOGIN_FAILURE,
                        ip_pseudonym: p.as_deref(),
                        detail: Some(serde_json::json!({"reason": "unknown_account"})),
                        ..Default::default()
                    },
                    now.naive_utc(),
                )
            })
            .await?;
        return Err(invalid_credentials());
    };

    if !(valid && enabled) {
        let threshold = auth.lockout_threshold;
        let lock_for = chrono::Duration::minutes(i64::from(auth.lockout_minutes));
        let reason = if valid { "disabled" } else { "wrong_password" };
        let p = pseudonym.clone();
        state
            .db
            .run(move |conn| {
                let locked = if valid {
                    None
                } else {
                    accounts::record_failure(conn, &row.id, now.naive_utc(), threshold, lock_for)?
                };
                audit::record(
                    conn,
                    audit::Entry {
                        tenant_id: row.tenant_id.as_deref(),
                        kind: kind::LOGIN_FAILURE,
                        actor_id: Some(&row.id),
                        ip_pseudonym: p.as_deref(),
                        detail: Some(serde_json::json!({
                            "reason": reason,
                            "locked_until": locked.map(|t| t.and_utc()),
                        })),
                        ..Default::default()
                    },
                    now.naive_utc(),
                )
            })
            .await?;
        return Err(invalid_credentials());
    }

    let lifetime = auth.token_lifetime_secs;
    let tenant_slug = state.tenants.slug_of(row.tenant_id.as_deref());
    let claims = Claims {
        iss: token::ISSUER.into(),
        sub: row.id.clone(),
        tenant: tenant_slug,
        role: Role::parse(&row.role).unwrap_or(Role::Dpo).as_str().into(),
        jti: uuid::Uuid::now_v7().to_string(),
        iat: now.timestamp(),
        exp: now.timestamp() + lifetime as i64,
    };
    let access_token = token::issue(&state.secrets.jwt, &claims)?;
    let jti = claims.jti.clone();
    state
        .db
        .run(move |conn| {
            accounts::record_success(conn, &row.id)?;
            audit::record(
                conn,
                audit::Entry {
                    tenant_id: row.tenant_id.as_deref(),
                    kind: kind::LOGIN_SUCCESS,
                    actor_id: Some(&row.id),
                    ip_pseudonym: pseudonym.as_deref(),
                    detail: Some(serde_json::json!({"jti": jti})),
                    ..Default::default()
                },
                now.naive_utc(),
            )
        })
        .await?;
    Ok(SignedIn {
        access_token,
        expires_in: lifetime,
    })
}
