//! The keys given in configuration (or left to be generated).

use serde::Deserialize;

/// Keys, each 32 bytes in standard base64. Any left unset is generated once
/// under `storage.data_dir` — refused with `GUICHET_ENV=production`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// Signs staff session tokens (HS256).
    pub jwt: Option<String>,
    /// Keys the pseudonyms of IP addresses and e-mail addresses.
    pub pseudonym: Option<String>,
    /// Seed of the Ed25519 key that signs consent receipts.
    pub receipt: Option<String>,
    /// Encrypts identity documents at rest.
    pub document: Option<String>,
    /// Former document keys, still able to decrypt (key rotation).
    #[serde(default)]
    pub document_retired: Vec<String>,
    /// Former pseudonym keys: records hashed under them (the suppression
    /// list, requests' e-mail pseudonyms) still match after a rotation.
    #[serde(default)]
    pub pseudonym_retired: Vec<String>,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
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
