//! `POST /v1/auth/login`: one answer for every wrong credential, the same
//! answers and cost whether the account exists or not, a lock per e-mail
//! address after repeated failures (`super::lockout`) with an unlock link
//! for the account's owner, a rate limit per client address, and every
//! attempt journaled.

use std::net::IpAddr;

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::audit::{self, kind};
use crate::db::{write_transaction, DbConnection};
use crate::error::ApiError;
use crate::http::{client_ip, Refused, ValidatedJson};
use crate::mail::{Letter, Template};
use crate::privacy::ip_pseudonym;
use crate::staff::accounts::{self, Role, StaffRow};
use crate::staff::lockout::{self, Admission, Outcome};
use crate::staff::token::{self, Claims};
use crate::staff::{StaffError, StaffService};
use crate::tenants::Locale;

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginRequest {
    #[validate(length(min = 3, max = 254, message = "must be an e-mail address"))]
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    #[validate(length(min = 1, max = 1024, message = "must be 1 to 1024 characters"))]
    #[schema(format = "password", min_length = 1, max_length = 1024)]
    pub password: String,
    /// The token of the unlock link e-mailed to the owner of a locked
    /// account: with it, the password is checked despite the lock (a few
    /// times), and the right one lifts the lock.
    #[serde(default)]
    #[validate(length(max = 128, message = "must be at most 128 characters"))]
    #[schema(max_length = 128)]
    pub unlock_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("Invalid email or password.").with_header("www-authenticate", "Bearer")
}

const LOCKED: &str = "Sign-ins with this e-mail address are locked after repeated failures; \
                      try again later (the account's owner is e-mailed an unlock link).";

fn locked(retry_after_secs: u64) -> ApiError {
    ApiError::too_many_requests(retry_after_secs, LOCKED)
}

/// The answer to a password where this instance takes none
/// (`auth.password_sign_in = false`): its staff sign in through the
/// identity provider of `[auth.oidc]`.
pub fn password_off() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "password_sign_in_off",
        "Password sign-in is switched off on this instance: sign in through its identity provider.",
    )
}

/// Whether a sign-in was refused by the lock of its e-mail address (rather
/// than by the rate limit of its client address).
pub fn is_locked(e: &ApiError) -> bool {
    e.status == actix_web::http::StatusCode::TOO_MANY_REQUESTS && e.detail == LOCKED
}

