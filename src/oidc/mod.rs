//! The relying party of an OpenID Connect provider (FranceConnect, the
//! authority's provider for staff), through the `openidconnect` crate:
//! discovery, the authorisation code flow with state, nonce and PKCE, the
//! ID token checked (signature against the provider's keys, issuer,
//! audience, expiry, nonce, `acr`), the user info read as JSON or as a
//! signed JWT (as FranceConnect v2 answers it), and the address that ends
//! the provider's session.
//!
//! The provider's documents are discovered again for each step, so that a
//! change of its keys is seen at once. Nothing here knows a page: what a
//! browser carries between the steps is `Pending`, sealed by `seal`.

pub mod providers;
pub mod seal;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJsonWebKeyType, CoreJwsSigningAlgorithm, CoreUserInfoClaims,
};
use openidconnect::reqwest::header::{ACCEPT, CONTENT_TYPE};
use openidconnect::{
    AccessToken, AuthType, AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EmptyAdditionalClaims, IdTokenClaims, IssuerUrl, JwsSigningAlgorithm, LogoutRequest,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, SubjectIdentifier, TokenResponse, UserInfoUrl,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::OidcSettings;

/// Why a sign-in through the provider did not end with an identity. Each
/// has a code for the journal and the logs, never personal data.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider could not be reached or its documents read: {0}")]
    Unreachable(String),
    #[error("the provider's answer does not belong to the sign-in this browser started")]
    State,
    #[error("the sign-in was abandoned or refused at the provider: {0}")]
    Refused(String),
    #[error("the provider refused the authorisation code: {0}")]
    Exchange(String),
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
    #[error("the ID token carries no authentication level among those asked for")]
    Acr,
    #[error("the user info is not valid: {0}")]
    UserInfo(String),
}

impl OidcError {
    /// The code of the failure, for the journal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "provider_unreachable",
            Self::State => "wrong_state",
            Self::Refused(_) => "refused_at_provider",
            Self::Exchange(_) => "code_refused",
            Self::IdToken(_) => "invalid_id_token",
            Self::Acr => "missing_acr",
            Self::UserInfo(_) => "invalid_userinfo",
        }
    }
}

/// What a browser keeps between leaving for the provider and coming back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// The provider's answer to the callback address.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The provider's identifier of the person (`sub`).
    pub subject: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub acr: Option<String>,
    /// The ID token as received, the hint that ends the provider's session.
    pub id_token: String,
}

/// One provider, as one client of it, with the address it answers to.
pub struct RelyingParty {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: openidconnect::reqwest::Client,
}

type Metadata = ProviderMetadataWithLogout;

/// The client of a discovered provider: its authorisation endpoint known,
/// its token and user info endpoints as the provider said.
type DiscoveredClient = openidconnect::Client<
    EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn unreachable(e: impl std::fmt::Display) -> OidcError {
    OidcError::Unreachable(e.to_string())
}

impl RelyingParty {
    /// A relying party answering at `redirect` (an absolute URL).
    pub fn new(settings: &OidcSettings, redirect: String) -> Result<Self, String> {
        let redirect = RedirectUrl::new(redirect).map_err(|e| e.to_string())?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Redirects are not followed: SSRF (the crate's advice).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(settings.timeout_secs))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            settings: settings.clone(),
            redirect,
            http,
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    async fn metadata(&self) -> Result<Metadata, OidcError> {
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(unreachable)?;
        Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| unreachable(error_chain(&e)))
    }

    /// The client of the discovered provider, authenticating as the
    /// provider says it accepts (HTTP Basic, else in the body).
    fn client(&self, metadata: Metadata) -> DiscoveredClient {
        let basic = metadata
            .token_endpoint_auth_methods_supported()
            .is_none_or(|m| m.contains(&CoreClientAuthMethod::ClientSecretBasic));
        let secret = ClientSecret::new(self.settings.client_secret.expose_secret().to_owned());
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(secret),
        )
        .set_redirect_uri(self.redirect.clone())
        .set_auth_type(if basic {
            AuthType::BasicAuth
        } else {
            AuthType::RequestBody
        })
    }

