//! The keys given in configuration (or left to be generated).

use secrecy::SecretString;
use serde::Deserialize;

/// Keys, each 32 bytes in standard base64. Any left unset is generated once
/// under `storage.data_dir` — refused with `GUICHET_ENV=production`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// Signs staff session tokens (HS256).
    pub jwt: Option<SecretString>,
    /// Keys the pseudonyms of IP addresses and e-mail addresses.
    pub pseudonym: Option<SecretString>,
    /// Seed of the Ed25519 key that signs consent receipts.
    pub receipt: Option<SecretString>,
    /// Encrypts identity documents at rest.
    pub document: Option<SecretString>,
    /// Former document keys, still able to decrypt (key rotation).
    #[serde(default)]
    pub document_retired: Vec<SecretString>,
    /// Former pseudonym keys: records hashed under them (the suppression
    /// list, requests' e-mail pseudonyms) still match after a rotation.
    #[serde(default)]
    pub pseudonym_retired: Vec<SecretString>,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<SecretString>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("SecretSettings")
            .field("jwt", &shown(&self.jwt))
            .field("pseudonym", &shown(&self.pseudonym))
            .field("receipt", &shown(&self.receipt))
            .field("document", &shown(&self.document))
            .field("document_retired", &self.document_retired.len())
            .field("pseudonym_retired", &self.pseudonym_retired.len())
            .finish()
    }
}
