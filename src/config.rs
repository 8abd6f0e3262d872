//! Layered configuration: the embedded `config/default.toml`, then
//! `config/{GUICHET_ENV}.toml` when present, then the file named by
//! `--config`, then `GUICHET__SECTION__KEY` environment variables.
//!
//! Plain types only, one file per section: a capability reads its section
//! from here, and nothing here knows a capability.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment as EnvSource, File, FileFormat};
use serde::Deserialize;

mod auth;
mod consent;
mod database;
mod mail;
mod oidc;
mod requests;
pub mod retention;
mod secrets;
mod server;
pub mod tenants;
mod theme;
mod validate;

pub use auth::AuthSettings;
pub use consent::ConsentSettings;
pub use database::{describe_url, sqlite_path, Backend, DatabaseSettings};
pub use mail::{MailSettings, MailTransportKind, SmtpSettings, SmtpTls};
pub use oidc::OidcSettings;
pub use requests::RequestSettings;
pub use retention::{PeriodOverrides, Periods, RetentionSettings};
pub use secrets::SecretSettings;
pub use server::{
    ForwardedHeader, LimitSettings, LogFormat, LogSettings, ServerSettings, StorageSettings,
};
pub use tenants::{
    is_valid_slug, normalise_origin, ConsentPolicyConfig, Greeting, Locale, PurposeCategory,
    PurposeConfig, TenantConfig,
};
pub use theme::{Rgb, ThemeConfig, DEFAULT_ACCENT, MIN_CONTRAST};

/// The defaults compiled into the binary, so that it serves with no setup.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The demo tenants, served when a site declares none of its own and never
/// in production.
pub const DEMO_TOML: &str = include_str!("../config/demo.toml");

/// The slugs of the demo tenants.
fn demo_slugs() -> Vec<String> {
    Config::builder()
        .add_source(File::from_str(DEMO_TOML, FileFormat::Toml))
        .build()
        .and_then(|demo| demo.get_table("tenants"))
        .map(|tenants| tenants.into_keys().collect())
        .unwrap_or_default()
}

/// Deployment environment, from `GUICHET_ENV` (default `development`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
    Other(String),
}

impl Environment {
    pub fn from_env() -> Self {
        Self::parse(&std::env::var("GUICHET_ENV").unwrap_or_default())
    }

    pub fn parse(value: &str) -> Self {
        match value.trim() {
            "" | "development" => Self::Development,
            "test" => Self::Test,
            "production" => Self::Production,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
            Self::Other(name) => name,
        }
    }

    pub fn is_production(&self) -> bool {
        *self == Self::Production
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub log: LogSettings,
    pub limits: LimitSettings,
    pub mail: MailSettings,
    pub auth: AuthSettings,
    pub consent: ConsentSettings,
    pub requests: RequestSettings,
    pub retention: RetentionSettings,
    #[serde(default)]
    pub secrets: SecretSettings,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Not read from files: set from `GUICHET_ENV` by [`Settings::load`].
    #[serde(skip, default = "default_env")]
    pub env: Environment,
}

fn default_env() -> Environment {
    Environment::Development
}

/// A configuration problem, naming the key and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    fn key(key: &str, why: impl std::fmt::Display) -> Self {
        Self(format!("`{key}` {why}"))
    }
}

impl Settings {
    /// Loads the layers in order, with `extra` the `--config` file if any.
    ///
    /// The demo tenants come in, beneath the site's layers, only when those
    /// declare no tenant of their own (settings of a demo tenant adjust it)
    /// and outside production: a site's own list replaces them, never
    /// merges with them.
    pub fn load(extra: Option<&Path>) -> Result<Self, ConfigError> {
        let env = Environment::from_env();
        let raw = Self::layers(&env, extra, false)?;
        let demo = demo_slugs();
        let own = raw
            .get_table("tenants")
            .is_ok_and(|tenants| tenants.keys().any(|slug| !demo.contains(slug)));
        let raw = if own || env.is_production() {
            raw
        } else {
            // Settings of a demo tenant given by a site adjust the demo.
            Self::layers(&env, extra, true)?
        };
        let mut settings: Settings = raw
            .try_deserialize()
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.env = env;
        settings.validate()?;
        Ok(settings)
    }

