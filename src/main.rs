//! The `guichet` command: the service and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use guichet::app::Application;
use guichet::cli::{self, purge};
use guichet::clock::Clock;
use guichet::config::Settings;
use guichet::staff::Role;

/// Many small allocations from many threads: mimalloc keeps them cheap;
/// large blocks are mappings of their own (see `guichet::alloc`).
#[global_allocator]
static GLOBAL: guichet::alloc::Allocator = guichet::alloc::Allocator;

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
    /// Staff accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Remove what has outlived its retention period (from system cron, or
    /// to see what a sweep would remove).
    Purge {
        /// Count the periods to this instant (RFC 3339) instead of now; a
        /// real sweep refuses an instant in the future.
        #[arg(long, value_name = "RFC3339")]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Report what a sweep would remove, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this tenant (records of no tenant are then left alone).
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Wait up to this long for a sweep in progress to end, instead of
        /// exiting at once with status 75.
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
    },
    /// Copy every record of the configured database into an empty one
    /// (SQLite to PostgreSQL, or back), then compare the counts of each
    /// table and check every consent receipt there.
    Copy {
        /// The database to copy into: postgres://… or sqlite://path; it
        /// must hold no Guichet data (it is migrated first).
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Copy, while the service runs, everything needed to restore it: the
    /// database (SQLite files or a PostgreSQL dump) and the secrets, into a
    /// new or empty folder, files mode 0600, with a manifest.
    Backup {
        /// The folder to write the backup into (new or empty).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Put a backup back into an empty data folder or database (the
    /// configured one), its secrets into the data folder.
    Restore {
        /// A folder `guichet backup` wrote.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Outgoing mail.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// The generated keys (`storage.data_dir/secrets.toml`).
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Replace a generated key with a new one; the old one is kept as
    /// retired, so that what it hashed still matches. Restart every
    /// instance afterwards.
    Rotate {
        /// The key of the pseudonyms of e-mail and IP addresses.
        #[arg(long, required = true)]
        pseudonym: bool,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Send one test message through the configured transport, now.
    Test {
        /// The address to send the test message to.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
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

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Dpo,
    Admin,
    /// Sees and annotates only the requests a DPO assigns to it.
    Referent,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create an account; the password is read from standard input.
    Add {
        /// Tenant slug (at least one for a DPO or a referent); repeat it for
        /// an account that serves several tenants, the first being its
        /// primary one.
        #[arg(long)]
        tenant: Vec<String>,
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// What the account may do: dpo, admin or referent.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        /// Only the accounts serving this tenant (slug).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Replace the tenants an account serves (the first becomes its
    /// primary tenant).
    SetTenants {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// Tenant slug; repeat it for several (at least one for a DPO).
        #[arg(long)]
        tenant: Vec<String>,
    },
    /// Disable an account: no more sign-in, its tokens stop working.
    Disable {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account: it signs in again.
    Enable {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Delete an account; its journal entries stay, under a pseudonym.
    Delete {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
    },
    /// Replace an account's password (read from standard input) and lift any lock.
    SetPassword {
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// Read the new password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn main() -> ExitCode {
    guichet::alloc::tune_c_allocator();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    guichet::telemetry::init(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => cli::migrate(&settings),
        Command::Tenants {
            command: TenantsCommand::List { json },
        } => cli::list_tenants(&settings, json),
        Command::Users { command } => match command {
            UsersCommand::Add {
                tenant,
                email,
                role,
                password_stdin: _,
            } => {
                let role = match role {
                    RoleArg::Dpo => Role::Dpo,
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Referent => Role::Referent,
                };
                cli::add_user(&settings, tenant, email, role)
            }
            UsersCommand::List { tenant } => cli::list_users(&settings, tenant),
            UsersCommand::SetTenants { email, tenant } => {
                cli::set_tenants(&settings, &email, tenant)
            }
            UsersCommand::Disable { email } => cli::disable_user(&settings, &email),
            UsersCommand::Enable { email } => cli::enable_user(&settings, &email),
            UsersCommand::Delete { email } => cli::delete_user(&settings, &email),
            UsersCommand::SetPassword { email, .. } => cli::set_password(&settings, &email),
        },
        Command::Backup { dir } => cli::backup::backup(&settings, &dir),
        Command::Restore { dir } => cli::backup::restore(&settings, &dir),
        Command::Mail {
            command: MailCommand::Test { to },
        } => cli::mail_test(&settings, &to),
        Command::Copy { to } => cli::copy::copy(&settings, &to),
        Command::Secrets {
            command: SecretsCommand::Rotate { pseudonym: _ },
        } => cli::rotate_pseudonym(&settings),
        Command::Purge {
            as_of,
            dry_run,
            tenant,
            json,
            wait,
        } => purge::purge(
            &settings,
            purge::PurgeArgs {
                as_of,
                dry_run,
                tenant,
                json,
                wait_secs: wait,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<purge::Busy>() => {
            eprintln!("guichet: {e}");
            ExitCode::from(75)
        }
        Err(e) => fail(&*e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("guichet: {e}");
    ExitCode::FAILURE
}

fn serve(settings: Settings) -> cli::CmdResult {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, Clock::system())?;
        app.run_until_stopped().await?;
        Ok(())
    })
}
