//! The rules of a consent, as plain functions: which choices a banner may
//! send, what they mean, and how long they hold.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Months, Utc};

use super::error::ConsentError;
use crate::error::FieldError;
use crate::tenants::ConsentPolicyConfig;

/// Every purpose of the policy with its choice: essential purposes are
/// true, a purpose left out is refused. An unknown purpose, or a refusal of
/// an essential one, is an error naming it.
pub fn normalise_choices(
    policy: &ConsentPolicyConfig,
    sent: &HashMap<String, bool>,
) -> Result<BTreeMap<String, bool>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut unknown: Vec<&String> = sent
        .keys()
        .filter(|k| !policy.purposes.iter().any(|p| &p.id == *k))
        .collect();
    unknown.sort();
    for (i, id) in unknown.into_iter().enumerate() {
        if i == 20 {
            errors.push(FieldError {
                field: "choices".into(),
                message: "and more unknown purposes".into(),
            });
            break;
        }
        errors.push(FieldError {
            field: format!("choices.{}", truncate(id, 40)),
            message: "is not a purpose of this tenant's policy".into(),
        });
    }
    let mut choices = BTreeMap::new();
    for purpose in &policy.purposes {
        let given = sent.get(&purpose.id).copied();
        if purpose.essential {
            if given == Some(false) {
                errors.push(FieldError {
                    field: format!("choices.{}", purpose.id),
                    message: "is essential and cannot be refused".into(),
                });
            }
            choices.insert(purpose.id.clone(), true);
        } else {
            choices.insert(purpose.id.clone(), given.unwrap_or(false));
        }
    }
    if errors.is_empty() {
        Ok(choices)
    } else {
        Err(errors)
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// When a consent given at `given_at` lapses: the same instant, `months`
/// calendar months later (clamped to the end of a shorter month).
pub fn expires_at(given_at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    given_at
        .checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `policy_version` must be the tenant's current one.
pub fn check_version(policy: &ConsentPolicyConfig, sent: &str) -> Result<(), ConsentError> {
    if sent == policy.policy_version {
        return Ok(());
    }
    Err(ConsentError::StalePolicy {
        current: policy.policy_version.clone(),
    })
}

/// The page a consent was given on, without its query string or fragment
/// (they may carry personal data); `None` for anything that is not an
/// http(s) URL.
pub fn clean_page_url(raw: &str) -> Option<String> {
    let mut url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url.to_string())
}

/// At most `max` characters of a user agent, control characters removed.
pub fn clean_user_agent(raw: &str, max: usize) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !c.is_control()).take(max).collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::PurposeConfig;

    fn policy() -> ConsentPolicyConfig {
        let p = |id: &str, essential| PurposeConfig {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            essential,
            category: None,
        };
        ConsentPolicyConfig {
            policy_version: "v1".into(),
            validity_months: 13,
            purposes: vec![
                p("essential", true),
                p("matomo", false),
                p("twitter", false),
            ],
        }
    }

    fn sent(pairs: &[(&str, bool)]) -> HashMap<String, bool> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn omitted_purposes_are_refusals_and_essentials_are_true() {
        let c = normalise_choices(&policy(), &sent(&[("matomo", true)])).unwrap();
        let got: Vec<_> = c.into_iter().collect();
        assert_eq!(
            got,
            [
                ("essential".to_owned(), true),
                ("matomo".to_owned(), true),
                ("twitter".to_owned(), false)
            ]
        );
        let c = normalise_choices(&policy(), &sent(&[])).unwrap();
        assert!(c["essential"]);
        assert!(!c["matomo"]);
    }

    #[test]
    fn unknown_purposes_and_refused_essentials_are_named() {
        let e = normalise_choices(
            &policy(),
            &sent(&[("facebook", true), ("essential", false)]),
        )
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["choices.facebook", "choices.essential"]);
    }

    #[test]
    fn thousands_of_unknown_purposes_give_a_short_answer() {
        let many: HashMap<String, bool> = (0..10_000).map(|i| (format!("p{i}"), true)).collect();
        let e = normalise_choices(&policy(), &many).unwrap_err();
        assert_eq!(e.len(), 21);
    }

    #[test]
    fn thirteen_calendar_months_with_end_of_month_clamping() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            expires_at(at("2026-03-02T09:30:00Z"), 13),
            at("2027-04-02T09:30:00Z")
        );
        // 31 January + 13 months = 29 February of a leap year.
        assert_eq!(
            expires_at(at("2027-01-31T23:00:00Z"), 13),
            at("2028-02-29T23:00:00Z")
        );
        assert_eq!(
            expires_at(at("2026-01-31T10:00:00Z"), 13),
            at("2027-02-28T10:00:00Z")
        );
        assert_eq!(
            expires_at(at("2026-01-31T10:00:00Z"), 1),
            at("2026-02-28T10:00:00Z")
        );
        assert_eq!(
            expires_at(at("2024-02-29T10:00:00Z"), 12),
            at("2025-02-28T10:00:00Z")
        );
    }

    #[test]
    fn page_urls_lose_query_fragment_and_credentials() {
        assert_eq!(
            clean_page_url(
                "https://u:p@data.nimes-metropole.fr/explore/?q=dupont&email=a@b.fr#top"
            )
            .as_deref(),
            Some("https://data.nimes-metropole.fr/explore/")
        );
        assert_eq!(clean_page_url("javascript:alert(1)"), None);
        assert_eq!(clean_page_url("not a url"), None);
    }

    #[test]
    fn user_agents_are_truncated_and_cleaned() {
        let ua = format!("Mozilla/5.0\r\n{}", "x".repeat(500));
        let c = clean_user_agent(&ua, 128).unwrap();
        assert_eq!(c.chars().count(), 128);
        assert!(!c.contains('\n'));
    }
}
