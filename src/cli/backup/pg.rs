//! PostgreSQL's half of a backup: `pg_dump --format=custom` (one snapshot
//! of the whole database, taken while it serves) and `pg_restore` into an
//! empty database, in one transaction. The password goes to the tools
//! through their environment, never on a command line others can read.

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use secrecy::ExposeSecret;

use super::Refused;
use crate::config::DatabaseSettings;
use crate::db::DbConnection;

/// The dump's name in a backup folder.
pub const DUMP: &str = "database.dump";

/// A client tool with the database's address, password and time-out.
fn tool(name: &str, settings: &DatabaseSettings) -> Result<Command, Refused> {
    let mut url = url::Url::parse(settings.url.expose_secret())
        .map_err(|e| Refused(format!("database.url is not a URL: {e}")))?;
    let password = url.password().map(str::to_owned);
    let _ = url.set_password(None);
    let mut cmd = Command::new(name);
    cmd.env(
        "PGCONNECT_TIMEOUT",
        settings.connect_timeout_secs.to_string(),
    )
    .arg(format!("--dbname={url}"));
    if let Some(p) = password {
        let decoded = percent_decode(&p);
        cmd.env("PGPASSWORD", decoded);
    }
    Ok(cmd)
}

/// `%xx` escapes of a URL's password, decoded.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Runs a client tool; its first line of complaint when it fails, or a
/// line naming the tool when it is not installed.
fn run(mut cmd: Command, name: &str) -> Result<(), Refused> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Refused(format!(
                "{name} is not installed: install the PostgreSQL client programs \
                 (Debian: postgresql-client) of the server's major version"
            ))
        } else {
            Refused(format!("cannot run {name}: {e}"))
        }
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = crate::db::first_line(&stderr).unwrap_or("no message");
    Err(Refused(format!("{name} failed: {line}")))
}

/// Dumps the whole database into `file` (created 0600 beforehand: the
/// tool keeps the mode of the file it overwrites).
pub fn dump(settings: &DatabaseSettings, file: &Path) -> Result<(), Refused> {
    super::private_file(file, b"")?;
    let mut cmd = tool("pg_dump", settings)?;
    cmd.args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
        .arg(file);
    run(cmd, "pg_dump")
}

/// Restores a dump into the configured database, all or nothing.
pub fn restore(settings: &DatabaseSettings, file: &Path) -> Result<(), Refused> {
    let mut cmd = tool("pg_restore", settings)?;
    cmd.args([
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ])
    .arg(file);
    run(cmd, "pg_restore")
}

/// Whether the database already has Guichet's tables (its migrations'
/// record, or any table of its own), in the schema it would use.
pub fn holds_guichet(conn: &mut DbConnection) -> Result<bool, Refused> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Found = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_catalog.pg_tables WHERE schemaname = current_schema() \
         AND tablename IN ('__diesel_schema_migrations', 'tenants', 'rights_requests', \
         'consent_events', 'staff_users')",
    )
    .get_result(conn)
    .map_err(|e| Refused(format!("cannot inspect the target database: {e}")))?;
    Ok(found.n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_leaves_the_command_line_decoded() {
        let mut settings = crate::config::Settings::embedded_defaults()
            .unwrap()
            .database;
        settings.url = "postgres://app:p%40ss+w@db.example:6432/guichet".into();
        let cmd = tool("pg_dump", &settings).unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["--dbname=postgres://app@db.example:6432/guichet"]);
        let password = cmd
            .get_envs()
            .find(|(k, _)| *k == "PGPASSWORD")
            .and_then(|(_, v)| v)
            .unwrap();
        assert_eq!(password, "p@ss+w");
    }
}
