//! Staff accounts in the database, and the rules for creating one, shared
//! by the command line and the admin API.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::ValidateEmail;

use super::password::check_strength;
use super::tenancy;
use super::StaffError;
use crate::db::schema::{staff_tenants, staff_users};
use crate::db::DbConnection;
use crate::error::FieldError;
use crate::tenants::Tenants;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works the requests of its tenants (one, or several for a shared DPO).
    Dpo,
    /// Runs the platform: every tenant.
    Admin,
    /// A service's contact (état civil, urbanisme…): sees and annotates
    /// only the requests a DPO assigned to it, in its tenant.
    Referent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dpo => "dpo",
            Self::Admin => "admin",
            Self::Referent => "referent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dpo" => Some(Self::Dpo),
            "admin" => Some(Self::Admin),
            "referent" => Some(Self::Referent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_users)]
pub struct StaffRow {
    pub id: String,
    /// The account's first (primary) tenant, which its tokens name; every
    /// tenant it serves is in `staff_tenants` (`super::tenancy`).
    pub tenant_id: Option<String>,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    /// Until when sign-ins to this account are refused, as set by the
    /// sign-in locks (`super::lockout`), for display.
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Carried by the account's tokens: a new password or a disabled
    /// account bumps it, and tokens of an older generation are refused.
    pub token_generation: i64,
}

/// A staff account as shown to admins: never its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    #[schema(format = "uuid")]
    pub id: String,
    pub email: String,
    pub role: Role,
    /// Slug of the account's first (primary) tenant; none for a platform
    /// admin.
    pub tenant: Option<String>,
    /// Slugs of every tenant the account serves, the primary first.
    pub tenants: Vec<String>,
    pub disabled: bool,
    /// Set while the account is locked after failed logins.
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl StaffView {
    /// `tenants`: the slugs of the account's tenants, the primary first.
    pub fn new(row: StaffRow, tenants: Vec<String>, now: NaiveDateTime) -> Self {
        Self {
            id: row.id,
            email: row.email,
            role: Role::parse(&row.role).unwrap_or(Role::Dpo),
            tenant: tenants.first().cloned(),
            tenants,
            disabled: row.disabled,
            locked_until: row.locked_until.filter(|t| *t > now).map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
        }
    }
}

/// An account to create, checked first by its own rules (`validate`), then
/// by those that need the tenants and the configuration (`check`).
#[derive(Debug, Clone, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    /// Tenant slug: the account's only tenant, or with `tenants` its first
    /// (primary) one, which must then be among them. A DPO or a referent
    /// needs `tenant` or `tenants`; an admin sees every tenant anyway.
    #[schema(pattern = "^[a-z0-9-]{2,40}$")]
    pub tenant: Option<String>,
    /// Slugs of every tenant the account serves (a DPO shared by several
    /// communes); the first is its primary tenant unless `tenant` names
    /// another. Each must be a known tenant; not empty for a DPO.
    #[serde(default)]
    pub tenants: Option<Vec<String>>,
    #[schema(format = "email", max_length = 254)]
    #[validate(custom(function = "staff_email"))]
    pub email: String,
    pub role: Role,
    /// At least `auth.min_password_length` characters, not among the most
    /// common passwords, not built on the e-mail address.
    #[schema(min_length = 12, max_length = 256, format = "password")]
    pub password: String,
}