    /// The layers in order: the embedded defaults, the demo tenants if
    /// asked, `config/{GUICHET_ENV}.toml`, `extra`, the environment.
    fn layers(env: &Environment, extra: Option<&Path>, demo: bool) -> Result<Config, ConfigError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if demo {
            builder = builder.add_source(File::from_str(DEMO_TOML, FileFormat::Toml));
        }
        let env_file = PathBuf::from("config").join(format!("{}.toml", env.as_str()));
        builder = builder.add_source(File::from(env_file).required(false));
        if let Some(path) = extra {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "--config {}: no such file",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path.to_path_buf()));
        }
        builder = builder.add_source(
            EnvSource::with_prefix("GUICHET")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        builder.build().map_err(|e| ConfigError(e.to_string()))
    }

    /// Only the embedded defaults with the demo tenants, as used by tests
    /// before they adjust them.
    pub fn embedded_defaults() -> Result<Self, ConfigError> {
        let raw = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from_str(DEMO_TOML, FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError(e.to_string()))?;
        let settings: Settings = raw
            .try_deserialize()
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .bind
            .parse()
            .map_err(|_| ConfigError::key("server.bind", "must be an address like 127.0.0.1:8080"))
    }

    pub fn worker_count(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// Where file mail is written.
    pub fn mail_dir(&self) -> PathBuf {
        self.storage.data_dir.join(&self.mail.file_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_serve_without_setup() {
        let s = Settings::embedded_defaults().expect("defaults are valid");
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.database.expose_url(), "sqlite://data/guichet.db");
        assert_eq!(s.storage.data_dir, PathBuf::from("data"));
        assert_eq!(s.mail.transport, MailTransportKind::File);
        assert_eq!(s.mail_dir(), PathBuf::from("data/mail"));
        let slugs: Vec<_> = s.tenants.keys().map(String::as_str).collect();
        assert_eq!(
            slugs,
            ["dunkerque", "guadeloupe", "nimes", "sevres", "valparisis"]
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut s = Settings::embedded_defaults().unwrap();
        s.database.url = "postgres://guichet:db-pass-4417@db.example/guichet".into();
        s.mail.smtp.username = Some("relay".into());
        s.mail.smtp.password = Some("smtp-pass-8823".into());
        s.secrets.jwt = Some("jwt-key-5531".into());
        s.secrets.pseudonym_retired = vec!["old-key-6612".into()];
        let shown = format!("{s:?}");
        for secret in [
            "db-pass-4417",
            "smtp-pass-8823",
            "jwt-key-5531",
            "old-key-6612",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert_eq!(
            s.database.describe(),
            "PostgreSQL at db.example:5432 (database guichet)"
        );
    }

    #[test]
    fn production_refuses_file_mail() {
        let mut s = Settings::embedded_defaults().unwrap();
        s.env = Environment::Production;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`mail.transport`"), "{err}");
    }

    #[test]
    fn invalid_bind_names_the_key() {
        let mut s = Settings::embedded_defaults().unwrap();
        s.server.bind = "localhost-8080".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`server.bind`"), "{err}");
    }

    #[test]
    fn identity_providers_are_checked_and_a_password_off_needs_one() {
        let mut s = Settings::embedded_defaults().unwrap();
        assert!(s.auth.password_sign_in, "passwords by default");
        s.auth.password_sign_in = false;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`auth.password_sign_in`"), "{err}");
        let provider: OidcSettings = serde_json::from_value(serde_json::json!({
            "issuer": "http://idp.example.org", "client_id": "guichet", "client_secret": "s",
        }))
        .unwrap();
        s.auth.oidc = Some(provider.clone());
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("`auth.oidc.issuer`"), "{err}");
        s.auth.oidc = Some(OidcSettings {
            issuer: "https://idp.example.org/realms/mairie".into(),
            ..provider.clone()
        });
        s.validate().unwrap();
        s.tenants.get_mut("sevres").unwrap().franceconnect = Some(OidcSettings {
            issuer: "https://fcp-low.integ01.dev-franceconnect.fr/api/v2".into(),
            timeout_secs: 0,
            ..provider
        });
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("`tenants.sevres.franceconnect.timeout_secs`"),
            "{err}"
        );
    }
}
