//! What the staff's handlers, the sign-in and the `Staff` extractor need,
//! registered once as application data by `app`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::Quota;

use super::password::Hasher;
use crate::clock::Clock;
use crate::config::{AuthSettings, LimitSettings, ServerSettings};
use crate::db::Db;
use crate::http::{limit_key, KeyedLimit, Refused};
use crate::mail::Mail;
use crate::secrets::Secrets;
use crate::tenants::Tenants;

#[derive(Clone)]
pub struct StaffService {
    pub db: Db,
    pub clock: Clock,
    pub tenants: Tenants,
    /// The token key and the pseudonym keys.
    pub secrets: Arc<Secrets>,
    pub auth: AuthSettings,
    /// The public address (links in letters) and the trusted proxies
    /// (client addresses).
    pub server: ServerSettings,
    pub limits: LimitSettings,
    pub hasher: Hasher,
    pub login_limiter: LoginLimiter,
    /// The outbox of the unlock links.
    pub mail: Arc<Mail>,
}

/// Most client addresses the sign-in rate limit holds at once.
const LOGIN_LIMIT_KEYS: usize = 100_000;

/// Limits sign-in attempts per client address (`auth.login_per_ip_per_minute`).
#[derive(Clone)]
pub struct LoginLimiter(Arc<KeyedLimit<IpAddr>>);

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(KeyedLimit::new(quota, LOGIN_LIMIT_KEYS)))
    }

    /// Counts one attempt from `ip`; refused with the time to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        self.0.check(&limit_key(ip))
    }
}
