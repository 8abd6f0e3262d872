//! The relying parties of an instance: FranceConnect for each tenant that
//! declares it, the staff's provider when `[auth.oidc]` is set. Each
//! answers at its own address under `server.public_url`.

use std::collections::BTreeMap;

use super::RelyingParty;
use crate::config::Settings;
use crate::secrets::Key;

pub struct Providers {
    /// By tenant slug.
    pub citizens: BTreeMap<String, RelyingParty>,
    pub staff: Option<RelyingParty>,
    /// `server.public_url`, without its final slash.
    pub public_url: String,
    /// What browsers carry across the round trip is sealed under it
    /// (`super::seal`).
    pub key: Key,
    /// Whether the browser's cookies may be sent over https only.
    pub secure: bool,
}

/// Where FranceConnect sends a tenant's citizens back.
pub fn citizen_callback(public_url: &str, slug: &str) -> String {
    format!("{public_url}/t/{slug}/franceconnect/callback")
}

/// Where FranceConnect sends a tenant's citizens back after signing out.
pub fn citizen_logged_out(public_url: &str, slug: &str) -> String {
    format!("{public_url}/t/{slug}/franceconnect/logged-out")
}

/// Where the staff's provider sends them back.
pub fn staff_callback(public_url: &str) -> String {
    format!("{public_url}/console/oidc/callback")
}

impl Providers {
    pub fn of(settings: &Settings, key: Key) -> Result<Self, String> {
        let public_url = settings.server.public_url.trim_end_matches('/').to_owned();
        let mut citizens = BTreeMap::new();
        for (slug, tenant) in &settings.tenants {
            if let Some(fc) = &tenant.franceconnect {
                let party = RelyingParty::new(fc, citizen_callback(&public_url, slug))
                    .map_err(|e| format!("tenants.{slug}.franceconnect: {e}"))?;
                citizens.insert(slug.clone(), party);
            }
        }
        let staff = match &settings.auth.oidc {
            Some(oidc) => Some(
                RelyingParty::new(oidc, staff_callback(&public_url))
                    .map_err(|e| format!("auth.oidc: {e}"))?,
            ),
            None => None,
        };
        Ok(Self {
            citizens,
            staff,
            secure: public_url.starts_with("https://"),
            public_url,
            key,
        })
    }
}