/// An account's address, as it is kept (trimmed, lower case): an e-mail
/// address of at most 254 characters.
fn staff_email(email: &str) -> Result<(), validator::ValidationError> {
    let email = normalise_email(email);
    if email.len() > 254 || !email.validate_email() {
        return Err(validator::ValidationError::new("email")
            .with_message("must be an e-mail address".into()));
    }
    Ok(())
}

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl NewStaff {
    /// Checks every field; returns the ids of the account's tenants, its
    /// primary one first.
    pub fn check(&self, tenants: &Tenants, min_password: usize) -> Result<Vec<String>, StaffError> {
        let mut errors = match validator::Validate::validate(self) {
            Ok(()) => Vec::new(),
            Err(found) => crate::http::validation_problem(found).errors,
        };
        let mut push = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.into(),
                message,
            })
        };
        let email = normalise_email(&self.email);
        if let Err(why) = check_strength(&self.password, &email, min_password) {
            push("password", format!("Password {why}."));
        }
        let mut ids = Vec::new();
        if let Some(slug) = &self.tenant {
            match tenants.get(slug) {
                Ok(t) => ids.push(t.id.clone()),
                Err(_) => push(
                    "tenant",
                    format!("no tenant is named `{}`", slug.escape_debug()),
                ),
            }
        }
        if let Some(slugs) = &self.tenants {
            match tenancy::tenant_ids(tenants, "tenants", slugs) {
                Ok(listed) => {
                    if ids.first().is_some_and(|p| !listed.contains(p)) {
                        push(
                            "tenant",
                            "must be one of `tenants` when both are given".into(),
                        );
                    }
                    for id in listed {
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                }
                Err(faults) => errors.extend(faults),
            }
        }
        if self.role != Role::Admin
            && ids.is_empty()
            && errors.iter().all(|e| !e.field.starts_with("tenant"))
        {
            let (field, message) = if self.tenants.is_some() {
                (
                    "tenants",
                    "must name at least one tenant for a DPO or a referent",
                )
            } else {
                (
                    "tenant",
                    "is required for a DPO or a referent (or `tenants`)",
                )
            };
            errors.push(FieldError {
                field: field.into(),
                message: message.into(),
            });
        }
        if errors.is_empty() {
            Ok(ids)
        } else {
            Err(StaffError::Invalid(errors))
        }
    }
}

