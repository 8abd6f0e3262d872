//! What can go wrong with a consent, in the consent's own terms; the HTTP
//! edge (`http.rs`) turns it into a problem+json answer.

use crate::db::DbError;
use crate::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The banner sent fields that break the rules (`policy.rs`).
    #[error("invalid consent: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The banner showed an older policy than the tenant's current one.
    #[error("the consent policy is now at version {current}")]
    StalePolicy { current: String },
    /// The queue of consents waiting to be committed stayed full for
    /// `consent.enqueue_timeout_ms`: nothing was recorded.
    #[error("too many consents are waiting to be recorded")]
    QueueFull,
    /// No connection to the database could be had: nothing was recorded.
    #[error("consent writer: database unavailable")]
    Unavailable,
    /// The disk refused the write (full, read-only): nothing was recorded.
    #[error("consent writer: the disk refused the write")]
    NoStorage,
    #[error(transparent)]
    Database(#[from] DbError),
    /// Anything else: a bug or a lost thread.
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for ConsentError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(e))
    }
}

impl ConsentError {
    /// Whether the connection that gave this error is to be closed rather
    /// than reused: the database went away or its disk failed.
    pub fn spoils_connection(&self) -> bool {
        matches!(self, Self::Database(e) if e.is_unavailable() || e.is_storage_failure())
    }
}
