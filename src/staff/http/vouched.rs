//! Staff signed in through the instance's identity provider
//! (`[auth.oidc]`): the provider vouches for a verified e-mail address, the
//! account that has it must exist and be enabled, and it gets the same
//! token as a password sign-in (so the same session, expiry, generation
//! and revocation rules) and the same journal entries, which say
//! `"method": "oidc"`. No password is involved: no lock per address.

use std::net::IpAddr;

use crate::audit::{self, kind};
use crate::error::ApiError;
use crate::privacy::ip_pseudonym;
use crate::staff::accounts;
use crate::staff::StaffService;

use super::login::{issue, SignedIn};

/// What the provider said of the person.
pub struct Vouched<'a> {
    pub email: Option<&'a str>,
    pub email_verified: bool,
}

/// Why a sign-in through the provider was refused: the journal's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The provider said no verified e-mail address.
    EmailNotVerified,
    /// No account has the address.
    UnknownAccount,
    /// The account is disabled.
    Disabled,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::EmailNotVerified => "email_not_verified",
            Self::UnknownAccount => "unknown_account",
            Self::Disabled => "disabled",
        }
    }
}

/// Signs in the account whose address the provider vouched for; every
/// attempt is journaled. `Ok(Err(_))`: refused, and journaled as such.
pub async fn sign_in_vouched(
    state: &StaffService,
    ip: Option<IpAddr>,
    vouched: Vouched<'_>,
) -> Result<Result<SignedIn, Refusal>, ApiError> {
    let now = state.clock.now();
    let email = match vouched.email {
        Some(e) if vouched.email_verified && !e.chars().any(char::is_control) => e.to_owned(),
        _ => {
            journal_failure(state, ip, Refusal::EmailNotVerified.code()).await?;
            return Ok(Err(Refusal::EmailNotVerified));
        }
    };
    let account = state
        .db
        .run(move |conn| Ok(accounts::find_by_email(conn, &email)?))
        .await?;
    let row = match account {
        Some(row) if !row.disabled => row,
        other => {
            let refusal = if other.is_some() {
                Refusal::Disabled
            } else {
                Refusal::UnknownAccount
            };
            let who = other.map(|r| (r.tenant_id, r.id));
            record(state, ip, kind::LOGIN_FAILURE, who, failure(refusal.code())).await?;
            return Ok(Err(refusal));
        }
    };
    let (signed, jti) = issue(state, &row, now)?;
    let detail = serde_json::json!({"jti": jti, "method": "oidc"});
    let who = Some((row.tenant_id, row.id));
    record(state, ip, kind::LOGIN_SUCCESS, who, detail).await?;
    Ok(Ok(signed))
}

/// Journals a sign-in through the provider that failed before any account
/// was known (the provider's answer refused: `reason` is its code).
pub async fn journal_failure(
    state: &StaffService,
    ip: Option<IpAddr>,
    reason: &str,
) -> Result<(), ApiError> {
    record(state, ip, kind::LOGIN_FAILURE, None, failure(reason)).await
}

fn failure(reason: &str) -> serde_json::Value {
    serde_json::json!({"reason": reason, "method": "oidc"})
}

/// One entry of the journal, for the account `who` (tenant, id) if known.
async fn record(
    state: &StaffService,
    ip: Option<IpAddr>,
    what: &'static str,
    who: Option<(Option<String>, String)>,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let now = state.clock.now().naive_utc();
    let pseudonym = ip.map(|ip| ip_pseudonym(&state.secrets.pseudonym, ip));
    state
        .db
        .run(move |conn| {
            let (tenant, actor) = who.unzip();
            Ok(audit::record(
                conn,
                audit::Entry {
                    tenant_id: tenant.flatten().as_deref(),
                    kind: what,
                    actor_id: actor.as_deref(),
                    ip_pseudonym: pseudonym.as_deref(),
                    detail: Some(detail),
                    ..Default::default()
                },
                now,
            )?)
        })
        .await?;
    Ok(())
}
