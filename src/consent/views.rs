//! What the banner's routes take and answer, and the consent as a banner
//! sees it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::queries::ConsentEvent;
use crate::error::ApiError;
use crate::tenants::PurposeConfig;

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentPolicy {
    pub tenant: String,
    pub policy_version: String,
    pub purposes: Vec<PurposeConfig>,
    /// Months a consent holds before the banner asks again.
    pub validity_months: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The visitor's random id, kept by the banner; made by the server when absent.
    #[schema(format = "uuid")]
    pub subject_id: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    pub policy_version: String,
    /// Purpose id → accepted. A non-essential purpose left out is refused;
    /// a purpose the tenant's policy does not have, or an essential one
    /// refused, is a 422.
    #[schema(value_type = HashMap<String, bool>)]
    pub choices: HashMap<String, bool>,
    /// IAB TCF string, stored as given (no control character).
    #[schema(max_length = 4096, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub tc_string: Option<String>,
    /// The page the banner was shown on (http or https); query and fragment
    /// are dropped.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?#]|$)"
    )]
    pub page_url: Option<String>,
}

impl validator::Validate for ConsentRequest {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
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
}

pub fn view(slug: &str, row: &ConsentEvent) -> ConsentView {
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
