//! Keys: taken from configuration, or generated once into
//! `{data_dir}/secrets.toml` (mode 0600) and reused on every later start.
//! With `GUICHET_ENV=production` a generated key is refused: several
//! instances must share the same keys, and operators must own them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::config::{Environment, SecretSettings};

pub const KEY_LEN: usize = 32;
const NAMES: [&str; 4] = ["jwt", "pseudonym", "receipt", "document"];

/// A 32-byte key. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

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
    /// Names of the keys that came from the generated file.
    pub generated: Vec<&'static str>,
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
            match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
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
        if !missing.is_empty() {
            let stored = load_or_create(&data_dir.join("secrets.toml"))?;
            for name in &missing {
                keys.insert(name, stored[name].clone());
            }
        }
        let take = |name: &str| keys.get(name).cloned().expect("every key is set above");
        Ok(Self {
            jwt: take("jwt"),
            pseudonym: take("pseudonym"),
            receipt: take("receipt"),
            document: take("document"),
            document_retired: configured
                .document_retired
                .iter()
                .map(|v| decode(v.trim()).ok_or(SecretsError::Invalid("document_retired")))
                .collect::<Result<_, _>>()?,
            generated: missing,
        })
    }
}

fn decode(value: &str) -> Option<Key> {
    let bytes = STANDARD.decode(value).ok()?;
    Some(Key(bytes.try_into().ok()?))
}

fn random_key() -> Key {
    let mut bytes = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut bytes);
    Key(bytes)
}

/// Reads the generated keys, creating the file (0600, never overwritten)
/// with fresh ones — and any one missing from it — when needed.
fn load_or_create(path: &Path) -> Result<BTreeMap<&'static str, Key>, SecretsError> {
    let io = |source| SecretsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut stored: BTreeMap<&'static str, Key> = BTreeMap::new();
    if path.exists() {
        let corrupt = |why: String| SecretsError::Corrupt {
            path: path.to_owned(),
            why,
        };
        let table: BTreeMap<String, String> = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| corrupt(e.to_string()))?;
        for name in NAMES {
            if let Some(v) = table.get(name) {
                let key = decode(v).ok_or_else(|| {
                    corrupt(format!("`{name}` is not a {KEY_LEN}-byte base64 key"))
                })?;
                stored.insert(name, key);
            }
        }
    }
    if NAMES.iter().all(|n| stored.contains_key(n)) {
        return Ok(stored);
    }
    let replace = path.exists();
    for name in NAMES {
        stored.entry(name).or_insert_with(random_key);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text = String::from(
        "# Generated by guichet on first start. Keep private, keep backed up:\n\
         # losing `document` makes stored identity documents unreadable.\n",
    );
    for (name, key) in &stored {
        text.push_str(&format!("{name} = \"{}\"\n", STANDARD.encode(key.bytes())));
    }
    match write_private(path, text.as_bytes(), replace) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated secrets");
            Ok(stored)
        }
        // Another process starting at the same moment wrote it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
        Err(e) => Err(io(e)),
    }
}

/// Writes a complete file created 0600 beside `path`, then puts it in
/// place: replacing the old one, or only if there is none yet.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    let placed = if replace {
        std::fs::rename(&tmp, path)
    } else {
        std::fs::hard_link(&tmp, path)
    };
    let _ = std::fs::remove_file(&tmp);
    placed
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.toml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_keys_win_and_production_refuses_generated_ones() {
        let dir = tempfile::tempdir().unwrap();
        let key = STANDARD.encode([7u8; KEY_LEN]);
        let configured = SecretSettings {
            jwt: Some(key.clone()),
            ..Default::default()
        };
        let s = Secrets::load(&configured, dir.path(), &Environment::Development).unwrap();
        assert_eq!(s.jwt.bytes(), &[7u8; KEY_LEN]);
        assert!(!s.generated.contains(&"jwt"));

        let err = Secrets::load(&configured, dir.path(), &Environment::Production).unwrap_err();
        assert!(err.to_string().contains("`secrets.pseudonym`"), "{err}");

        let all = SecretSettings {
            jwt: Some(key.clone()),
            pseudonym: Some(key.clone()),
            receipt: Some(key.clone()),
            document: Some(key),
            document_retired: Vec::new(),
        };
        let s = Secrets::load(&all, dir.path(), &Environment::Production).unwrap();
        assert!(s.generated.is_empty());
    }

    #[test]
    fn a_short_key_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let configured = SecretSettings {
            receipt: Some(STANDARD.encode([1u8; 16])),
            ..Default::default()
        };
        let err = Secrets::load(&configured, dir.path(), &Environment::Development).unwrap_err();
        assert!(err.to_string().contains("`secrets.receipt`"), "{err}");
    }
}
