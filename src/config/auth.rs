//! Staff sign-in: session lifetime, locks, password hashing.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Lifetime of a staff session token, in seconds.
    pub token_lifetime_secs: u64,
    /// Failed sign-ins for one e-mail address, within the window, that lock
    /// it; at most this many wrong passwords are ever checked per window.
    pub lockout_threshold: u32,
    /// How long a locked address stays locked, in minutes.
    pub lockout_minutes: u32,
    /// Minutes a failure is remembered after the latest one: failures in a
    /// row count until a success or a quiet window.
    pub lockout_window_minutes: u32,
    /// Minutes an unlock link e-mailed to a locked account's owner works.
    pub unlock_link_minutes: u32,
    /// Password checks one unlock link allows despite the lock.
    pub unlock_link_attempts: u32,
    /// Expired sign-in locks (and expired revoked tokens) removed at a time,
    /// whenever a new one is written.
    pub sweep_batch: u32,
    /// Login attempts one client address may make per minute.
    pub login_per_ip_per_minute: u32,
    /// Password hashes computed at once; 0 means half the CPUs (at least 1).
    pub hash_concurrency: usize,
    /// Seconds a login waits for a hashing slot before answering 503.
    pub hash_queue_timeout_secs: u64,
    /// Shortest password accepted for a staff account.
    pub min_password_length: usize,
    /// Whether staff may sign in with a password; off, only through the
    /// provider of `[auth.oidc]`.
    #[serde(default = "yes")]
    pub password_sign_in: bool,
    /// The OpenID Connect provider staff sign in through, if any.
    #[serde(default)]
    pub oidc: Option<super::OidcSettings>,
}

fn yes() -> bool {
    true
}

impl AuthSettings {
    pub fn hash_slots(&self) -> usize {
        match self.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        }
    }
}
