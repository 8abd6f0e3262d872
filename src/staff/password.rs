//! Argon2id password hashes (OWASP parameters: 19 MiB, 2 passes), computed
//! off the async executor, a bounded number at a time, so that a flood of
//! logins cannot starve the other routes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::StaffError;
use crate::config::AuthSettings;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password now, on the calling thread (command line).
pub fn hash_now(password: &str) -> Result<String, StaffError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hashing(e.to_string()))
}

/// Checks a password against a stored hash; against a dummy one when there
/// is no account, so that both cases take the same time.
fn verify_now(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_now("no account has this password").unwrap_or_default());
    let stored = hash.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && hash.is_some()
}

#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl Hasher {
    pub fn new(settings: &AuthSettings) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(settings.hash_slots())),
            queue_timeout: Duration::from_secs(settings.hash_queue_timeout_secs),
        }
    }

    async fn with_slot<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StaffError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| StaffError::HashingBusy)?
            .map_err(|e| StaffError::HashingTask(e.to_string()))?;
        let result = actix_web::rt::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| StaffError::HashingTask(e.to_string()))?;
        Ok(result)
    }

    pub async fn hash(&self, password: String) -> Result<String, StaffError> {
        self.with_slot(move || hash_now(&password)).await?
    }

    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, StaffError> {
        self.with_slot(move || verify_now(&password, hash.as_deref()))
            .await
    }
}

/// Passwords refused whatever their length: the most common ones.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678910",
    "azertyuiop12",
    "azertyuiopqs",
    "qwertyuiop12",
    "qwertyuiopas",
    "motdepasse123",
    "motdepasse2024",
    "motdepasse2025",
    "motdepasse2026",
    "password1234",
    "password12345",
    "passwordpassword",
    "administrateur",
    "administrator",
    "changeme1234",
    "bienvenue1234",
    "bienvenue2026",
    "soleil123456",
    "iloveyou1234",
    "111111111111",
    "000000000000",
    "abcdefghijkl",
    "abc123456789",
    "mairie123456",
    "guichet12345",
    "guichetguichet",
    "letmein12345",
    "welcome12345",
    "qwerty123456",
    "azerty123456",
    "trustno11234",
    "football1234",
    "dragon123456",
    "monkey123456",
    "sunshine1234",
    "princess1234",
    "superman1234",
    "baseball1234",
];

/// Refuses a password that is short, common, or built on the account's
/// own e-mail address.
pub fn check_strength(password: &str, email: &str, min_len: usize) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < min_len {
        return Err(format!("must be at least {min_len} characters"));
    }
    if chars > 256 {
        return Err("must be at most 256 characters".into());
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err("is one of the most common passwords".into());
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Err("must not contain the e-mail address".into());
    }
    if lower.chars().all(|c| lower.starts_with(c)) {
        return Err("must not repeat a single character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        let email = "dpo@ville-sevres.fr";
        assert!(check_strength("short", email, 12)
            .unwrap_err()
            .contains("12"));
        assert!(check_strength("Azertyuiop12", email, 12)
            .unwrap_err()
            .contains("common"));
        assert!(check_strength("dpo-secret-2026", "dposecret@x.fr", 12).is_ok());
        assert!(check_strength("my dposecret 2026", "dposecret@x.fr", 12).is_err());
        assert!(check_strength("aaaaaaaaaaaaaa", email, 12).is_err());
        assert!(check_strength("correct horse battery", email, 12).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hash = hash_now("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_now("correct horse battery", Some(&hash)));
        assert!(!verify_now("wrong horse battery", Some(&hash)));
        assert!(!verify_now("correct horse battery", None));
    }
}