/// Inserts an account serving `tenant_ids` (the primary first); an e-mail
/// address already in use is a 409.
pub fn insert(
    conn: &mut DbConnection,
    input: &NewStaff,
    tenant_ids: Vec<String>,
    password_hash: String,
    now: NaiveDateTime,
) -> Result<StaffRow, StaffError> {
    let email = normalise_email(&input.email);
    let taken: i64 = staff_users::table
        .filter(staff_users::email.eq(&email))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(StaffError::EmailTaken);
    }
    let row = StaffRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_ids.first().cloned(),
        email,
        password_hash,
        role: input.role.as_str().into(),
        disabled: false,
        locked_until: None,
        created_at: now,
        updated_at: now,
        token_generation: 0,
    };
    diesel::insert_into(staff_users::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => StaffError::EmailTaken,
            other => other.into(),
        })?;
    tenancy::insert(conn, &row.id, &tenant_ids)?;
    Ok(row)
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<StaffRow>, StaffError> {
    Ok(staff_users::table
        .find(id)
        .select(StaffRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<StaffRow>, StaffError> {
    Ok(staff_users::table
        .filter(staff_users::email.eq(normalise_email(email)))
        .select(StaffRow::as_select())
        .first(conn)
        .optional()?)
}

/// An account and the slugs of its tenants, the primary first.
pub type AccountWithTenants = (StaffRow, Vec<String>);

/// Accounts with their tenants' slugs, optionally of those serving one
/// tenant, by e-mail.
pub fn list(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AccountWithTenants>, i64), StaffError> {
    let base = || {
        let mut q = staff_users::table.into_boxed();
        if let Some(t) = tenant_id {
            q = q.filter(
                staff_users::id.eq_any(
                    staff_tenants::table
                        .filter(staff_tenants::tenant_id.eq(t.to_owned()))
                        .select(staff_tenants::staff_id),
                ),
            );
        }
        q
    };
    let total: i64 = base().count().get_result(conn)?;
    let rows: Vec<StaffRow> = base()
        .select(StaffRow::as_select())
        .order(staff_users::email.asc())
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let served = tenancy::slugs_of_accounts(conn, &ids)?;
    let rows = rows
        .into_iter()
        .map(|row| {
            let slugs = served
                .iter()
                .filter(|(id, _)| *id == row.id)
                .map(|(_, slug)| slug.clone())
                .collect();
            (row, slugs)
        })
        .collect();
    Ok((rows, total))
}

/// Disables or enables an account; either way its tokens stop working.
pub fn set_disabled(
    conn: &mut DbConnection,
    id: &str,
    disabled: bool,
    now: NaiveDateTime,
) -> Result<(), StaffError> {
    diesel::update(staff_users::table.find(id))
        .set((
            staff_users::disabled.eq(disabled),
            staff_users::token_generation.eq(staff_users::token_generation + 1),
            staff_users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the password, ends the account's sessions and lifts any lock.
pub fn set_password(
    conn: &mut DbConnection,
    id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> Result<(), StaffError> {
    diesel::update(staff_users::table.find(id))
        .set((
            staff_users::password_hash.eq(hash),
            staff_users::token_generation.eq(staff_users::token_generation + 1),
            staff_users::locked_until.eq(None::<NaiveDateTime>),
            staff_users::updated_at.eq(now),
        ))
        .execute(conn)?;
    super::lockout::lift_for_account(conn, id)?;
    Ok(())
}

/// Shows (or, with `None`, clears) the end of the account's sign-in lock.
pub fn show_lock(
    conn: &mut DbConnection,
    id: &str,
    until: Option<NaiveDateTime>,
) -> Result<(), StaffError> {
    diesel::update(staff_users::table.find(id))
        .set(staff_users::locked_until.eq(until))
        .execute(conn)?;
    Ok(())
}

/// Where requests name a staff member by address (their timelines, the
/// messages and notes they wrote, the assignments they made, the identity
/// they verified), the pseudonym of the deleted account instead.
fn pseudonymise_in_requests(
    conn: &mut DbConnection,
    email: &str,
    pseudonym: &str,
) -> QueryResult<()> {
    use crate::db::schema::{
        request_assignments as assignments, request_events as events, request_messages as messages,
        request_notes as notes, rights_requests as requests,
    };
    diesel::update(events::table.filter(events::actor.eq(email)))
        .set(events::actor.eq(pseudonym))
        .execute(conn)?;
    diesel::update(messages::table.filter(messages::author.eq(email)))
        .set(messages::author.eq(pseudonym))
        .execute(conn)?;
    diesel::update(notes::table.filter(notes::author.eq(email)))
        .set(notes::author.eq(pseudonym))
        .execute(conn)?;
    diesel::update(assignments::table.filter(assignments::assigned_by.eq(email)))
        .set(assignments::assigned_by.eq(pseudonym))
        .execute(conn)?;
    diesel::update(requests::table.filter(requests::identity_by.eq(email)))
        .set(requests::identity_by.eq(pseudonym))
        .execute(conn)?;
    Ok(())
}

/// Deletes an account, its sign-in locks and its tenants; its journal
/// entries stay under a pseudonym (`audit::pseudonymise_account`), and so
/// do the requests' records of what it did (`pseudonymise_in_requests`). An
/// account that requests are assigned to is refused: disable it instead.
pub fn delete(conn: &mut DbConnection, id: &str) -> Result<String, StaffError> {
    use crate::db::schema::{login_locks, request_assignments, staff_tenants};
    let assigned: i64 = request_assignments::table
        .filter(request_assignments::referent_id.eq(id))
        .count()
        .get_result(conn)?;
    if assigned > 0 {
        return Err(StaffError::Invalid(vec![FieldError {
            field: "email".into(),
            message: format!(
                "requests are assigned to this account ({assigned}); disable it instead"
            ),
        }]));
    }
    let email: String = staff_users::table
        .find(id)
        .select(staff_users::email)
        .first(conn)?;
    let pseudonym = crate::audit::pseudonymise_account(conn, id)?;
    pseudonymise_in_requests(conn, &email, &pseudonym)?;
    diesel::delete(login_locks::table.filter(login_locks::account_id.eq(id))).execute(conn)?;
    diesel::delete(staff_tenants::table.filter(staff_tenants::staff_id.eq(id))).execute(conn)?;
    diesel::delete(staff_users::table.find(id)).execute(conn)?;
    Ok(pseudonym)
}
