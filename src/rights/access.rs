//! Who may read a request: a DPO those of its tenant, an admin any, a
//! referent only those assigned to it. Anything else is a 404, as if the
//! request did not exist.

use diesel::prelude::*;

use super::error::RightsError;
use super::service::RightsService;
use super::store::{self, RequestRow};
use crate::db::schema::request_assignments as assignments;
use crate::db::DbConnection;
use crate::staff::Staff;

/// Loads a request the staff member may see and act on (a DPO's tenant's,
/// any for an admin, none for a referent); anything else is a 404.
pub async fn visible(
    rights: &RightsService,
    staff: &Staff,
    id: String,
) -> Result<RequestRow, RightsError> {
    // Ids are UUIDs: anything else names no request, and never reaches
    // the database (PostgreSQL refuses a NUL in a text).
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(RightsError::UnknownRequest);
    }
    let row = rights
        .run(move |conn| Ok(store::find(conn, &id)?))
        .await?
        .filter(|r| staff.can_see(&r.tenant_id))
        .ok_or(RightsError::UnknownRequest)?;
    Ok(row)
}

/// Whether this referent account has been assigned this request.
fn is_assigned(conn: &mut DbConnection, request_id: &str, referent_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        assignments::table
            .filter(assignments::request_id.eq(request_id))
            .filter(assignments::referent_id.eq(referent_id)),
    ))
    .get_result(conn)
}

/// Loads a request the staff member may read: for a referent, one
/// assigned to it; for anyone else, as `visible`. Anything else is
/// a 404.
pub async fn readable(
    rights: &RightsService,
    staff: &Staff,
    id: String,
) -> Result<RequestRow, RightsError> {
    if !staff.is_referent() {
        return visible(rights, staff, id).await;
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(RightsError::UnknownRequest);
    }
    let referent = staff.id.clone();
    rights
        .run(move |conn| {
            Ok(match store::find(conn, &id)? {
                Some(row) if is_assigned(conn, &id, &referent)? => Some(row),
                _ => None,
            })
        })
        .await?
        .ok_or(RightsError::UnknownRequest)
}
