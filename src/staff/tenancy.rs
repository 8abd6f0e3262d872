//! The tenants a staff account serves (table `staff_tenants`): one for most
//! DPOs, several for a DPO shared by communes; `staff_users.tenant_id` is
//! the first, primary one, which the account's tokens name. Shared by the
//! command line and the admin API.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use super::accounts::Role;
use super::StaffError;
use crate::db::schema::{staff_tenants, staff_users, tenants};
use crate::db::DbConnection;
use crate::error::FieldError;
use crate::tenants::Tenants;

/// The ids of the tenants named by `slugs` (in order, without repeats),
/// each unknown one a fault of `field[i]`.
pub fn tenant_ids(
    tenants: &Tenants,
    field: &str,
    slugs: &[String],
) -> Result<Vec<String>, Vec<FieldError>> {
    let (mut ids, mut errors) = (Vec::new(), Vec::new());
    for (i, slug) in slugs.iter().enumerate() {
        match tenants.get(slug.trim()) {
            Ok(t) if ids.contains(&t.id) => {}
            Ok(t) => ids.push(t.id.clone()),
            Err(_) => errors.push(FieldError {
                field: format!("{field}[{i}]"),
                message: format!("no tenant is named `{}`", slug.escape_debug()),
            }),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(errors)
    }
}

/// The tenants an existing account is to serve from now on
/// (`PUT /v1/admin/users/{id}/tenants`, `guichet users set-tenants`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantsChange {
    /// Slugs, the primary tenant first; each a known tenant; not empty for
    /// a DPO or a referent.
    pub tenants: Vec<String>,
}

impl TenantsChange {
    /// The ids of the tenants named, for an account of `role`.
    pub fn check(&self, tenants: &Tenants, role: Role) -> Result<Vec<String>, StaffError> {
        let ids = tenant_ids(tenants, "tenants", &self.tenants).map_err(StaffError::Invalid)?;
        if ids.is_empty() && role != Role::Admin {
            return Err(StaffError::Invalid(vec![FieldError {
                field: "tenants".into(),
                message: "must name at least one tenant for a DPO or a referent".into(),
            }]));
        }
        Ok(ids)
    }
}

/// Records the tenants an account serves, in order (one row at a time:
/// the multi-backend connection inserts no batch).
pub(super) fn insert(
    conn: &mut DbConnection,
    staff_id: &str,
    tenant_ids: &[String],
) -> QueryResult<()> {
    for (position, tenant_id) in tenant_ids.iter().enumerate() {
        diesel::insert_into(staff_tenants::table)
            .values((
                staff_tenants::staff_id.eq(staff_id),
                staff_tenants::tenant_id.eq(tenant_id),
                staff_tenants::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The ids of the tenants an account serves, its primary one first.
pub fn tenants_of(conn: &mut DbConnection, staff_id: &str) -> QueryResult<Vec<String>> {
    staff_tenants::table
        .filter(staff_tenants::staff_id.eq(staff_id))
        .order((
            staff_tenants::position.asc(),
            staff_tenants::tenant_id.asc(),
        ))
        .select(staff_tenants::tenant_id)
        .load(conn)
}

/// Replaces the tenants an account serves (the first becomes its primary
/// one). Its sessions stay open unless the primary tenant changes: the
/// tokens name it, and one that no longer matches is refused.
pub fn set_tenants(
    conn: &mut DbConnection,
    id: &str,
    tenant_ids: &[String],
    now: NaiveDateTime,
) -> Result<(), StaffError> {
    diesel::delete(staff_tenants::table.filter(staff_tenants::staff_id.eq(id))).execute(conn)?;
    insert(conn, id, tenant_ids)?;
    diesel::update(staff_users::table.find(id))
        .set((
            staff_users::tenant_id.eq(tenant_ids.first().cloned()),
            staff_users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The slugs of an account's tenants, the primary first.
pub fn tenant_slugs(conn: &mut DbConnection, staff_id: &str) -> QueryResult<Vec<String>> {
    staff_tenants::table
        .inner_join(tenants::table)
        .filter(staff_tenants::staff_id.eq(staff_id))
        .order((staff_tenants::position.asc(), tenants::slug.asc()))
        .select(tenants::slug)
        .load(conn)
}

/// The slugs of the tenants of each of these accounts: (account id, slug),
/// by account, the primary first.
pub fn slugs_of_accounts(
    conn: &mut DbConnection,
    ids: &[&str],
) -> QueryResult<Vec<(String, String)>> {
    staff_tenants::table
        .inner_join(tenants::table)
        .filter(staff_tenants::staff_id.eq_any(ids))
        .order((
            staff_tenants::staff_id.asc(),
            staff_tenants::position.asc(),
            tenants::slug.asc(),
        ))
        .select((staff_tenants::staff_id, tenants::slug))
        .load(conn)
}
