//! What can go wrong with a rights request, in the request's own terms:
//! fields that break the rules, a request, document or tracking link that
//! is not there, a move the life cycle forbids, a sender over its limit, a
//! budget spent, and the failures of the database, the outbox, the consent
//! store (an export reads it) and the sealing of documents. The HTTP edge (`http_error.rs`) turns each into
//! its problem+json answer; the pages turn that answer into a page.

use diesel::result::{DatabaseErrorKind, Error as QueryError};

use super::lifecycle::Status;
use crate::consent::ConsentError;
use crate::db::{DbError, TaskError};
use crate::error::FieldError;
use crate::mail::MailError;
use crate::staff::ScopeRefused;
use crate::tenants::UnknownTenant;

#[derive(Debug, thiserror::Error)]
pub enum RightsError {
    /// Fields that break the rules, each named with why.
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldError>),
    /// A form whose fields could not be read as text at all.
    #[error("the form could not be read: {0}")]
    UnreadableForm(String),
    /// No request has this id, or not one the staff member may see.
    #[error("no request has this id")]
    UnknownRequest,
    /// The request has no document with this id.
    #[error("no document has this id")]
    UnknownDocument,
    /// The request has no attachment with this id.
    #[error("no attachment has this id")]
    UnknownAttachment,
    /// No request has this tracking link.
    #[error("no request has this tracking link")]
    UnknownTracking,
    /// A list was asked for a tenant that does not exist.
    #[error(transparent)]
    UnknownTenant(#[from] UnknownTenant),
    /// What the staff member asked is not for its role (a referent asking
    /// for a list by tenant, or to assign): why, as told to it.
    #[error("{0}")]
    NotForRole(&'static str),
    /// The document's content was destroyed at the end of its retention.
    #[error("the document was destroyed at the end of its retention")]
    DocumentPurged,
    /// The attachment's content was destroyed with the requester's data.
    #[error("the attachment was destroyed with the requester's data")]
    AttachmentPurged,
    /// The document's content was destroyed when the DPO verified the
    /// requester's identity (the tenant's
    /// `delete_id_documents_on_verification`).
    #[error("the document was destroyed once the identity was verified")]
    DocumentDestroyedOnVerification,
    /// The request is closed: nothing more is decided on it.
    #[error("the request is closed")]
    RequestClosed,
    /// The life cycle forbids this move from the request's status as it
    /// is now.
    #[error("a request {} cannot move to {}", .from.as_str(), .to.as_str())]
    TransitionNotAllowed { from: Status, to: Status },
    /// The deadline may not be extended (closed, extended already, or past
    /// its due date): why, as told to the DPO.
    #[error("{0}")]
    ExtensionNotAllowed(&'static str),
    /// No identity document is awaited for this request (also when an
    /// upload or a move made at the same time came first).
    #[error("no identity document is awaited for this request")]
    NotAwaitingIdentity,
    /// The requester's address was erased: there is no one to write to.
    #[error("the requester's address is no longer kept")]
    RequesterErased,
    /// Too many submissions from this client address; it may try again in
    /// `retry_after_secs`.
    #[error("too many submissions from this address")]
    TooManyFromAddress { retry_after_secs: u64 },
    /// Too many submissions from this e-mail address; it may try again in
    /// `retry_after_secs`.
    #[error("too many submissions from this e-mail address")]
    TooManyFromEmail { retry_after_secs: u64 },
    /// The submission limits hold as many senders as they may, none of
    /// them done with.
    #[error("too many senders are being counted at once")]
    SubmissionsBusy,
    /// The upload memory budget is spent by the forms in flight.
    #[error("too many documents are being received at once")]
    UploadsBusy,
    #[error(transparent)]
    Database(#[from] DbError),
    /// A letter that could not be queued (its database failures are
    /// `Database`).
    #[error(transparent)]
    Mail(MailError),
    /// The consent events of the request's banner identifiers could not be
    /// read (an export).
    #[error(transparent)]
    Consents(#[from] ConsentError),
    /// Anything else: a key that would not seal or open, a lost thread.
    #[error("{0}")]
    Internal(String),
}

impl From<QueryError> for RightsError {
    fn from(e: QueryError) -> Self {
        Self::Database(DbError::Query(e))
    }
}

impl From<MailError> for RightsError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Database(e) => e.into(),
            e => Self::Mail(e),
        }
    }
}

impl From<FieldError> for RightsError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<ScopeRefused> for RightsError {
    fn from(e: ScopeRefused) -> Self {
        match e {
            ScopeRefused::NotASlug(field) => field.into(),
            ScopeRefused::Unknown(tenant) => tenant.into(),
            ScopeRefused::Referent => {
                Self::NotForRole("A referent sees only the requests assigned to it.")
            }
        }
    }
}

impl RightsError {
    /// A single field at fault.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
        .into()
    }

    /// A write that lost a race with a concurrent one on a unique key (a
    /// reference drawn twice): it may be tried again.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Database(DbError::Query(QueryError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            )))
        )
    }
}

/// The rights' functions run their queries through `Db::run_as` with this
/// error, which says as `ApiError` would whether the connection is still to
/// be trusted.
impl TaskError for RightsError {
    fn connection_suspect(&self) -> bool {
        matches!(self, Self::Database(e) if e.is_unavailable() || e.is_storage_failure())
    }

    fn is_server_fault(&self) -> bool {
        match self {
            Self::Database(e) => !e.is_concurrent_change() && !self.is_unique_violation(),
            Self::Mail(MailError::Undeliverable) => false,
            Self::Mail(_)
            | Self::Consents(_)
            | Self::Internal(_)
            | Self::SubmissionsBusy
            | Self::UploadsBusy => true,
            _ => false,
        }
    }
}
