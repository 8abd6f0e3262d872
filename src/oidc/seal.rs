//! What a browser carries across the round trip to the provider (the
//! flow's state, nonce and PKCE verifier; then the identity it answered),
//! sealed: AES-256-GCM under a key derived from `secrets.jwt`, so that it
//! can be neither read nor changed, with its expiry inside.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secrets::Key;

fn cipher(key: &Key, purpose: &str) -> Aes256Gcm {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("any key length");
    mac.update(b"guichet oidc seal\0");
    mac.update(purpose.as_bytes());
    Aes256Gcm::new(&mac.finalize().into_bytes())
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    /// Seconds since 1970 after which it is refused.
    exp: i64,
    value: T,
}

/// `value`, sealed for `purpose` until `exp` (seconds since 1970).
pub fn seal<T: Serialize>(key: &Key, purpose: &str, value: &T, exp: i64) -> String {
    // Serialising plain data cannot fail.
    let plain = serde_json::to_vec(&Envelope { exp, value }).unwrap_or_default();
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher(key, purpose)
        .encrypt(&Nonce::from(nonce), plain.as_slice())
        .unwrap_or_default();
    URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
}

/// What `seal` sealed for `purpose`, if it was and has not expired at `now`.
pub fn open<T: DeserializeOwned>(key: &Key, purpose: &str, text: &str, now: i64) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    let plain = cipher(key, purpose)
        .decrypt(&Nonce::from(nonce), sealed)
        .ok()?;
    let envelope: Envelope<T> = serde_json::from_slice(&plain).ok()?;
    (envelope.exp > now).then_some(envelope.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_in_time() {
        let key = Key::from_bytes([7; 32]);
        let text = seal(&key, "flow", &"secret".to_owned(), 100);
        assert!(!text.contains("secret"));
        assert_eq!(
            open::<String>(&key, "flow", &text, 99).as_deref(),
            Some("secret")
        );
        assert_eq!(open::<String>(&key, "flow", &text, 100), None);
        assert_eq!(open::<String>(&key, "other", &text, 99), None);
        assert_eq!(
            open::<String>(&Key::from_bytes([8; 32]), "flow", &text, 99),
            None
        );
        let mut changed = text.into_bytes();
        changed[20] ^= 1;
        let changed = String::from_utf8(changed).unwrap();
        assert_eq!(open::<String>(&key, "flow", &changed, 99), None);
    }
}
