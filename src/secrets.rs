//! Keys: taken from configuration, or generated once into
//! `{data_dir}/secrets.toml` (mode 0600) and reused on every later start.
//! With `GUICHET_ENV=production` a generated key is refused: several
//! instances must share the same keys, and operators must own them.
//!
//! The document and pseudonym keys can be rotated: a retired key stays
//! listed (`secrets.document_retired`, `secrets.pseudonym_retired`) so that
//! what it encrypted can still be read and what it hashed still matched.
//! `guichet secrets rotate --pseudonym` rotates the generated pseudonym key
//! in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::config::{Environment, SecretSettings};

mod generated;

use generated::load_or_create;
pub use generated::{backup_text, place_backup, rotate_pseudonym};

pub const KEY_LEN: usize = 32;
const NAMES: [&str; 4] = ["jwt", "pseudonym", "receipt", "document"];

/// A 32-byte key. Its `Debug` never shows it, and its bytes are wiped
/// when it is dropped.
pub struct Key(SecretBox<[u8; KEY_LEN]>);

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.bytes())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct Secrets {
    pub jwt: Key,
    pub pseudonym: Key,
    pub receipt: Key,
    pub document: Key,
    /// Former document keys, kept to decrypt what they encrypted.
    pub document_retired: Vec<Key>,
    /// Former pseudonym keys, kept to match what they hashed.
    pub pseudonym_retired: Vec<Key>,
    /// Names of the keys that came from the generated file.
    pub generated: Vec<&'static str>,
}

