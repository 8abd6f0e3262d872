//! `guichet purge`: a sweep from the command line (system cron), or a dry
//! run showing what a sweep at a given instant would remove.

use chrono::{DateTime, Utc};

use super::{open, CmdResult, Refused};
use crate::clock::Clock;
use crate::config::Settings;
use crate::consent::ConsentStore;
use crate::db::Db;
use crate::retention::lock::SweepLock;
use crate::retention::runs::{self, Trigger};
use crate::retention::sweep::{self, Options, Report};

pub struct PurgeArgs {
    pub as_of: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub tenant: Option<String>,
    pub json: bool,
    /// Seconds to wait for a sweep in progress to end; none: exit at once.
    pub wait_secs: Option<u64>,
}

/// Another sweep holds the lock: nothing was done (exit status 75,
/// EX_TEMPFAIL, so that cron can tell).
#[derive(Debug, thiserror::Error)]
#[error("another retention sweep is in progress; nothing was done (try again later, or pass --wait SECONDS)")]
pub struct Busy;

pub fn purge(settings: &Settings, args: PurgeArgs) -> CmdResult {
    let clock = Clock::system();
    let now = clock.now();
    let as_of = args.as_of.unwrap_or(now);
    if as_of > now && !args.dry_run {
        return Err(Refused(format!(
            "--as-of {} is in the future: a sweep would remove records before their period ends (use --dry-run to see what it would remove)",
            as_of.to_rfc3339()
        ))
        .into());
    }
    let (mut conn, tenants) = open(settings)?;
    let consents = ConsentStore::open(Db::new(&settings.database)?, &settings.database);
    let opts = Options {
        as_of,
        dry_run: args.dry_run,
        tenant: args.tenant.as_deref(),
        trigger: Trigger::Cli,
        slot: None,
    };
    let now_fn = || clock.now().naive_utc();
    let mut lock = None;
    if !args.dry_run {
        let held = match args.wait_secs {
            None => SweepLock::try_acquire(&settings.database)?,
            Some(secs) => {
                SweepLock::acquire_within(&settings.database, std::time::Duration::from_secs(secs))?
            }
        };
        let Some(held) = held else {
            return Err(Busy.into());
        };
        lock = Some(held);
        let tenant_ids = sweep::tenant_ids(&mut conn)?;
        runs::close_interrupted(&mut conn, now.naive_utc(), &tenant_ids).map_err(Refused::from)?;
    }
    let report = sweep::run(
        &mut conn,
        &consents,
        &tenants,
        &settings.retention,
        &opts,
        now_fn,
    )
    .map_err(Refused::from)?;
    drop(lock);
    print_report(&report, args.json);
    Ok(())
}

fn print_report(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).unwrap_or_else(|_| "{}".into())
        );
        return;
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "retention sweep as of {}{}: {} {} record(s){}",
        report.as_of.to_rfc3339(),
        if report.dry_run { " (dry run)" } else { "" },
        verb,
        report.total,
        report
            .run_id
            .as_deref()
            .map(|id| format!(" — run {id}, {}", report.status))
            .unwrap_or_default()
    );
    for (scope, counts) in &report.removed {
        for (category, n) in counts {
            println!("  {scope:<12} {category:<22} {n:>10}");
        }
    }
}
