//! Operator commands that work on the database directly, without the HTTP
//! service: migrations, tenants, staff accounts; and the rotation of a
//! generated key; a retention sweep (`purge`); copies to another database
//! (`copy`) and backups (`backup`).

pub mod backup;
pub mod copy;
pub mod purge;

use std::io::BufRead;

use crate::app::prepare_database;
use crate::audit::{self, kind};
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{self, ConnectionManager, DbConnection};
use crate::error::ApiError;
use crate::staff::accounts::{self, NewStaff, Role, StaffView};
use crate::staff::password::{check_strength, hash_now};
use crate::staff::tenancy::{self, TenantsChange};
use crate::staff::StaffError;
use crate::tenants::Tenants;

pub type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// An API error told to a person at a terminal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl From<crate::staff::StaffError> for Refused {
    fn from(e: crate::staff::StaffError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::retention::RetentionError> for Refused {
    fn from(e: crate::retention::RetentionError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<crate::tenants::UnknownTenant> for Refused {
    fn from(e: crate::tenants::UnknownTenant) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        if e.errors.is_empty() {
            return Self(e.detail);
        }
        let fields: Vec<String> = e
            .errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        Self(fields.join("; "))
    }
}

pub(crate) fn open(
    settings: &Settings,
) -> Result<(DbConnection, Tenants), Box<dyn std::error::Error>> {
    let tenants = prepare_database(settings, &Clock::system())?;
    let conn = ConnectionManager::new(&settings.database)?.open()?;
    Ok((conn, tenants))
}

/// Applies the migrations, then records the tenants declared.
pub fn migrate(settings: &Settings) -> CmdResult {
    let mut conn = ConnectionManager::new(&settings.database)?.open()?;
    let applied =
        db::migrate::with_startup_lock(&mut conn, &settings.database, db::migrate::run_pending)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for version in applied {
        println!("applied {version}");
    }
    // The database ready to serve: the consent files upgraded, the tenants
    // declared recorded.
    prepare_database(settings, &Clock::system())?;
    Ok(())
}

/// The tenants the configuration declares, as they would be served: read
/// from the configuration alone, writing nothing (no database is opened,
/// no folder made).
pub fn list_tenants(settings: &Settings, json: bool) -> CmdResult {
    for (slug, tenant) in &settings.tenants {
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "slug": slug, "name": tenant.name, "dpo_email": tenant.dpo_email,
                    "postal_address": tenant.postal_address,
                    "allowed_origins": tenant.allowed_origins,
                    "locale": tenant.locale.as_str(),
                    "require_id_document": tenant.require_id_document,
                    // Every tenant declared is served.
                    "active": true,
                })
            );
        } else {
            println!(
                "{:<12} {:<8} {:<42} {:<32} {}",
                slug,
                "active",
                tenant.name,
                tenant.dpo_email,
                tenant.allowed_origins.join(" ")
            );
        }
    }
    Ok(())
}

/// Reads a password from the first line of standard input.
fn password_from_stdin() -> Result<String, Refused> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Refused(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Refused("no password on standard input".into()));
    }
    Ok(password)
}

/// A refusal of the account's tenants, told in the command's terms: the
/// faults of `tenant`, `tenants` or `tenants[i]` are those of `--tenant`.
fn as_option(e: StaffError) -> Refused {
    match e {
        StaffError::Invalid(mut errors) => {
            for f in &mut errors {
                if f.field == "tenant" || f.field.starts_with("tenants") {
                    f.field = "--tenant".into();
                }
            }
            StaffError::Invalid(errors).into()
        }
        other => other.into(),
    }
}

/// `guichet users add`: `tenants` are the `--tenant` options, in order
/// (the first is the account's primary tenant).
pub fn add_user(
    settings: &Settings,
    tenants_given: Vec<String>,
    email: String,
    role: Role,
) -> CmdResult {
    let password = password_from_stdin()?;
    let (mut conn, tenants) = open(settings)?;
    let input = NewStaff {
        tenant: None,
        tenants: Some(tenants_given),
        email,
        role,
        password,
    };
    let tenant_ids = input
        .check(&tenants, settings.auth.min_password_length)
        .map_err(as_option)?;
    let hash = hash_now(&input.password).map_err(Refused::from)?;
    let now = Clock::system().now().naive_utc();
    let row = db::write_transaction::<_, ApiError>(&mut conn, |conn| {
        let row = accounts::insert(conn, &input, tenant_ids, hash, now)?;
        audit::record(
            conn,
            audit::Entry {
                tenant_id: row.tenant_id.as_deref(),
                kind: kind::USER_CREATED,
                subject_id: Some(&row.id),
                detail: Some(serde_json::json!({"role": row.role, "by": "command line"})),
                ..Default::default()
            },
            now,
        )?;
        Ok(row)
    })
    .map_err(Refused::from)?;
    println!("created {} {} ({})", row.role, row.email, row.id);
    Ok(())
}

pub fn list_users(settings: &Settings, tenant: Option<String>) -> CmdResult {
    let (mut conn, tenants) = open(settings)?;
    let tenant_id = match tenant {
        Some(slug) => Some(tenants.get(&slug).map_err(Refused::from)?.id.clone()),
        None => None,
    };
    let now = Clock::system().now().naive_utc();
    let (rows, _) =
        accounts::list(&mut conn, tenant_id.as_deref(), 0, i64::MAX).map_err(Refused::from)?;
    println!("{:<40} {:<8} {:<12} STATE", "EMAIL", "ROLE", "TENANTS");
    for (row, slugs) in rows {
        let view = StaffView::new(row, slugs, now);
        let state = if view.disabled {
            "disabled".to_owned()
        } else if let Some(until) = view.locked_until {
            format!("locked until {}", until.to_rfc3339())
        } else {
            "active".to_owned()
        };
        println!(
            "{:<40} {:<8} {:<12} {}",
            view.email,
            view.role.as_str(),
            if view.tenants.is_empty() {
                "-".to_owned()
            } else {
                view.tenants.join(",")
            },
            state
        );
    }
    Ok(())
}

