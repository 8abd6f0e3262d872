//! What an authority declares in configuration, and the checks it must pass.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::ValidateEmail;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Fr,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }
}

/// How the letters to a requester open: « Madame, Monsieur, » ("Dear Sir
/// or Madam,"), the register of a town hall, or by the first name the
/// requester gave ("Bonjour Zoé,").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Greeting {
    #[default]
    Formal,
    FirstName,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub name: String,
    pub dpo_email: String,
    pub postal_address: String,
    /// The service's telephone, as people dial it, given in the
    /// acknowledgement of receipt (CRPA R112-11-1) when set.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The rights its form offers (default: all six). Val Parisis, for
    /// one, states that portability does not apply to its public-service
    /// mission.
    #[serde(default = "all_rights")]
    pub rights: Vec<String>,
    /// The name its letters come from (default: `name`): a citizen reads
    /// the authority's name, never the software's.
    #[serde(default)]
    pub mail_from_name: Option<String>,
    /// Where a reply to its letters goes (default: `dpo_email`).
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub locale: Locale,
    #[serde(default)]
    pub greeting: Greeting,
    #[serde(default = "default_true")]
    pub require_id_document: bool,
    /// FranceConnect for its citizens: the form offers it, and a request
    /// sent through it needs no identity document.
    #[serde(default, skip_serializing)]
    pub franceconnect: Option<super::OidcSettings>,
    /// Whether the DPO's `verified` decision on a requester's identity
    /// destroys the identity documents' contents at once (their metadata
    /// and the decision stay), rather than at the end of their retention
    /// (EDPB guidelines 01/2022 on the right of access, §78).
    #[serde(default)]
    pub delete_id_documents_on_verification: bool,
    pub consent: ConsentPolicyConfig,
    /// Departures from `[retention.periods]`.
    #[serde(default)]
    pub retention: super::PeriodOverrides,
    /// Its logo and accent colour.
    #[serde(default)]
    pub theme: super::ThemeConfig,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentPolicyConfig {
    pub policy_version: String,
    /// Months a consent stays valid before the banner asks again.
    #[serde(default = "default_validity")]
    pub validity_months: u32,
    pub purposes: Vec<PurposeConfig>,
}

fn default_validity() -> u32 {
    13
}

impl ConsentPolicyConfig {
    /// The policy as the public proof of what was asked: JSON with its keys
    /// in lexicographic order, no white space, every purpose with its
    /// category, for `tenant` (the slug). Its SHA-256 (`proof`) is what
    /// each receipt carries.
    pub fn canonical(&self, tenant: &str) -> String {
        let purposes: Vec<serde_json::Value> = self
            .purposes
            .iter()
            .map(|p| {
                serde_json::json!({
                    "category": p.category(),
                    "description": p.description,
                    "essential": p.essential,
                    "id": p.id,
                    "name": p.name,
                })
            })
            .collect();
        // serde_json's maps keep their keys sorted.
        serde_json::json!({
            "policy_version": self.policy_version,
            "purposes": purposes,
            "tenant": tenant,
            "validity_months": self.validity_months,
        })
        .to_string()
    }

