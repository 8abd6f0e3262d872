//! Staff session tokens: HS256 JWTs carrying the user, tenant, role, the
//! account's token generation and a unique id. Expiry is checked against
//! the service's clock.

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::StaffError;
use crate::secrets::Key;

pub const ISSUER: &str = "guichet";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// Staff user id.
    pub sub: String,
    /// Slug of the user's tenant, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub role: String,
    /// The account's token generation when the token was issued: a new
    /// password or a disabled account bumps it, and the token is refused.
    /// Tokens issued before generations existed carry none, which reads 0,
    /// the generation every account started with.
    #[serde(default)]
    pub gen: i64,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

pub fn issue(key: &Key, claims: &Claims) -> Result<String, StaffError> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.bytes()),
    )
    .map_err(|e| StaffError::Signing(e.to_string()))
}

/// Accepts only HS256 tokens signed with `key`, issued by this service and
/// not expired at `now`.
pub fn verify(key: &Key, token: &str, now: DateTime<Utc>) -> Result<Claims, StaffError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
    let data = decode::<Claims>(token, &DecodingKey::from_secret(key.bytes()), &validation)
        .map_err(|_| StaffError::BadToken)?;
    let claims = data.claims;
    if claims.exp <= now.timestamp() || claims.iat > now.timestamp() + 60 {
        return Err(StaffError::BadToken);
    }
    Ok(claims)
}
