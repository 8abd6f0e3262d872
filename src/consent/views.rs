//! What the banner's routes take and answer, and the consent as a banner
//! sees it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use validator::{Validate, ValidationError};

use super::policy::clean_page_url;
use super::queries::ConsentEvent;
use crate::config::ConsentSettings;
use crate::error::ApiError;
use crate::tenants::{PurposeCategory, PurposeConfig, Tenant, Tenants};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentPolicy {
    pub tenant: String,
    pub policy_version: String,
    pub purposes: Vec<PurposeView>,
    /// Months a consent holds before the banner asks again.
    pub validity_months: u32,
    /// The SHA-256 of the policy's canonical JSON, which each receipt
    /// carries (`…/consent-policy/versions` lists every one served).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
}

impl ConsentPolicy {
    /// A tenant's current policy.
    pub fn of(tenant: &Tenant) -> Self {
        let c = &tenant.config.consent;
        Self {
            tenant: tenant.slug.clone(),
            policy_version: c.policy_version.clone(),
            purposes: c.purposes.iter().map(PurposeView::of).collect(),
            validity_months: c.validity_months,
            sha256: tenant.policy_sha256.clone(),
        }
    }
}

/// A tenant's policy as the banners' routes send it, written as JSON once:
/// it changes only with the configuration, and every page's load reads it.
#[derive(Debug)]
pub struct PolicyJson {
    pub policy_version: String,
    pub json: Box<RawValue>,
}

impl PolicyJson {
    pub fn of(tenant: &Tenant) -> Self {
        let policy = ConsentPolicy::of(tenant);
        let json = serde_json::value::to_raw_value(&policy)
            .expect("a policy of strings, numbers and booleans writes as JSON");
        Self {
            policy_version: policy.policy_version,
            json,
        }
    }
}

/// Every tenant's [`PolicyJson`], by tenant id, made at start.
#[derive(Debug, Default)]
pub struct Policies(HashMap<String, Arc<PolicyJson>>);

impl Policies {
    pub fn of(tenants: &Tenants) -> Self {
        Self(
            tenants
                .iter()
                .map(|t| (t.id.clone(), Arc::new(PolicyJson::of(t))))
                .collect(),
        )
    }

    /// The tenant's policy; written now for a tenant not known at start.
    pub fn get(&self, tenant: &Tenant) -> Arc<PolicyJson> {
        self.0
            .get(&tenant.id)
            .cloned()
            .unwrap_or_else(|| Arc::new(PolicyJson::of(tenant)))
    }
}

/// A purpose a banner offers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurposeView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Always accepted; a banner shows it and cannot refuse it.
    pub essential: bool,
    /// What it is for, by which a stock banner groups its services.
    pub category: PurposeCategory,
}

impl PurposeView {
    fn of(p: &PurposeConfig) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            essential: p.essential,
            category: p.category(),
        }
    }
}

/// What a banner needs on a page's load, in one answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentState {
    pub policy: ConsentPolicy,
    /// The subject's consent in force, or null (none asked, none given,
    /// expired or withdrawn).
    pub current: Option<ConsentView>,
    /// True when there is no consent in force, or when it was given under
    /// another `policy_version`: the banner must ask.
    pub needs_consent: bool,
}

/// [`ConsentState`] as sent: the same fields, the policy's JSON written
/// once (`PolicyJson`).
#[derive(Serialize)]
pub struct ConsentStateBody<'a> {
    pub policy: &'a RawValue,
    pub current: Option<ConsentView>,
    pub needs_consent: bool,
}

/// A policy a tenant has served.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVersion {
    pub policy_version: String,
    pub valid_from: DateTime<Utc>,
    /// None while it is the current one.
    pub valid_to: Option<DateTime<Utc>>,
    /// Of its canonical JSON (`policy`).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// The canonical JSON itself, as hashed: keys in lexicographic order,
    /// no white space.
    pub policy: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVersions {
    pub tenant: String,
    /// Oldest first.
    pub items: Vec<PolicyVersion>,
}

