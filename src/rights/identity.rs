//! The DPO decides on the requester's identity (what was decided and how
//! it was checked, stored as the text of their names), then keeps no more
//! of it than needed: the outcome, the method, when and by whom stay with the
//! request; with the tenant's `delete_id_documents_on_verification`, a
//! verified identity destroys the identity documents' contents at once
//! (EDPB guidelines 01/2022 on the right of access, §78), their metadata
//! staying.

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::error::RightsError;
use super::lifecycle::{stored_as_text, Action};
use super::queue::visible;
use super::service::RightsService;
use super::store::{self, RequestRow};
use crate::audit::{self, Entry};
use crate::error::ApiError;
use crate::http::ValidatedJson;
use crate::staff::Staff;

/// The DPO's decision on the requester's identity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum IdentityOutcome {
    /// The requester is who the request says.
    Verified,
    /// What was shown does not prove it.
    Insufficient,
}

impl IdentityOutcome {
    pub const ALL: [IdentityOutcome; 2] = [Self::Verified, Self::Insufficient];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Insufficient => "insufficient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

stored_as_text!(IdentityOutcome, "identity outcome");

/// How the identity was checked (décret 2019-536, art. 77: "par tout
/// moyen").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMethod {
    /// A copy of an identity document.
    IdDocument,
    /// The requester seen in person, at a counter.
    InPerson,
    /// An identity provider's verified data.
    Franceconnect,
    Other,
}

impl IdentityMethod {
    pub const ALL: [IdentityMethod; 4] = [
        Self::IdDocument,
        Self::InPerson,
        Self::Franceconnect,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdDocument => "id_document",
            Self::InPerson => "in_person",
            Self::Franceconnect => "franceconnect",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

stored_as_text!(IdentityMethod, "identity method");

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRequest {
    pub outcome: IdentityOutcome,
    pub method: IdentityMethod,
    /// For the DPO's colleagues: in no e-mail to the requester (the
    /// request's export carries it); erased with the requester's data.
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        length(max = 1000, message = "must be at most 1000 characters"),
        custom(function = "crate::http::plain_text")
    )]
    pub note: Option<String>,
}

/// The DPO's latest decision on the requester's identity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityView {
    pub outcome: IdentityOutcome,
    pub method: IdentityMethod,
    pub at: DateTime<Utc>,
    /// The staff member's e-mail.
    pub by: String,
    /// Until the requester's data are erased.
    pub note: Option<String>,
}

impl IdentityView {
    /// The decision a request holds, if any.
    pub fn of(row: &RequestRow) -> Option<Self> {
        Some(Self {
            outcome: row.identity_outcome?,
            method: row.identity_method?,
            at: row.identity_at?.and_utc(),
            by: row.identity_by.clone()?,
            note: row.identity_note.clone(),
        })
    }
}

/// The decision recorded, and what it destroyed.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityDecided {
    pub outcome: IdentityOutcome,
    pub method: IdentityMethod,
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: Option<String>,
    /// Identity documents whose contents this decision destroyed (a
    /// verified identity, with the tenant's
    /// `delete_id_documents_on_verification`).
    #[schema(minimum = 0)]
    pub documents_destroyed: usize,
}

/// Records the DPO's decision on the requester's identity.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body = IdentityRequest,
    responses(
        (status = 200, description = "Recorded, replacing an earlier decision (the timeline keeps both).", body = IdentityDecided),
        (status = 404, description = "No such request (or another tenant's)."),
        (status = 409, description = "The request is closed (`request_closed`), or a concurrent change got in the way (`concurrent_change`)."),
        (status = 422, description = "An unknown outcome or method, or a note too long or with control characters."),
    )
)]
#[post("/v1/dpo/requests/{id}/identity")]
pub async fn decide(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    body: ValidatedJson<IdentityRequest>,
) -> Result<HttpResponse, ApiError> {
    let decided = record(&rights, &staff, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(decided))
}

/// Records the decision on an open request the staff member may see, on
/// its timeline and in the audit log (by the request's reference); a later
/// decision replaces an earlier one. With the tenant's setting, a verified
/// identity destroys the identity documents' contents in the same
/// transaction.
pub async fn record(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: IdentityRequest,
) -> Result<IdentityDecided, RightsError> {
    let IdentityRequest {
        outcome,
        method,
        note,
    } = body;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    let row = visible(rights, staff, id).await?;
    let tenant = rights
        .tenants
        .by_id(&row.tenant_id)
        .ok_or(RightsError::UnknownRequest)?;
    let destroy =
        outcome == IdentityOutcome::Verified && tenant.config.delete_id_documents_on_verification;
    let at = rights.clock.now().naive_utc();
    let actor = staff.clone();
    rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // Held until the decision commits: of two decisions made
                // at once, the second waits and replaces the first whole.
                let mut row = store::lock(conn, &row.id)?.ok_or(RightsError::UnknownRequest)?;
                if !row.is_open {
                    return Err(RightsError::RequestClosed);
                }
                row.identity_outcome = Some(outcome);
                row.identity_method = Some(method);
                row.identity_at = Some(at);
                row.identity_by = Some(actor.email.clone());
                row.identity_note = note.clone();
                // Deciding on it, the DPO has seen what arrived.
                row.new_document_at = None;
                row.updated_at = at;
                store::save(conn, &row)?;
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::IdentityDecided,
                    None,
                    Some(serde_json::json!({
                        "outcome": outcome.as_str(), "method": method.as_str(), "note": note,
                    })),
                )?;
                let destroyed = if destroy {
                    store::destroy_id_documents(conn, &row.id, at)?
                } else {
                    0
                };
                if destroyed > 0 {
                    store::add_event(
                        conn,
                        &row.id,
                        at,
                        &actor.email,
                        Action::IdentityDocumentsDestroyed,
                        None,
                        Some(serde_json::json!({"documents": destroyed})),
                    )?;
                }
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_IDENTITY_DECIDED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.reference),
                        detail: Some(serde_json::json!({
                            "outcome": outcome.as_str(), "method": method.as_str(),
                            "documents_destroyed": destroyed,
                        })),
                        ..Default::default()
                    },
                    at,
                )?;
                Ok(IdentityDecided {
                    outcome,
                    method,
                    at: at.and_utc(),
                    by: actor.email.clone(),
                    note,
                    documents_destroyed: destroyed,
                })
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in IdentityOutcome::ALL {
            assert_eq!(IdentityOutcome::parse(o.as_str()), Some(o));
        }
        for m in IdentityMethod::ALL {
            assert_eq!(IdentityMethod::parse(m.as_str()), Some(m));
        }
    }
}
