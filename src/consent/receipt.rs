//! Consent receipts: compact JWS signed with Ed25519 (`alg: EdDSA`), whose
//! public key is published at `/.well-known/jwks.json` under a key id (its
//! RFC 7638 thumbprint). A banner, a citizen or an auditor can check a
//! receipt with nothing but that document.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ConsentError;
use crate::secrets::Key;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceiptClaims {
    pub iss: String,
    /// The visitor's subject id.
    pub sub: String,
    /// The consent id.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub tenant: String,
    pub policy_version: String,
    pub choices: BTreeMap<String, bool>,
    pub gpc: bool,
    /// The SHA-256 of the canonical JSON of the policy it was given under
    /// (`…/consent-policy/versions`); absent from receipts signed before
    /// it was carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
}

/// What a receipt holds besides its event's own fields: its header and
/// the claims many events share. With the event and the signature it makes
/// the receipt again, byte for byte (`assemble`): what is kept of a receipt
/// is its form (shared, `stored.rs`) and its signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceiptForm {
    /// The first part of the compact JWS, as signed.
    pub header: String,
    pub iss: String,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
}

/// A receipt's claims that are its event's own.
pub struct EventClaims {
    pub sub: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub policy_version: String,
    pub choices: BTreeMap<String, bool>,
    pub gpc: bool,
}

/// The receipt of `form`, `event` and `signature`, as it was signed.
pub fn assemble(
    form: &ReceiptForm,
    event: EventClaims,
    signature: &[u8],
) -> Result<String, serde_json::Error> {
    let claims = ReceiptClaims {
        iss: form.iss.clone(),
        sub: event.sub,
        jti: event.jti,
        iat: event.iat,
        exp: event.exp,
        tenant: form.tenant.clone(),
        policy_version: event.policy_version,
        choices: event.choices,
        gpc: event.gpc,
        policy_sha256: form.policy_sha256.clone(),
    };
    let payload = serde_json::to_vec(&claims)?;
    Ok(format!(
        "{}.{}.{}",
        form.header,
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The form and signature of a receipt, when `assemble` makes it again
/// byte for byte from them and `event`; `None` otherwise (the receipt is
/// then kept whole).
pub fn split(jws: &str, event: EventClaims) -> Option<(ReceiptForm, Vec<u8>)> {
    let mut parts = jws.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims: ReceiptClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let form = ReceiptForm {
        header: header.to_owned(),
        iss: claims.iss,
        tenant: claims.tenant,
        policy_sha256: claims.policy_sha256,
    };
    let again = assemble(&form, event, &signature).ok()?;
    (again == jws).then_some((form, signature))
}

pub struct ReceiptSigner {
    key: SigningKey,
    kid: String,
    /// `base64url(header) + "."`, the same for every receipt.
    header_prefix: String,
}

impl ReceiptSigner {
    pub fn new(seed: &Key) -> Self {
        let key = SigningKey::from_bytes(seed.bytes());
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
        let header_prefix = format!("{}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        Self {
            key,
            kid,
            header_prefix,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, claims: &ReceiptClaims) -> Result<String, ConsentError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| ConsentError::Internal(format!("receipt: {e}")))?;
        let mut jws = self.header_prefix.clone();
        jws.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = self.key.sign(jws.as_bytes());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(jws)
    }

    /// What checks its receipts: its public key alone.
    pub fn verifier(&self) -> ReceiptVerifier {
        ReceiptVerifier {
            key: self.key.verifying_key(),
        }
    }

    /// The JSON Web Key Set publishing the public key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
                "kid": self.kid,
                "use": "sig",
                "alg": "EdDSA",
            }]
        })
    }
}

/// Checks receipts with the public key, as anyone holding
/// `/.well-known/jwks.json` can.
pub struct ReceiptVerifier {
    key: ed25519_dalek::VerifyingKey,
}

impl ReceiptVerifier {
    /// The claims of a receipt whose signature the key makes; why not
    /// otherwise.
    pub fn verify(&self, jws: &str) -> Result<ReceiptClaims, &'static str> {
        let (signed, signature) = jws.rsplit_once('.').ok_or("not a compact JWS")?;
        let (_, payload) = signed.split_once('.').ok_or("not a compact JWS")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
            .ok_or("an unreadable signature")?;
        self.key
            .verify_strict(signed.as_bytes(), &signature)
            .map_err(|_| "a signature the receipt key did not make")?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| "an unreadable payload")?;
        serde_json::from_slice(&payload).map_err(|_| "an unreadable payload")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_verify_with_the_published_key_and_fail_when_tampered() {
        let signer = ReceiptSigner::new(&Key::from_bytes([5; 32]));
        let claims = ReceiptClaims {
            iss: "https://guichet.example".into(),
            sub: "s".into(),
            jti: "c".into(),
            iat: 1,
            exp: 2,
            tenant: "sevres".into(),
            policy_version: "v1".into(),
            choices: [("matomo".to_owned(), true)].into(),
            gpc: false,
            policy_sha256: Some("0".repeat(64)),
        };
        let jws = signer.sign(&claims).unwrap();
        let jwks = signer.jwks();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<ReceiptClaims>(&jws, &key, &v).unwrap();
        assert_eq!(data.claims, claims);
        assert_eq!(data.header.kid.as_deref(), Some(signer.kid()));

        let mut tampered = claims.clone();
        tampered.choices.insert("matomo".into(), false);
        let parts: Vec<&str> = jws.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap()),
            parts[2]
        );
        assert!(jsonwebtoken::decode::<ReceiptClaims>(&forged, &key, &v).is_err());

        let own = |c: &ReceiptClaims| EventClaims {
            sub: c.sub.clone(),
            jti: c.jti.clone(),
            iat: c.iat,
            exp: c.exp,
            policy_version: c.policy_version.clone(),
            choices: c.choices.clone(),
            gpc: c.gpc,
        };
        let (form, signature) = split(&jws, own(&claims)).expect("a receipt of its event");
        assert_eq!(assemble(&form, own(&claims), &signature).unwrap(), jws);
        assert!(
            split(&jws, own(&tampered)).is_none(),
            "not the event's receipt"
        );
        assert!(split("h.p.s", own(&claims)).is_none());

        let verifier = signer.verifier();
        assert_eq!(verifier.verify(&jws).unwrap(), claims);
        assert!(verifier.verify(&forged).is_err());
        let other = ReceiptSigner::new(&Key::from_bytes([6; 32])).verifier();
        assert!(other.verify(&jws).is_err());
    }
}