/// Signs a staff member in.
#[utoipa::path(
    tag = "staff",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = LoginResponse),
        (status = 400, description = "Malformed body."),
        (status = 401, description = "Unknown e-mail or wrong password (one answer for both)."),
        (status = 413, description = "Body too large."),
        (status = 422, description = "Invalid fields."),
        (status = 403, description = "Password sign-in is switched off on this instance (auth.password_sign_in = false)."),
        (status = 429, description = "E-mail address locked after repeated failures (whether an account has it or not), or too many attempts from this client address; see Retry-After."),
        (status = 503, description = "Too many sign-ins at once; try again."),
    )
)]
#[post("/v1/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<StaffService>,
    body: ValidatedJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        email,
        password,
        unlock_token,
    } = body.0;
    let ip = client_ip(&req, &state.server);
    let signed = sign_in(&state, ip, email, password, unlock_token).await?;
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
/// client address, lock per e-mail address, one answer for every wrong
/// credential, every attempt journaled) and issues a token. The JSON API
/// and the console's sign-in page both go through here. `unlock_token` is
/// the token of an unlock link, if the attempt came with one.
pub async fn sign_in(
    state: &StaffService,
    ip: Option<IpAddr>,
    email: String,
    password: String,
    unlock_token: Option<String>,
) -> Result<SignedIn, ApiError> {
    let auth = &state.auth;
    if !auth.password_sign_in {
        return Err(password_off());
    }
    let now = state.clock.now();
    let pseudonym = ip.map(|ip| ip_pseudonym(&state.secrets.pseudonym, ip));

    if let Some(ip) = ip {
        if let Err(refused) = state.login_limiter.check(ip) {
            let p = pseudonym.clone();
            state
                .db
                .run(move |conn| {
                    Ok(audit::record(
                        conn,
                        audit::Entry {
                            kind: kind::LOGIN_RATE_LIMITED,
                            ip_pseudonym: p.as_deref(),
                            ..Default::default()
                        },
                        now.naive_utc(),
                    )?)
                })
                .await?;
            return Err(match refused {
                Refused::Wait(wait) => ApiError::too_many_requests(
                    wait.as_secs() + 1,
                    "Too many sign-in attempts from this address; wait before trying again.",
                ),
                Refused::Full => StaffError::HashingBusy.into(),
            });
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
            .run(move |conn| Ok(accounts::find_by_email(conn, &lookup)?))
            .await?
    };

    // Real and unknown addresses go through the same lock, so that they
    // get the same answers.
    let policy = lockout::Policy::new(auth);
    // Keyed under the pseudonym key; a row written under a retired one
    // is carried over, so that a rotation lifts no lock.
    let mut keys = lockout::keys_of(state.secrets.pseudonym_keys(), &email);
    let key = keys.remove(0);
    let account_id = account.as_ref().map(|r| r.id.clone());
    let link = unlock_token.filter(|t| lockout::is_link_token(t));
    let admission = state
        .db
        .run(move |conn| {
            Ok(lockout::admit_carrying(
                conn,
                &key,
                &keys,
                account_id.as_deref(),
                link.as_deref(),
                now.naive_utc(),
                &policy,
            )?)
        })
        .await?;
    let ticket = match admission {
        Admission::Check(ticket) => ticket,
        Admission::Refused { retry_after_secs } => {
            let (tenant, actor) = account
                .as_ref()
                .map(|r| (r.tenant_id.clone(), Some(r.id.clone())))
                .unwrap_or_default();
            let p = pseudonym.clone();
            state
                .db
                .run(move |conn| {
                    Ok(audit::record(
                        conn,
                        audit::Entry {
                            tenant_id: tenant.as_deref(),
                            kind: kind::LOGIN_LOCKED,
                            actor_id: actor.as_deref(),
                            ip_pseudonym: p.as_deref(),
                            ..Default::default()
                        },
                        now.naive_utc(),
                    )?)
                })
                .await?;
            return Err(locked(retry_after_secs));
        }
    };

    let hash = account.as_ref().map(|r| r.password_hash.clone());
    let valid = match state.hasher.verify(password, hash).await {
        Ok(valid) => valid,
        Err(e) => {
            // Not checked: the slot goes back.
            let t = ticket.clone();
            let settled = state
                .db
                .run(move |conn| {
                    Ok(lockout::settle(
                        conn,
                        &t,
                        Outcome::NotChecked,
                        now.naive_utc(),
                        &policy,
                    )?)
                })
                .await;
            if let Err(failed) = settled {
                tracing::warn!(error = %failed.detail, "sign-in slot not given back");
            }
            return Err(e.into());
        }
    };
    let enabled = account.as_ref().is_some_and(|r| !r.disabled);

    if !(valid && enabled) {
        let reason = match (&account, valid) {
            (None, _) => "unknown_account",
            (Some(_), true) => "disabled",
            (Some(_), false) => "wrong_password",
        };
        let (app, p) = (state.clone(), pseudonym.clone());
        let at = now.naive_utc();
        state
            .db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    let settled = lockout::settle(conn, &ticket, Outcome::Failed, at, &policy)?;
                    let mut link_sent = false;
                    if let Some(row) = &account {
                        if settled.locked_until.is_some() {
                            accounts::show_lock(conn, &row.id, settled.locked_until)?;
                        }
                        if let (Some(link), false) = (&settled.link, row.disabled) {
                            send_unlock_link(conn, &app, row, link, at)?;
                            link_sent = true;
                        }
                    }
                    let mut detail = serde_json::json!({"reason": reason});
                    if let Some(until) = settled.locked_until {
                        detail["locked_until"] = serde_json::json!(until.and_utc());
                        detail["unlock_link_sent"] = serde_json::json!(link_sent);
                    }
                    Ok(audit::record(
                        conn,
                        audit::Entry {
                            tenant_id: account.as_ref().and_then(|r| r.tenant_id.as_deref()),
                            kind: kind::LOGIN_FAILURE,
                            actor_id: account.as_ref().map(|r| r.id.as_str()),
                            ip_pseudonym: p.as_deref(),
                            detail: Some(detail),
                            ..Default::default()
                        },
                        at,
                    )?)
                })
            })
            .await?;
        return Err(invalid_credentials());
    }
    let Some(row) = account else {
        return Err(invalid_credentials());
    };

    let (signed, jti) = issue(state, &row, now)?;
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let at = now.naive_utc();
                let settled = lockout::settle(conn, &ticket, Outcome::Succeeded, at, &policy)?;
                if settled.lifted {
                    accounts::show_lock(conn, &row.id, None)?;
                }
                Ok(audit::record(
                    conn,
                    audit::Entry {
                        tenant_id: row.tenant_id.as_deref(),
                        kind: kind::LOGIN_SUCCESS,
                        actor_id: Some(&row.id),
                        ip_pseudonym: pseudonym.as_deref(),
                        detail: Some(serde_json::json!({"jti": jti, "unlocked": settled.lifted})),
                        ..Default::default()
                    },
                    at,
                )?)
            })
        })
        .await?;
    Ok(signed)
}

