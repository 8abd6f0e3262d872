//! How often a rights request may be submitted: per client address and
//! per e-mail address, each a forgetting `http::KeyedLimit`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::Quota;

use super::error::RightsError;
use crate::http::{limit_key, KeyedLimit, Refused};

/// The submission limits: per client address and per e-mail address,
/// each holding at most `requests.submission_limit_keys` keys and
/// forgetting those whose quota is whole again (`KeyedLimit`).
#[derive(Clone)]
pub struct SubmissionLimiter {
    per_ip: Arc<KeyedLimit<IpAddr>>,
    per_email: Arc<KeyedLimit<String>>,
}

impl SubmissionLimiter {
    pub fn new(per_ip_per_hour: u32, per_email_per_day: u32, max_keys: usize) -> Self {
        let per = |n: u32, period: std::time::Duration| {
            let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
            Quota::with_period(period / n.get())
                .expect("non-zero period")
                .allow_burst(n)
        };
        Self {
            per_ip: Arc::new(KeyedLimit::new(
                per(per_ip_per_hour, std::time::Duration::from_secs(3600)),
                max_keys,
            )),
            per_email: Arc::new(KeyedLimit::new(
                per(per_email_per_day, std::time::Duration::from_secs(86_400)),
                max_keys,
            )),
        }
    }

    /// Counts a submission from this client address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RightsError> {
        self.per_ip
            .check(&limit_key(ip))
            .map_err(|refused| match refused {
                Refused::Wait(wait) => RightsError::TooManyFromAddress {
                    retry_after_secs: wait.as_secs() + 1,
                },
                Refused::Full => RightsError::SubmissionsBusy,
            })
    }

    /// Counts a submission from this e-mail address (its pseudonym).
    pub fn check_email(&self, email_hash: &str) -> Result<(), RightsError> {
        self.per_email
            .check(&email_hash.to_owned())
            .map_err(|refused| match refused {
                Refused::Wait(wait) => RightsError::TooManyFromEmail {
                    retry_after_secs: wait.as_secs() + 1,
                },
                Refused::Full => RightsError::SubmissionsBusy,
            })
    }
}