    /// Where to send the browser, and what it must bring back.
    pub async fn start(&self) -> Result<(String, Pending), OidcError> {
        let client = self.client(self.metadata().await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for acr in &self.settings.acr_values {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        };
        Ok((url.to_string(), pending))
    }

    /// Ends the flow `pending` started, with the provider's answer: the
    /// code exchanged (with the PKCE verifier), the ID token checked at
    /// `now`, the user info read for the same subject.
    pub async fn finish(
        &self,
        pending: &Pending,
        answer: &Callback,
        now: DateTime<Utc>,
    ) -> Result<Identity, OidcError> {
        let state_ok = answer
            .state
            .as_deref()
            .is_some_and(|s| same(s, &pending.state));
        if !state_ok {
            return Err(OidcError::State);
        }
        if let Some(error) = &answer.error {
            return Err(OidcError::Refused(printable(error)));
        }
        let Some(code) = &answer.code else {
            return Err(OidcError::Refused("no code".into()));
        };
        let metadata = self.metadata().await?;
        let user_info_at = UserInfoAt {
            url: metadata.userinfo_endpoint().cloned(),
            keys: metadata.jwks().clone(),
            algorithms: user_info_algorithms(metadata.userinfo_signing_alg_values_supported()),
            issuer: metadata.issuer().clone(),
        };
        let client = self.client(metadata);
        let token = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::Request(e) => unreachable(error_chain(&e)),
                e => OidcError::Exchange(error_chain(&e)),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the token answer holds none".into()))?;
        let acrs = self.settings.acr_values.clone();
        let verifier = client
            .id_token_verifier()
            .set_time_fn(move || now)
            .set_auth_context_verifier_fn(move |acr| {
                if acrs.is_empty() {
                    return Ok(());
                }
                match acr {
                    Some(acr) if acrs.iter().any(|a| a == acr.as_str()) => Ok(()),
                    _ => Err("acr".into()),
                }
            });
        let claims: &IdTokenClaims<EmptyAdditionalClaims, CoreGenderClaim> = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| match e {
                openidconnect::ClaimsVerificationError::InvalidAuthContext(_) => OidcError::Acr,
                e => OidcError::IdToken(e.to_string()),
            })?;
        let user_info = self
            .user_info(user_info_at, token.access_token(), claims.subject())
            .await?;
        Ok(Identity {
            subject: claims.subject().as_str().to_owned(),
            given_name: text(user_info.given_name()).or_else(|| text(claims.given_name())),
            family_name: text(user_info.family_name()).or_else(|| text(claims.family_name())),
            email: user_info
                .email()
                .or(claims.email())
                .map(|e| e.as_str().to_owned()),
            email_verified: user_info
                .email_verified()
                .or(claims.email_verified())
                .unwrap_or(false),
            acr: claims.auth_context_ref().map(|a| a.as_str().to_owned()),
            id_token: id_token.to_string(),
        })
    }

    /// The user info of the person the access token is for, as JSON or as
    /// a JWT signed with one of the provider's keys and algorithms, for
    /// `subject` alone. Read here rather than by the crate's request, which
    /// accepts a signed answer in RS256 only, where FranceConnect may sign
    /// in ES256.
    async fn user_info(
        &self,
        at: UserInfoAt,
        token: &AccessToken,
        subject: &SubjectIdentifier,
    ) -> Result<CoreUserInfoClaims, OidcError> {
        let bad = |why: String| OidcError::UserInfo(why);
        let url = at
            .url
            .clone()
            .ok_or_else(|| bad("the provider names no user info endpoint".into()))?;
        let answer = self
            .http
            .get(url.url().clone())
            .bearer_auth(token.secret())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        if !answer.status().is_success() {
            return Err(bad(format!("the provider answered {}", answer.status())));
        }
        let essence = answer
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let body = answer
            .bytes()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        match essence.as_str() {
            "application/json" => {
                CoreUserInfoClaims::from_json::<std::io::Error>(&body, Some(subject))
                    .map_err(|e| bad(error_chain(&e)))
            }
            "application/jwt" => {
                let jwt = std::str::from_utf8(&body)
                    .map_err(|_| bad("the signed user info is not text".into()))?;
                let claims = signed_claims(jwt.trim(), &at, &self.settings.client_id, subject)?;
                CoreUserInfoClaims::from_json::<std::io::Error>(&claims, Some(subject))
                    .map_err(|e| bad(error_chain(&e)))
            }
            other => Err(bad(format!("an answer of type `{}`", printable(other)))),
        }
    }