/// The token of an account just signed in, and its id (`jti`), which the
/// journal's entry of the sign-in names.
pub(super) fn issue(
    state: &StaffService,
    row: &StaffRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(SignedIn, String), ApiError> {
    let lifetime = state.auth.token_lifetime_secs;
    let claims = Claims {
        iss: token::ISSUER.into(),
        sub: row.id.clone(),
        tenant: state.tenants.slug_of(row.tenant_id.as_deref()),
        role: Role::parse(&row.role).unwrap_or(Role::Dpo).as_str().into(),
        gen: row.token_generation,
        jti: uuid::Uuid::now_v7().to_string(),
        iat: now.timestamp(),
        exp: now.timestamp() + lifetime as i64,
    };
    let access_token = token::issue(&state.secrets.jwt, &claims)?;
    let signed = SignedIn {
        access_token,
        expires_in: lifetime,
    };
    Ok((signed, claims.jti))
}

/// Queues the unlock link to the locked account's own address, in the
/// transaction that set the lock.
fn send_unlock_link(
    conn: &mut DbConnection,
    state: &StaffService,
    row: &StaffRow,
    token: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    let auth = &state.auth;
    let tenant = row
        .tenant_id
        .as_deref()
        .and_then(|id| state.tenants.by_id(id));
    let link = format!(
        "{}/console/login?unlock={token}",
        state.server.public_url.trim_end_matches('/')
    );
    let mut ctx = serde_json::json!({
        "link": link,
        "minutes": auth.unlock_link_minutes,
        "attempts": auth.unlock_link_attempts,
        "lock_minutes": auth.lockout_minutes,
    });
    if tenant.is_none() {
        // A platform admin: the platform signs.
        ctx["tenant_name"] = "Guichet".into();
        ctx["dpo_email"] = state.mail.from.email.to_string().into();
        ctx["postal_address"] = "".into();
    }
    let letter = Letter {
        tenant: tenant.as_deref(),
        locale: tenant.as_ref().map_or(Locale::Fr, |t| t.config.locale),
        to: &row.email,
        template: Template::UnlockLink,
    };
    state.mail.enqueue(conn, letter, ctx, now)?;
    Ok(())
}