impl Secrets {
    /// The pseudonym key, then each retired one: a record hashed under any
    /// of them is the same person's.
    pub fn pseudonym_keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.pseudonym).chain(&self.pseudonym_retired)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("`secrets.{0}` must be {KEY_LEN} bytes in standard base64")]
    Invalid(&'static str),
    #[error("`secrets.{0}` is not configured: production refuses generated secrets (set GUICHET__SECRETS__{1})")]
    GeneratedInProduction(&'static str, String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid secrets file: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{0} does not exist and keys are not all configured: run this with the service's configuration and data folder (storage.data_dir)")]
    NoFile(PathBuf),
    #[error("`secrets.{0}` is set in configuration, not generated: rotate it there (the new key in `secrets.{0}`, the old one first in `secrets.{0}_retired`), then restart every instance")]
    Configured(&'static str),
}

impl Secrets {
    pub fn load(
        configured: &SecretSettings,
        data_dir: &Path,
        env: &Environment,
    ) -> Result<Self, SecretsError> {
        let given = [
            &configured.jwt,
            &configured.pseudonym,
            &configured.receipt,
            &configured.document,
        ];
        let mut keys: BTreeMap<&'static str, Key> = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, value) in NAMES.iter().zip(given) {
            match value
                .as_ref()
                .map(|v| v.expose_secret().trim())
                .filter(|v| !v.is_empty())
            {
                Some(v) => {
                    keys.insert(name, decode(v).ok_or(SecretsError::Invalid(name))?);
                }
                None => missing.push(*name),
            }
        }
        if let Some(name) = missing.first() {
            if env.is_production() {
                return Err(SecretsError::GeneratedInProduction(
                    name,
                    name.to_uppercase(),
                ));
            }
        }
        let mut pseudonym_retired = decode_all(&configured.pseudonym_retired, "pseudonym_retired")?;
        let mut document_retired = decode_all(&configured.document_retired, "document_retired")?;
        if !missing.is_empty() {
            let stored = load_or_create(&data_dir.join("secrets.toml"))?;
            for name in &missing {
                keys.insert(name, stored.keys[name].clone());
            }
            // The file's retired pseudonym keys go with the file's key.
            if missing.contains(&"pseudonym") {
                pseudonym_retired.extend(stored.pseudonym_retired);
            }
            if missing.contains(&"document") {
                document_retired.extend(stored.document_retired);
            }
        }
        let take = |name: &str| keys.get(name).cloned().expect("every key is set above");
        Ok(Self {
            jwt: take("jwt"),
            pseudonym: take("pseudonym"),
            receipt: take("receipt"),
            document: take("document"),
            document_retired,
            pseudonym_retired,
            generated: missing,
        })
    }
}

impl Secrets {
    /// The keys in effect, as `load` finds them, never generating any: a
    /// copy of the keys (a backup) must be of those the service uses, and a
    /// missing file then means the wrong data folder.
    pub fn load_existing(
        configured: &SecretSettings,
        data_dir: &Path,
        env: &Environment,
    ) -> Result<Self, SecretsError> {
        let path = data_dir.join("secrets.toml");
        let all_configured = [
            &configured.jwt,
            &configured.pseudonym,
            &configured.receipt,
            &configured.document,
        ]
        .iter()
        .all(|v| {
            v.as_ref()
                .is_some_and(|v| !v.expose_secret().trim().is_empty())
        });
        if !all_configured && !path.exists() {
            return Err(SecretsError::NoFile(path));
        }
        Self::load(configured, data_dir, env)
    }
}

fn decode_all(values: &[SecretString], name: &'static str) -> Result<Vec<Key>, SecretsError> {
    values
        .iter()
        .map(|v| decode(v.expose_secret().trim()).ok_or(SecretsError::Invalid(name)))
        .collect()
}

fn decode(value: &str) -> Option<Key> {
    let bytes = STANDARD.decode(value).ok()?;
    Some(Key::from_bytes(bytes.try_into().ok()?))
}

fn random_key() -> Key {
    let mut bytes = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut bytes);
    Key::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment::Development;
        let a = Secrets::load(&SecretSettings::default(), dir.path(), &env).unwrap();
        let b = Secrets::load(&SecretSettings::default(), dir.path(), &env).unwrap();
        assert_eq!(a.jwt, b.jwt);
        assert_eq!(a.document, b.document);
        assert_ne!(a.jwt, a.pseudonym);
        assert_eq!(a.generated.len(), 4);
        assert_eq!(mode(&dir.path().join("secrets.toml")), 0o600);
    }

    #[test]
    fn configured_keys_win_and_production_refuses_generated_ones() {
        let dir = tempfile::tempdir().unwrap();
        let key = STANDARD.encode([7u8; KEY_LEN]);
        let configured = SecretSettings {
            jwt: Some(key.clone().into()),
            ..Default::default()
        };
        let s = Secrets::load(&configured, dir.path(), &Environment::Development).unwrap();
        assert_eq!(s.jwt.bytes(), &[7u8; KEY_LEN]);
        assert!(!s.generated.contains(&"jwt"));

        let err = Secrets::load(&configured, dir.path(), &Environment::Production).unwrap_err();
        assert!(err.to_string().contains("`secrets.pseudonym`"), "{err}");

        let all = SecretSettings {
            jwt: Some(key.clone().into()),
            pseudonym: Some(key.clone().into()),
            receipt: Some(key.clone().into()),
            document: Some(key.into()),
            ..Default::default()
        };
        let s = Secrets::load(&all, dir.path(), &Environment::Production).unwrap();
        assert!(s.generated.is_empty());
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn rotating_the_pseudonym_key_retires_the_old_one_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment::Development;
        let none = SecretSettings::default();
        let before = Secrets::load(&none, dir.path(), &env).unwrap();
        assert!(before.pseudonym_retired.is_empty());

        let path = rotate_pseudonym(&none, dir.path()).unwrap();
        assert_eq!(mode(&path), 0o600);
        let after = Secrets::load(&none, dir.path(), &env).unwrap();
        assert_ne!(after.pseudonym, before.pseudonym);
        assert_eq!(after.pseudonym_retired, vec![before.pseudonym.clone()]);
        assert_eq!(
            (&after.jwt, &after.document),
            (&before.jwt, &before.document)
        );
        let keys: Vec<&Key> = after.pseudonym_keys().collect();
        assert_eq!(keys, vec![&after.pseudonym, &before.pseudonym]);

        rotate_pseudonym(&none, dir.path()).unwrap();
        let again = Secrets::load(&none, dir.path(), &env).unwrap();
        assert_eq!(
            again.pseudonym_retired,
            vec![after.pseudonym.clone(), before.pseudonym.clone()],
            "newest first"
        );
        assert_eq!(mode(&path), 0o600);

        // Retired keys from configuration count too.
        let configured = SecretSettings {
            pseudonym_retired: vec![STANDARD.encode([9u8; KEY_LEN]).into()],
            ..Default::default()
        };
        let s = Secrets::load(&configured, dir.path(), &env).unwrap();
        assert_eq!(s.pseudonym_retired.len(), 3);
        assert!(s
            .pseudonym_retired
            .contains(&Key::from_bytes([9u8; KEY_LEN])));
    }

    #[test]
    fn a_configured_pseudonym_key_is_rotated_where_it_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let configured = SecretSettings {
            pseudonym: Some(STANDARD.encode([3u8; KEY_LEN]).into()),
            ..Default::default()
        };
        let err = rotate_pseudonym(&configured, dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("secrets.pseudonym_retired"),
            "{err}"
        );
        assert!(!dir.path().join("secrets.toml").exists());
        // A file's retired keys belong to the file's key, not to another.
        rotate_pseudonym(&SecretSettings::default(), dir.path()).unwrap();
        let s = Secrets::load(&configured, dir.path(), &Environment::Development).unwrap();
        assert!(s.pseudonym_retired.is_empty());
    }

    #[test]
    fn a_backup_of_the_keys_restores_every_one_and_replaces_none() {
        let dir = tempfile::tempdir().unwrap();
        let env = Environment::Development;
        let none = SecretSettings::default();
        assert!(matches!(
            Secrets::load_existing(&none, dir.path(), &env),
            Err(SecretsError::NoFile(_))
        ));
        assert!(
            !dir.path().join("secrets.toml").exists(),
            "nothing generated"
        );
        let configured = SecretSettings {
            receipt: Some(STANDARD.encode([5u8; KEY_LEN]).into()),
            document_retired: vec![STANDARD.encode([6u8; KEY_LEN]).into()],
            ..Default::default()
        };
        Secrets::load(&none, dir.path(), &env).unwrap();
        let taken = Secrets::load_existing(&configured, dir.path(), &env).unwrap();
        let text = backup_text(&taken);

        let elsewhere = tempfile::tempdir().unwrap();
        let data = elsewhere.path().join("data");
        let path = place_backup(&data, text.as_bytes()).unwrap();
        assert_eq!(mode(&path), 0o600);
        let restored = Secrets::load(&none, &data, &env).unwrap();
        assert_eq!(restored.receipt, Key::from_bytes([5u8; KEY_LEN]));
        assert_eq!(
            (&restored.jwt, &restored.pseudonym, &restored.document),
            (&taken.jwt, &taken.pseudonym, &taken.document)
        );
        assert_eq!(restored.document_retired, taken.document_retired);
        // Again with the same keys: nothing to do; with others: refused.
        place_backup(&data, text.as_bytes()).unwrap();
        let err = place_backup(&data, b"jwt = \"other\"\n").unwrap_err();
        assert!(err.to_string().contains("other keys"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_short_key_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let configured = SecretSettings {
            receipt: Some(STANDARD.encode([1u8; 16]).into()),
            ..Default::default()
        };
        let err = Secrets::load(&configured, dir.path(), &Environment::Development).unwrap_err();
        assert!(err.to_string().contains("`secrets.receipt`"), "{err}");
    }
}