/// A banner's consent, checked by its serde and validator rules; the
/// limits of `tc_string` and `page_url` come from the configuration
/// (`consent.tc_string_max`, `consent.page_url_max`), the purposes from
/// the tenant's policy (`policy::normalise_choices`).
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(context = ConsentSettings)]
pub struct ConsentRequest {
    /// The visitor's random id, kept by the banner; made by the server when absent.
    #[schema(format = "uuid")]
    #[validate(custom(function = "uuid_text"))]
    pub subject_id: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    #[validate(length(min = 1, max = 40, message = "must be 1 to 40 characters"))]
    pub policy_version: String,
    /// Purpose id → accepted. A non-essential purpose left out is refused;
    /// a purpose the tenant's policy does not have, or an essential one
    /// refused, is a 422.
    #[schema(value_type = HashMap<String, bool>)]
    pub choices: HashMap<String, bool>,
    /// IAB TCF string, stored as given (no control character).
    #[schema(max_length = 4096, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    #[validate(
        custom(function = "tc_string_fits", use_context),
        custom(function = "no_control")
    )]
    pub tc_string: Option<String>,
    /// The page the banner was shown on (http or https); query and fragment
    /// are dropped.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#]|$)"
    )]
    #[validate(custom(function = "page_url_fits", use_context))]
    pub page_url: Option<String>,
}

fn rule(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn uuid_text(value: &str) -> Result<(), ValidationError> {
    parse_subject(value)
        .map(drop)
        .map_err(|_| rule("uuid", "must be a UUID"))
}

fn tc_string_fits(value: &str, limits: &ConsentSettings) -> Result<(), ValidationError> {
    if value.len() > limits.tc_string_max {
        return Err(rule("length", "is too long"));
    }
    Ok(())
}

fn no_control(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(rule("control", "must not contain control characters"));
    }
    Ok(())
}

fn page_url_fits(value: &str, limits: &ConsentSettings) -> Result<(), ValidationError> {
    if value.len() > limits.page_url_max {
        Err(rule("length", "is too long"))
    } else if clean_page_url(value).is_none() {
        Err(rule("url", "must be an http or https URL"))
    } else {
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    #[schema(format = "uuid")]
    pub consent_id: String,
    #[schema(format = "uuid")]
    pub subject_id: String,
    pub tenant: String,
    pub policy_version: String,
    /// Every purpose of the policy with its choice.
    pub choices: BTreeMap<String, bool>,
    pub given_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The browser sent `Sec-GPC: 1`.
    pub gpc: bool,
    /// Compact JWS (EdDSA) of the consent; verify it with `/.well-known/jwks.json`.
    pub receipt: String,
    /// Whether it was given under the tenant's current `policy_version`;
    /// when false the banner must ask again.
    pub policy_current: bool,
}

/// A consent as the banner reads it, against the tenant's current policy
/// version.
pub fn view(slug: &str, row: &ConsentEvent, current_version: &str) -> ConsentView {
    ConsentView {
        consent_id: row.id.clone(),
        subject_id: row.subject_id.clone(),
        tenant: slug.to_owned(),
        policy_version: row.policy_version.clone(),
        choices: row.choices(),
        given_at: row.at.and_utc(),
        expires_at: row.expires_at.unwrap_or(row.at).and_utc(),
        gpc: row.gpc,
        receipt: row.receipt.clone().unwrap_or_default(),
        policy_current: row.policy_version == current_version,
    }
}

pub fn parse_subject(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::field("subject_id", "must be a UUID"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// `given` or `withdrawn`.
    pub event: String,
    pub at: DateTime<Utc>,
    pub policy_version: String,
    /// The choices given, or those withdrawn.
    pub choices: BTreeMap<String, bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// The oldest `consent.history_max` at most.
    #[schema(max_items = 1000)]
    pub items: Vec<HistoryItem>,
}
