//! The `guichet` command: the service and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use guichet::app::{self, Application};
use guichet::clock::Clock;
use guichet::config::Settings;
use guichet::db::{self, ConnectionManager};
use guichet::tenants;

#[derive(Parser)]
#[command(
    name = "guichet",
    version,
    about = "Cookie consents and GDPR rights requests for local authorities"
)]
struct Cli {
    /// A TOML file read after config/default.toml and config/{GUICHET_ENV}.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Tenants declared in configuration.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Synchronise the configured tenants into the database and list them.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    guichet::telemetry::init(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Tenants {
            command: TenantsCommand::List { json },
        } => list_tenants(&settings, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&*e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("guichet: {e}");
    ExitCode::FAILURE
}

type CmdResult = Result<(), Box<dyn std::error::Error>>;

fn serve(settings: Settings) -> CmdResult {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, Clock::system())?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn migrate(settings: &Settings) -> CmdResult {
    let mut conn = ConnectionManager::new(&settings.database)?.open()?;
    let applied = db::migrate::with_startup_lock(&mut conn, db::migrate::run_pending)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for version in applied {
        println!("applied {version}");
    }
    Ok(())
}

fn list_tenants(settings: &Settings, json: bool) -> CmdResult {
    app::prepare_database(settings, &Clock::system())?;
    let mut conn = ConnectionManager::new(&settings.database)?.open()?;
    let rows = tenants::list_stored(&mut conn)?;
    for row in rows {
        let origins: Vec<String> = serde_json::from_str(&row.allowed_origins).unwrap_or_default();
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "slug": row.slug, "name": row.name, "dpo_email": row.dpo_email,
                    "postal_address": row.postal_address, "allowed_origins": origins,
                    "locale": row.locale, "require_id_document": row.require_id_document,
                    "active": row.active,
                })
            );
        } else {
            println!(
                "{:<12} {:<8} {:<42} {:<32} {}",
                row.slug,
                if row.active { "active" } else { "inactive" },
                row.name,
                row.dpo_email,
                origins.join(" ")
            );
        }
    }
    Ok(())
}
