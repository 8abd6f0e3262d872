//! What the staff's rules refuse, and how their storage fails. The HTTP
//! edge (`super::http`) turns each into its problem+json answer.

use crate::error::FieldError;
use crate::mail::MailError;

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("a staff account already uses this e-mail address")]
    EmailTaken,
    /// Fields of a new account that break the rules.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The access token is missing, malformed, expired, signed out, or its
    /// account no longer matches it.
    #[error("the access token is missing, malformed, expired or not valid")]
    BadToken,
    #[error("cannot sign token: {0}")]
    Signing(String),
    #[error("argon2: {0}")]
    Hashing(String),
    /// Every hashing slot stayed taken for `auth.hash_queue_timeout_secs`.
    #[error("too many sign-ins at once")]
    HashingBusy,
    #[error("hashing task failed: {0}")]
    HashingTask(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Mail(#[from] MailError),
}