    /// `canonical` and its SHA-256 in lower-case hexadecimal, which each
    /// receipt carries.
    pub fn proof(&self, tenant: &str) -> (String, String) {
        use sha2::Digest;
        let canonical = self.canonical(tenant);
        let sha256 = format!("{:x}", sha2::Sha256::digest(canonical.as_bytes()));
        (canonical, sha256)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeConfig {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub essential: bool,
    /// What the purpose is for, by which a stock banner groups its
    /// services; `essential` for an essential purpose, `other` when not
    /// given.
    #[serde(default)]
    pub category: Option<PurposeCategory>,
}

impl PurposeConfig {
    /// Its category, as given or by default.
    pub fn category(&self) -> PurposeCategory {
        self.category.unwrap_or(if self.essential {
            PurposeCategory::Essential
        } else {
            PurposeCategory::Other
        })
    }
}

/// The kinds of purpose a cookie banner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PurposeCategory {
    Essential,
    Analytics,
    Social,
    Advertising,
    Functional,
    Other,
}

/// `^[a-z0-9-]{2,40}$`
pub fn is_valid_slug(slug: &str) -> bool {
    (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_valid_purpose_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A telephone number as people write it: `01 41 14 10 10`, `+33 1 41 14 10 10`.
fn is_valid_phone(phone: &str) -> bool {
    let digits = phone.bytes().filter(u8::is_ascii_digit).count();
    (4..=30).contains(&phone.len())
        && digits >= 3
        && phone
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +.-()".contains(&b))
}

/// An origin as browsers send it: scheme, host and port only.
pub fn normalise_origin(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let serialised = url.origin().ascii_serialization();
    (origin.trim_end_matches('/') == serialised).then_some(serialised)
}

type Invalid = (String, String);

fn invalid(field: &str, why: impl Into<String>) -> Invalid {
    (field.to_owned(), why.into())
}

/// The rights a request may be about, by name (`rights::lifecycle::Kind`).
pub const RIGHTS: [&str; 6] = [
    "access",
    "rectification",
    "erasure",
    "restriction",
    "opposition",
    "portability",
];

fn all_rights() -> Vec<String> {
    RIGHTS.iter().map(|r| (*r).to_owned()).collect()
}

impl TenantConfig {
    /// Whether its form offers this right.
    pub fn offers(&self, right: &str) -> bool {
        self.rights.iter().any(|r| r == right)
    }

    /// The name its letters come from.
    pub fn sender_name(&self) -> &str {
        self.mail_from_name.as_deref().unwrap_or(&self.name)
    }

    /// Where a reply to its letters goes.
    pub fn reply_address(&self) -> &str {
        self.reply_to.as_deref().unwrap_or(&self.dpo_email)
    }

    /// Checks the declaration; the error names the field under the tenant.
    pub fn validate(&self, slug: &str) -> Result<(), Invalid> {
        if !is_valid_slug(slug) {
            return Err(invalid(
                "",
                "slug must be 2 to 40 characters among a-z, 0-9 and '-'",
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        if self.rights.is_empty() {
            return Err(invalid("rights", "must offer at least one right"));
        }
        if let Some(unknown) = self.rights.iter().find(|r| !RIGHTS.contains(&r.as_str())) {
            return Err(invalid(
                "rights",
                format!("`{unknown}` is not a right: {}", RIGHTS.join(", ")),
            ));
        }
        if self.reply_to.as_ref().is_some_and(|r| !r.validate_email()) {
            return Err(invalid("reply_to", "must be an e-mail address"));
        }
        if let Some(name) = &self.mail_from_name {
            if name.trim().is_empty()
                || name.chars().count() > 100
                || name.chars().any(char::is_control)
            {
                return Err(invalid(
                    "mail_from_name",
                    "must be 1 to 100 characters on one line",
                ));
            }
        }
        if !self.dpo_email.validate_email() {
            return Err(invalid("dpo_email", "must be an e-mail address"));
        }
        if self.postal_address.trim().is_empty() {
            return Err(invalid("postal_address", "must not be empty"));
        }
        if let Some(phone) = &self.phone {
            if !is_valid_phone(phone) {
                return Err(invalid(
                    "phone",
                    "must be 4 to 30 characters: digits, spaces and + . - ( )",
                ));
            }
        }
        for origin in &self.allowed_origins {
            if normalise_origin(origin).is_none() {
                return Err(invalid(
                    "allowed_origins",
                    format!("`{origin}` is not an origin like https://www.example.fr (scheme and host, no path)"),
                ));
            }
        }
        self.theme.check()?;
        let consent = &self.consent;
        let version = consent.policy_version.trim();
        if version.is_empty() || version.len() > 40 {
            return Err(invalid(
                "consent.policy_version",
                "must be 1 to 40 characters",
            ));
        }
        if !(1..=13).contains(&consent.validity_months) {
            return Err(invalid(
                "consent.validity_months",
                "must be between 1 and 13 (the CNIL's maximum)",
            ));
        }
        if consent.purposes.is_empty() {
            return Err(invalid(
                "consent.purposes",
                "must list at least one purpose",
            ));
        }
        let mut seen = HashSet::new();
        for purpose in &consent.purposes {
            if !is_valid_purpose_id(&purpose.id) {
                return Err(invalid(
                    "consent.purposes",
                    format!(
                        "id `{}` must be 1 to 40 characters among a-z, 0-9, '-' and '_'",
                        purpose.id
                    ),
                ));
            }
            if !seen.insert(purpose.id.as_str()) {
                return Err(invalid(
                    "consent.purposes",
                    format!("id `{}` is declared twice", purpose.id),
                ));
            }
            if purpose.name.trim().is_empty() {
                return Err(invalid(
                    "consent.purposes",
                    format!("purpose `{}` needs a name", purpose.id),
                ));
            }
            if purpose.essential != (purpose.category() == PurposeCategory::Essential) {
                return Err(invalid(
                    "consent.purposes",
                    format!(
                        "purpose `{}`: category `essential` goes with `essential = true`, and only with it",
                        purpose.id
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(slug: &str) -> TenantConfig {
        let all: std::collections::BTreeMap<String, TenantConfig> = config::Config::builder()
            .add_source(config::File::from_str(
                crate::config::DEMO_TOML,
                config::FileFormat::Toml,
            ))
            .build()
            .and_then(|demo| demo.get("tenants"))
            .unwrap();
        all[slug].clone()
    }

    #[test]
    fn a_category_says_what_a_purpose_is_and_essential_goes_with_essential() {
        let mut t = demo("sevres");
        assert_eq!(t.validate("sevres"), Ok(()));
        let audience = t
            .consent
            .purposes
            .iter()
            .position(|p| p.id == "audience")
            .unwrap();
        t.consent.purposes[audience].category = None;
        assert_eq!(
            t.consent.purposes[audience].category(),
            PurposeCategory::Other
        );
        t.consent.purposes[audience].category = Some(PurposeCategory::Essential);
        let (field, why) = t.validate("sevres").unwrap_err();
        assert_eq!(field, "consent.purposes");
        assert!(why.contains("`audience`"), "{why}");
        let mut t = demo("sevres");
        t.consent.purposes[0].category = Some(PurposeCategory::Analytics);
        assert!(t.validate("sevres").unwrap_err().1.contains("`essential`"));
        // The canonical form is stable and hashes to what receipts carry.
        let t = demo("sevres");
        assert_eq!(t.consent.proof("sevres"), t.consent.proof("sevres"));
        assert!(t
            .consent
            .canonical("sevres")
            .starts_with("{\"policy_version\":"));
    }

    #[test]
    fn slugs() {
        assert!(is_valid_slug("sevres"));
        assert!(is_valid_slug("val-parisis-2"));
        assert!(!is_valid_slug("s"));
        assert!(!is_valid_slug("Sevres"));
        assert!(!is_valid_slug("sèvres"));
        assert!(!is_valid_slug(&"a".repeat(41)));
    }

    #[test]
    fn phones() {
        assert!(is_valid_phone("01 41 14 10 10"));
        assert!(is_valid_phone("+33 (0)1.41.14.10.10"));
        assert!(is_valid_phone("3939"));
        assert!(!is_valid_phone(""));
        assert!(!is_valid_phone("   "));
        assert!(!is_valid_phone("appelez-nous"));
        assert!(!is_valid_phone(&"1".repeat(31)));
    }

    #[test]
    fn origins() {
        assert_eq!(
            normalise_origin("https://data.nimes-metropole.fr").as_deref(),
            Some("https://data.nimes-metropole.fr")
        );
        assert_eq!(
            normalise_origin("http://localhost:8081/").as_deref(),
            Some("http://localhost:8081")
        );
        assert_eq!(normalise_origin("https://a.fr/path"), None);
        assert_eq!(normalise_origin("ftp://a.fr"), None);
        assert_eq!(normalise_origin("a.fr"), None);
    }
}
