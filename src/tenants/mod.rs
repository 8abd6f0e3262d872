//! Tenants: the authorities one Guichet serves. Declared in configuration,
//! synchronised into the database at start, looked up by slug in memory.

mod scope;
pub mod theme;

pub use scope::Scope;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;

pub use crate::config::{
    is_valid_slug, normalise_origin, ConsentPolicyConfig, Greeting, Locale, PurposeCategory,
    PurposeConfig, TenantConfig,
};

use crate::db::schema::tenants;
use crate::db::{DbConnection, DbError};
use crate::error::ApiError;

/// A configured tenant with its database id.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub config: TenantConfig,
    /// Its logo and accent stylesheet, made at start.
    pub theme: Arc<theme::Theme>,
    /// The SHA-256 of its consent policy's canonical JSON, computed once
    /// here rather than on each banner's read and each receipt.
    pub policy_sha256: String,
}

impl Tenant {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.config
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// No active tenant has this slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("No tenant is named `{0}`.")]
pub struct UnknownTenant(pub String);

impl From<UnknownTenant> for ApiError {
    fn from(e: UnknownTenant) -> Self {
        ApiError::not_found(e.to_string())
    }
}

/// The active tenants, by slug.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    by_slug: Arc<HashMap<String, Arc<Tenant>>>,
}

impl Tenants {
    /// The active tenant of that slug; an unknown or inactive one is a 404
    /// at the HTTP edge, like any unknown resource.
    pub fn get(&self, slug: &str) -> Result<Arc<Tenant>, UnknownTenant> {
        self.by_slug
            .get(slug)
            .cloned()
            .ok_or_else(|| UnknownTenant(slug.to_owned()))
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<Tenant>> {
        self.by_slug.values().find(|t| t.id == id).cloned()
    }

    /// The slug of the tenant with this database id, if it is configured.
    pub fn slug_of(&self, id: Option<&str>) -> Option<String> {
        let id = id?;
        self.by_slug
            .values()
            .find(|t| t.id == id)
            .map(|t| t.slug.clone())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.by_slug.values()
    }

    pub fn len(&self) -> usize {
        self.by_slug.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_slug.is_empty()
    }

    /// The same tenants, each with its theme (`theme::load`).
    pub fn with_themes(self, themes: &HashMap<String, Arc<theme::Theme>>) -> Self {
        let by_slug = self
            .by_slug
            .iter()
            .map(|(slug, tenant)| {
                let mut tenant = Tenant::clone(tenant);
                if let Some(theme) = themes.get(slug) {
                    tenant.theme = theme.clone();
                }
                (slug.clone(), Arc::new(tenant))
            })
            .collect();
        Self {
            by_slug: Arc::new(by_slug),
        }
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub dpo_email: String,
    pub postal_address: String,
    pub locale: String,
    pub require_id_document: bool,
    pub allowed_origins: String,
    pub consent_policy: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Writes the configured tenants into the database (inserting new ones,
/// updating changed ones, deactivating those no longer configured) and
/// returns them with their ids. Call it under the start-up lock.
pub fn sync(
    conn: &mut DbConnection,
    configured: &BTreeMap<String, TenantConfig>,
    now: NaiveDateTime,
) -> Result<Tenants, DbError> {
    crate::db::write_transaction(conn, |conn| {
        let existing: Vec<TenantRow> = tenants::table.select(TenantRow::as_select()).load(conn)?;
        let mut by_slug = HashMap::new();
        for (slug, cfg) in configured {
            let mut row = TenantRow {
                id: String::new(),
                slug: slug.clone(),
                name: cfg.name.clone(),
                dpo_email: cfg.dpo_email.clone(),
                postal_address: cfg.postal_address.clone(),
                locale: cfg.locale.as_str().to_owned(),
                require_id_document: cfg.require_id_document,
                allowed_origins: serde_json::to_string(&cfg.allowed_origins)
                    .unwrap_or_else(|_| "[]".into()),
                consent_policy: serde_json::to_string(&cfg.consent).unwrap_or_else(|_| "{}".into()),
                active: true,
                created_at: now,
                updated_at: now,
            };
            match existing.iter().find(|r| &r.slug == slug) {
                Some(old) => {
                    row.id = old.id.clone();
                    row.created_at = old.created_at;
                    if !same_content(old, &row) {
                        diesel::update(tenants::table.find(&row.id))
                            .set(&row)
                            .execute(conn)?;
                    }
                }
                None => {
                    row.id = uuid::Uuid::now_v7().to_string();
                    diesel::insert_into(tenants::table)
                        .values(&row)
                        .execute(conn)?;
                }
            }
            let policy_sha256 = record_policy(conn, &row.id, slug, &cfg.consent, now)?;
            by_slug.insert(
                slug.clone(),
                Arc::new(Tenant {
                    id: row.id,
                    slug: slug.clone(),
                    config: cfg.clone(),
                    theme: Default::default(),
                    policy_sha256,
                }),
            );
        }
        let gone: Vec<&str> = existing
            .iter()
            .filter(|r| r.active && !configured.contains_key(&r.slug))
            .map(|r| r.id.as_str())
            .collect();
        if !gone.is_empty() {
            diesel::update(tenants::table.filter(tenants::id.eq_any(gone)))
                .set((tenants::active.eq(false), tenants::updated_at.eq(now)))
                .execute(conn)?;
        }
        Ok(Tenants {
            by_slug: Arc::new(by_slug),
        })
    })
}

/// Records the tenant's consent policy among those it has served, unless it
/// is the current one already: the current one's validity ends now and
/// this one's begins (`consent_policy_versions`). Returns its SHA-256.
fn record_policy(
    conn: &mut DbConnection,
    tenant_id: &str,
    slug: &str,
    policy: &ConsentPolicyConfig,
    now: NaiveDateTime,
) -> Result<String, DbError> {
    use crate::db::schema::consent_policy_versions as versions;
    let (canonical, sha256) = policy.proof(slug);
    let current: Option<(String, String)> = versions::table
        .filter(versions::tenant_id.eq(tenant_id))
        .filter(versions::valid_to.is_null())
        .select((versions::id, versions::sha256))
        .first(conn)
        .optional()?;
    match current {
        Some((_, hash)) if hash == sha256 => return Ok(sha256),
        Some((id, _)) => {
            diesel::update(versions::table.find(id))
                .set(versions::valid_to.eq(Some(now)))
                .execute(conn)?;
        }
        None => {}
    }
    diesel::insert_into(versions::table)
        .values((
            versions::id.eq(uuid::Uuid::now_v7().to_string()),
            versions::tenant_id.eq(tenant_id),
            versions::policy_version.eq(&policy.policy_version),
            versions::sha256.eq(&sha256),
            versions::policy.eq(&canonical),
            versions::valid_from.eq(now),
            versions::valid_to.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(sha256)
}

fn same_content(a: &TenantRow, b: &TenantRow) -> bool {
    a.name == b.name
        && a.dpo_email == b.dpo_email
        && a.postal_address == b.postal_address
        && a.locale == b.locale
        && a.require_id_document == b.require_id_document
        && a.allowed_origins == b.allowed_origins
        && a.consent_policy == b.consent_policy
        && a.active == b.active
}

/// Every stored tenant, active or not, ordered by slug.
pub fn list_stored(conn: &mut DbConnection) -> Result<Vec<TenantRow>, DbError> {
    Ok(tenants::table
        .select(TenantRow::as_select())
        .order(tenants::slug.asc())
        .load(conn)?)
}
