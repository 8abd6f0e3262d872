//! What a request is and how it moves: kinds, statuses, the actions of its
//! timeline, the roles of its files, the kinds of the DPO's answers, and
//! the one table of allowed transitions. Each is stored as the text of its
//! name (`as_str`).
//!
//! (Over 400 lines: the request's vocabulary, each enum with its stored
//! name, and the one table of transitions; split, they would each repeat
//! the storage macro's use.)

use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::tenants::Locale;

/// Stores an enum with `as_str` and `parse` as the text of its name.
macro_rules! stored_as_text {
    ($t:ty, $what:literal) => {
        impl<DB: diesel::backend::Backend> ToSql<Text, DB> for $t
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: diesel::backend::Backend> FromSql<Text, DB> for $t
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Self::parse(&text).ok_or_else(|| format!("`{text}` is not a {}", $what).into())
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Access,
    Rectification,
    Erasure,
    Restriction,
    Opposition,
    Portability,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Access,
        Kind::Rectification,
        Kind::Erasure,
        Kind::Restriction,
        Kind::Opposition,
        Kind::Portability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Rectification => "rectification",
            Self::Erasure => "erasure",
            Self::Restriction => "restriction",
            Self::Opposition => "opposition",
            Self::Portability => "portability",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The right's name, for people.
    pub fn label(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::Fr, Self::Access) => "droit d'accès",
            (Locale::Fr, Self::Rectification) => "droit de rectification",
            (Locale::Fr, Self::Erasure) => "droit à l'effacement",
            (Locale::Fr, Self::Restriction) => "droit à la limitation du traitement",
            (Locale::Fr, Self::Opposition) => "droit d'opposition",
            (Locale::Fr, Self::Portability) => "droit à la portabilité",
            (Locale::En, Self::Access) => "right of access",
            (Locale::En, Self::Rectification) => "right to rectification",
            (Locale::En, Self::Erasure) => "right to erasure",
            (Locale::En, Self::Restriction) => "right to restriction of processing",
            (Locale::En, Self::Opposition) => "right to object",
            (Locale::En, Self::Portability) => "right to data portability",
        }
    }
}

#[cfg(test)]
mod kinds_named {
    #[test]
    fn the_configuration_names_every_kind() {
        let names: Vec<&str> = super::Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, crate::config::tenants::RIGHTS);
    }
}

/// The same storage for the enums of the capability's other modules.
pub(super) use stored_as_text;

stored_as_text!(Kind, "kind of request");

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    InProgress,
    AwaitingIdentity,
    Completed,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Received,
        Status::InProgress,
        Status::AwaitingIdentity,
        Status::Completed,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::InProgress => "in_progress",
            Self::AwaitingIdentity => "awaiting_identity",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Completed and rejected requests are final.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Completed | Self::Rejected)
    }
}

stored_as_text!(Status, "request status");

/// What an entry of a request's timeline records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum Action {
    /// Submitted by the requester.
    Received,
    /// Moved by the DPO (`status` is where to).
    Transition,
    /// Its deadline extended by the DPO.
    Extension,
    /// The DPO wrote to the requester.
    Message,
    /// The requester sent the identity document asked for.
    DocumentUploaded,
    /// The DPO opened an identity document.
    DocumentOpened,
    /// The DPO exported the request and the requester's consents.
    Exported,
    /// The retention destroyed its documents.
    DocumentsDestroyed,
    /// The retention erased the requester's personal data.
    Erased,
    /// The requester downloaded an attachment of an answer.
    AttachmentDownloaded,
    /// The DPO decided on the requester's identity.
    IdentityDecided,
    /// A verified identity destroyed the identity documents' contents
    /// (the tenant's `delete_id_documents_on_verification`).
    IdentityDocumentsDestroyed,
    /// The DPO assigned the request to a referent (`rights::referents`).
    Assigned,
    /// An internal note was added (by the DPO or a referent).
    Noted,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Action::Received,
        Action::Transition,
        Action::Extension,
        Action::Message,
        Action::DocumentUploaded,
        Action::DocumentOpened,
        Action::Exported,
        Action::DocumentsDestroyed,
        Action::Erased,
        Action::AttachmentDownloaded,
        Action::IdentityDecided,
        Action::IdentityDocumentsDestroyed,
        Action::Assigned,
        Action::Noted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Transition => "transition",
            Self::Extension => "extension",
            Self::Message => "message",
            Self::DocumentUploaded => "document_uploaded",
            Self::DocumentOpened => "document_opened",
            Self::Exported => "exported",
            Self::DocumentsDestroyed => "retention.documents_destroyed",
            Self::Erased => "retention.erased",
            Self::AttachmentDownloaded => "attachment.downloaded",
            Self::IdentityDecided => "identity_decided",
            Self::IdentityDocumentsDestroyed => "identity.documents_destroyed",
            Self::Assigned => "assigned",
            Self::Noted => "noted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