    /// The address that ends the person's session at the provider, back to
    /// `back` with `state`; `None` when the provider names no such address.
    pub async fn end_session_url(
        &self,
        id_token: &str,
        back: &str,
        state: &str,
    ) -> Result<Option<String>, OidcError> {
        let metadata = self.metadata().await?;
        let Some(end) = metadata.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let back = PostLogoutRedirectUrl::new(back.to_owned()).map_err(unreachable)?;
        let hint: openidconnect::core::CoreIdToken = id_token
            .parse()
            .map_err(|e: serde_json::Error| OidcError::IdToken(e.to_string()))?;
        let url = LogoutRequest::from(end)
            .set_id_token_hint(&hint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()))
            .set_post_logout_redirect_uri(back)
            .set_state(CsrfToken::new(state.to_owned()))
            .http_get_url();
        Ok(Some(url.to_string()))
    }
}

/// Where and how the user info is read, from the provider's documents.
struct UserInfoAt {
    url: Option<UserInfoUrl>,
    keys: CoreJsonWebKeySet,
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    issuer: IssuerUrl,
}

/// The claims of a user info signed as a JWT, checked: signed by one of
/// the provider's published keys with an algorithm it lists, issued by
/// it, for this client, unexpired, about `subject`. Checked by the
/// `jsonwebtoken` crate, as the `openidconnect` crate's own check of a
/// signed user info takes RS256 alone.
fn signed_claims(
    jwt: &str,
    at: &UserInfoAt,
    client_id: &str,
    subject: &SubjectIdentifier,
) -> Result<Vec<u8>, OidcError> {
    let bad = |why: &str| OidcError::UserInfo(why.to_owned());
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| bad("an unreadable JWT header"))?;
    serde_json::to_value(header.alg)
        .ok()
        .and_then(|v| serde_json::from_value::<CoreJwsSigningAlgorithm>(v).ok())
        .filter(|a| at.algorithms.contains(a))
        .ok_or_else(|| bad("signed with an algorithm the provider does not list"))?;
    let keys: jsonwebtoken::jwk::JwkSet = serde_json::to_value(&at.keys)
        .and_then(serde_json::from_value)
        .map_err(|_| bad("the provider's keys are unreadable"))?;
    let key = keys
        .keys
        .iter()
        .find(|k| match &header.kid {
            Some(kid) => k.common.key_id.as_deref() == Some(kid.as_str()),
            None => keys.keys.len() == 1,
        })
        .ok_or_else(|| bad("signed with a key the provider does not publish"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(key)
        .map_err(|_| bad("the provider's key is unreadable"))?;
    let mut rules = jsonwebtoken::Validation::new(header.alg);
    rules.set_issuer(&[at.issuer.as_str()]);
    rules.set_audience(&[client_id]);
    rules.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &rules)
        .map_err(|e| OidcError::UserInfo(format!("the signed user info: {e}")))?
        .claims;
    if claims.get("sub").and_then(|s| s.as_str()) != Some(subject.as_str()) {
        return Err(bad("the signed user info is about another person"));
    }
    serde_json::to_vec(&claims).map_err(|_| bad("unreadable claims"))
}

/// The algorithms a signed user info may use: those the provider says it
/// signs with, public-key ones only (a shared secret or none proves
/// nothing here), RS256 when it says none (the standard's default).
fn user_info_algorithms(
    said: Option<&Vec<CoreJwsSigningAlgorithm>>,
) -> Vec<CoreJwsSigningAlgorithm> {
    let public: Vec<_> = said
        .into_iter()
        .flatten()
        .filter(|a| matches!(a.key_type(), Some(k) if k != CoreJsonWebKeyType::Symmetric))
        .cloned()
        .collect();
    if public.is_empty() {
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    } else {
        public
    }
}

/// A claim in no particular language.
fn text<T: std::ops::Deref<Target = String>>(
    claim: Option<&openidconnect::LocalizedClaim<T>>,
) -> Option<String> {
    claim.and_then(|c| c.get(None)).map(|v| v.to_string())
}

/// A fresh random value for a state of our own (the way back from logout).
pub fn random_state() -> String {
    CsrfToken::new_random().secret().clone()
}

/// Compares in constant time.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error code from the provider, kept short and printable.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
