//! An OpenID Connect provider Guichet signs people in with: FranceConnect
//! for a tenant's citizens (`[tenants.SLUG.franceconnect]`), the
//! authority's provider for staff (`[auth.oidc]`).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer: its discovery document is
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The scopes asked for; `openid` is always among them.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The authentication levels asked for (`eidas1` at FranceConnect); when
    /// set, an ID token must carry one of them as its `acr`.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Seconds Guichet waits for each answer of the provider.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Minutes a person may take at the provider between leaving Guichet
    /// and coming back.
    #[serde(default = "default_flow_minutes")]
    pub flow_minutes: u32,
    /// Minutes a citizen's form keeps the identity the provider answered.
    #[serde(default = "default_identity_minutes")]
    pub identity_minutes: u32,
    /// Staff: whether the provider must say the e-mail address verified
    /// (`email_verified: true`). Off only for a provider that vouches for
    /// every address it gives and does not say so (ProConnect).
    #[serde(default = "default_true")]
    pub require_email_verified: bool,
}

fn default_true() -> bool {
    true
}

fn default_identity_minutes() -> u32 {
    60
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into()]
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_flow_minutes() -> u32 {
    15
}

impl OidcSettings {
    /// Checks the settings; the error names the key at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match url::Url::parse(&self.issuer) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {}
            Ok(_) => {
                return Err((
                    "issuer",
                    "must be an https URL (http only on the loopback, for tests)".into(),
                ))
            }
            Err(e) => return Err(("issuer", format!("is not a URL: {e}"))),
        }
        if self.client_id.trim().is_empty() || self.client_id.len() > 256 {
            return Err(("client_id", "must be 1 to 256 characters".into()));
        }
        if self.client_secret.expose_secret().is_empty() {
            return Err(("client_secret", "must not be empty".into()));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(("scopes", "must hold `openid`".into()));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .chain(&self.acr_values)
            .find(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_graphic() && c != '"'))
        {
            return Err((
                "scopes",
                format!("`{bad}`: scopes and acr_values are words without spaces"),
            ));
        }
        if !(1..=120).contains(&self.timeout_secs) {
            return Err(("timeout_secs", "must be between 1 and 120".into()));
        }
        if !(1..=120).contains(&self.flow_minutes) {
            return Err(("flow_minutes", "must be between 1 and 120".into()));
        }
        if !(1..=1440).contains(&self.identity_minutes) {
            return Err(("identity_minutes", "must be between 1 and 1440".into()));
        }
        Ok(())
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str) -> OidcSettings {
        OidcSettings {
            issuer: issuer.into(),
            client_id: "guichet".into(),
            client_secret: "s".to_owned().into(),
            scopes: default_scopes(),
            acr_values: vec!["eidas1".into()],
            timeout_secs: 10,
            flow_minutes: 15,
            identity_minutes: 60,
            require_email_verified: true,
        }
    }

    #[test]
    fn issuers_are_https_or_the_loopback() {
        assert!(
            settings("https://fcp-low.integ01.dev-franceconnect.fr/api/v2")
                .validate()
                .is_ok()
        );
        assert!(settings("http://127.0.0.1:4000").validate().is_ok());
        assert_eq!(
            settings("http://idp.example.org").validate().unwrap_err().0,
            "issuer"
        );
        assert_eq!(settings("not a url").validate().unwrap_err().0, "issuer");
        let mut s = settings("https://idp.example.org");
        s.scopes = vec!["email".into()];
        assert_eq!(s.validate().unwrap_err().0, "scopes");
    }
}