stored_as_text!(Action, "timeline action");

/// What a file of a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A copy of the requester's identity document, kept under the
    /// identity documents' retention.
    IdDocument,
    /// A file the DPO attached to an answer, kept under the requester
    /// data's retention.
    Attachment,
    /// The mandate of someone acting for another (or the proof of a
    /// parent's or guardian's authority), kept as the identity documents.
    Mandate,
    /// The scan of a letter a request arrived by, kept as the identity
    /// documents.
    Letter,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::IdDocument,
        Role::Attachment,
        Role::Mandate,
        Role::Letter,
    ];

    /// The files the requester gave with the request, under the identity
    /// documents' retention: destroyed by the same step, shown with them.
    pub const GIVEN: [Role; 3] = [Role::IdDocument, Role::Mandate, Role::Letter];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdDocument => "id_document",
            Self::Attachment => "attachment",
            Self::Mandate => "mandate",
            Self::Letter => "letter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

stored_as_text!(Role, "role of a file");

/// What an answer of the DPO to the requester is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A message, at any time.
    Message,
    /// The note of the move to `completed`.
    ClosingNote,
    /// The reason of the move to `rejected`.
    RejectionReason,
}

impl MessageKind {
    pub const ALL: [MessageKind; 3] = [
        MessageKind::Message,
        MessageKind::ClosingNote,
        MessageKind::RejectionReason,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::ClosingNote => "closing_note",
            Self::RejectionReason => "rejection_reason",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

stored_as_text!(MessageKind, "kind of answer");

/// Who may make a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The DPO, from the queue.
    Staff,
    /// The requester, by uploading the identity document asked for.
    Requester,
}

/// Every allowed move, and who makes it. Anything else is refused (409).
pub const TRANSITIONS: &[(Status, Status, By)] = {
    use Status::*;
    &[
        (Received, InProgress, By::Staff),
        (Received, AwaitingIdentity, By::Staff),
        (InProgress, AwaitingIdentity, By::Staff),
        (AwaitingIdentity, Received, By::Requester),
        (Received, Completed, By::Staff),
        (InProgress, Completed, By::Staff),
        (Received, Rejected, By::Staff),
        (InProgress, Rejected, By::Staff),
        (AwaitingIdentity, Rejected, By::Staff),
    ]
};

pub fn allowed(from: Status, to: Status, by: By) -> bool {
    TRANSITIONS
        .iter()
        .any(|&(f, t, b)| f == from && t == to && b == by)
}

/// The moves the DPO may make from `from`.
pub fn next_for_staff(from: Status) -> Vec<Status> {
    TRANSITIONS
        .iter()
        .filter(|&&(f, _, b)| f == from && b == By::Staff)
        .map(|&(_, t, _)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_statuses_have_no_way_out() {
        for to in Status::ALL {
            for by in [By::Staff, By::Requester] {
                assert!(!allowed(Status::Completed, to, by));
                assert!(!allowed(Status::Rejected, to, by));
            }
        }
    }

    #[test]
    fn only_the_requester_ends_the_wait_for_an_identity_document() {
        assert!(allowed(
            Status::AwaitingIdentity,
            Status::Received,
            By::Requester
        ));
        assert!(!allowed(
            Status::AwaitingIdentity,
            Status::Received,
            By::Staff
        ));
        assert!(!allowed(
            Status::AwaitingIdentity,
            Status::Completed,
            By::Staff
        ));
        assert!(allowed(
            Status::InProgress,
            Status::AwaitingIdentity,
            By::Staff
        ));
        assert!(!allowed(Status::Received, Status::Received, By::Staff));
    }

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for m in MessageKind::ALL {
            assert_eq!(MessageKind::parse(m.as_str()), Some(m));
        }
        assert_eq!(next_for_staff(Status::Received).len(), 4);
    }
}