/// `guichet users set-tenants`: the tenants the account serves from now
/// on, the first its primary one.
pub fn set_tenants(settings: &Settings, email: &str, slugs: Vec<String>) -> CmdResult {
    let (mut conn, tenants) = open(settings)?;
    let row = find_user(&mut conn, email)?;
    let role = Role::parse(&row.role).unwrap_or(Role::Dpo);
    let ids = TenantsChange { tenants: slugs }
        .check(&tenants, role)
        .map_err(as_option)?;
    let named: Vec<String> = ids
        .iter()
        .filter_map(|id| tenants.slug_of(Some(id)))
        .collect();
    let now = Clock::system().now().naive_utc();
    db::write_transaction::<_, ApiError>(&mut conn, |conn| {
        tenancy::set_tenants(conn, &row.id, &ids, now)?;
        Ok(audit::record(
            conn,
            audit::Entry {
                tenant_id: ids.first().map(String::as_str),
                kind: kind::USER_TENANTS_CHANGED,
                subject_id: Some(&row.id),
                detail: Some(serde_json::json!({"tenants": named, "by": "command line"})),
                ..Default::default()
            },
            now,
        )?)
    })
    .map_err(Refused::from)?;
    println!(
        "{} now serves {}",
        row.email,
        if named.is_empty() {
            "-".to_owned()
        } else {
            named.join(",")
        }
    );
    Ok(())
}

fn find_user(conn: &mut DbConnection, email: &str) -> Result<accounts::StaffRow, Refused> {
    accounts::find_by_email(conn, email)
        .map_err(Refused::from)?
        .ok_or_else(|| Refused(format!("no staff account has the e-mail address {email}")))
}

/// Journals a change made to an account from the command line.
fn journal(
    conn: &mut DbConnection,
    row: &accounts::StaffRow,
    kind: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    Ok(audit::record(
        conn,
        audit::Entry {
            tenant_id: row.tenant_id.as_deref(),
            kind,
            subject_id: Some(&row.id),
            detail: Some(serde_json::json!({"by": "command line"})),
            ..Default::default()
        },
        now,
    )?)
}

pub fn disable_user(settings: &Settings, email: &str) -> CmdResult {
    set_enabled(settings, email, false)
}

pub fn enable_user(settings: &Settings, email: &str) -> CmdResult {
    set_enabled(settings, email, true)
}

/// Disables an account (its tokens stop working) or enables it again,
/// journaled.
fn set_enabled(settings: &Settings, email: &str, enabled: bool) -> CmdResult {
    let (mut conn, _) = open(settings)?;
    let row = find_user(&mut conn, email)?;
    let now = Clock::system().now().naive_utc();
    let what = if enabled {
        kind::USER_ENABLED
    } else {
        kind::USER_DISABLED
    };
    db::write_transaction::<_, ApiError>(&mut conn, |conn| {
        accounts::set_disabled(conn, &row.id, !enabled, now)?;
        journal(conn, &row, what, now)
    })
    .map_err(Refused::from)?;
    if enabled {
        println!("enabled {} (it signs in again)", row.email);
    } else {
        println!("disabled {}", row.email);
    }
    Ok(())
}

/// Deletes an account; its journal entries stay under a pseudonym, this
/// deletion's among them.
pub fn delete_user(settings: &Settings, email: &str) -> CmdResult {
    let (mut conn, _) = open(settings)?;
    let row = find_user(&mut conn, email)?;
    let now = Clock::system().now().naive_utc();
    let pseudonym = db::write_transaction::<_, ApiError>(&mut conn, |conn| {
        journal(conn, &row, kind::USER_DELETED, now)?;
        Ok(accounts::delete(conn, &row.id)?)
    })
    .map_err(Refused::from)?;
    println!(
        "deleted {}; its journal entries name it {pseudonym}",
        row.email
    );
    Ok(())
}

pub fn set_password(settings: &Settings, email: &str) -> CmdResult {
    let password = password_from_stdin()?;
    let (mut conn, _) = open(settings)?;
    let row = find_user(&mut conn, email)?;
    check_strength(&password, &row.email, settings.auth.min_password_length)
        .map_err(|why| Refused(format!("password: Password {why}.")))?;
    let hash = hash_now(&password).map_err(Refused::from)?;
    let now = Clock::system().now().naive_utc();
    db::write_transaction::<_, ApiError>(&mut conn, |conn| {
        accounts::set_password(conn, &row.id, &hash, now)?;
        journal(conn, &row, kind::USER_PASSWORD_CHANGED, now)
    })
    .map_err(Refused::from)?;
    println!(
        "password changed for {} (its sessions ended, any lock lifted)",
        row.email
    );
    Ok(())
}

/// Sends one message through the configured transport, now.
pub fn mail_test(settings: &Settings, to: &str) -> CmdResult {
    let mail = crate::mail::Mail::new(settings).map_err(Refused)?;
    let message_id = mail.send_test(to, Clock::system().now()).map_err(Refused)?;
    println!("sent {message_id}");
    Ok(())
}

/// `guichet secrets rotate --pseudonym`: a new pseudonym key in the
/// generated file, the old one retired there (see `secrets`).
pub fn rotate_pseudonym(settings: &Settings) -> CmdResult {
    let path = crate::secrets::rotate_pseudonym(&settings.secrets, &settings.storage.data_dir)?;
    println!(
        "rotated the pseudonym key in {}; the old one is retired there. Restart every instance.",
        path.display()
    );
    Ok(())
}
