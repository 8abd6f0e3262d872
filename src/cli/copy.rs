//! `guichet copy --to URL`: every record of the configured database copied
//! into an empty one, SQLite to PostgreSQL or back, then the counts of each
//! table compared and every consent receipt on the target checked with
//! the public key.
//!
//! The source is read in one snapshot (a `REPEATABLE READ` transaction on
//! PostgreSQL; on SQLite the service must be stopped, its lock is taken).
//! The target is migrated first; one that holds any Guichet data is
//! refused before anything is written to it. Its tables are written in one
//! transaction, then its consent events a batch at a time.

use super::{open, CmdResult, Refused};
use crate::config::Settings;
use crate::consent::partitions::Partitioning;
use crate::consent::transfer::{self as consents, Events};
use crate::consent::ReceiptSigner;
use crate::db::transfer::{self, TABLES};
use crate::db::{self, describe_url, ConnectionManager, DbConnection};
use crate::secrets::Secrets;

/// A table's rows on each side, as printed.
struct Line {
    name: String,
    source: i64,
    target: i64,
    /// The two sides hold the same (more than the same count, for the
    /// daily counts).
    same: bool,
}

impl Line {
    fn counts(name: &str, source: i64, target: i64) -> Self {
        Self {
            name: name.to_owned(),
            source,
            target,
            same: source == target,
        }
    }
}

pub fn copy(settings: &Settings, to_url: &str) -> CmdResult {
    let mut target = settings.clone();
    target.database.url = to_url.to_owned().into();
    target
        .database
        .backend()
        .map_err(|why| Refused(format!("--to {why}")))?;
    if to_url == settings.database.expose_url() {
        return Err(Refused("--to names the configured database itself".into()).into());
    }
    let secrets = Secrets::load(&settings.secrets, &settings.storage.data_dir, &settings.env)?;
    let verifier = ReceiptSigner::new(&secrets.receipt).verifier();
    // On SQLite, no service may write while the copy reads.
    let _serving = db::migrate::single_instance(&settings.database)
        .map_err(|e| Refused(format!("{e}: stop the service before copying")))?;
    let mut to = ConnectionManager::new(&target.database)?.open()?;
    let to_events = Events::of(&target.database);
    refuse_unless_empty(&mut to, &to_events, to_url)?;
    let (mut from, _) = open(settings)?;
    let from_events = Events::of(&settings.database);
    db::migrate::with_startup_lock(&mut to, &target.database, db::migrate::run_pending)?;
    transfer::check_known(&mut from)?;
    transfer::check_known(&mut to)?;

    transfer::begin_snapshot(&mut from)?;
    let partitioning = Partitioning::of(&target.retention);
    let lines = copy_all(&mut from, &from_events, &mut to, &to_events, partitioning);
    let _ = transfer::end_snapshot(&mut from);
    let lines = lines.map_err(|e| {
        Refused(format!(
            "the copy stopped: {e}; {} holds part of the data: empty it before trying again",
            describe_url(to_url)
        ))
    })?;
    let checked = to_events.verify_receipts(&mut to, &verifier)?;

    println!("{:<28} {:>10} {:>10}", "TABLE", "SOURCE", "TARGET");
    for l in &lines {
        println!("{:<28} {:>10} {:>10}", l.name, l.source, l.target);
    }
    println!(
        "consent receipts verified with the public key: {} of {}",
        checked.receipts - checked.failed,
        checked.receipts
    );
    let differ: Vec<&str> = lines
        .iter()
        .filter(|l| !l.same)
        .map(|l| l.name.as_str())
        .collect();
    if !differ.is_empty() {
        return Err(Refused(format!(
            "the counts differ between the two databases for {}: the copy in {} is incomplete",
            differ.join(", "),
            describe_url(to_url)
        ))
        .into());
    }
    if let Some((id, why)) = checked.first_failure {
        return Err(Refused(format!(
            "{} of {} consent receipts do not verify on the target; the first, of consent {id}: {why}",
            checked.failed, checked.receipts
        ))
        .into());
    }
    println!(
        "copied {} to {}: every count matches, every receipt verifies",
        settings.database.describe(),
        describe_url(to_url)
    );
    Ok(())
}

/// Refuses a target that holds any Guichet record, before writing to it.
fn refuse_unless_empty(to: &mut DbConnection, events: &Events, url: &str) -> CmdResult {
    let held = transfer::nonempty(to)?;
    if !held.is_empty() {
        let tables: Vec<String> = held.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        return Err(Refused(format!(
            "{} already holds Guichet data (rows in {}): copy needs an empty database; nothing was copied",
            describe_url(url),
            tables.join(", ")
        ))
        .into());
    }
    if events.has_files()? {
        return Err(Refused(format!(
            "{} already has consent files beside it: copy needs an empty database; nothing was copied",
            describe_url(url)
        ))
        .into());
    }
    Ok(())
}

/// Copies the tables, then the consent events; the counts of each side.
fn copy_all(
    from: &mut DbConnection,
    from_events: &Events,
    to: &mut DbConnection,
    to_events: &Events,
    partitioning: Partitioning,
) -> Result<Vec<Line>, Box<dyn std::error::Error>> {
    use diesel::Connection;
    to.transaction(|to| {
        for spec in TABLES {
            transfer::copy_table(from, to, spec)?;
        }
        Ok::<_, transfer::TransferError>(())
    })?;
    consents::copy(from_events, from, to_events, to, partitioning)?;
    let mut lines = Vec::new();
    for spec in TABLES.iter().filter(|t| t.counted) {
        lines.push(Line::counts(
            spec.name,
            transfer::count(from, spec.name)?,
            transfer::count(to, spec.name)?,
        ));
    }
    lines.push(Line::counts(
        "consent_events",
        from_events.count(from)?,
        to_events.count(to)?,
    ));
    // The daily counts may sit in several places on SQLite: compared as
    // the sums of each (tenant, day, purpose), counted as those.
    let (source, target) = (from_events.totals(from)?, to_events.totals(to)?);
    lines.push(Line {
        name: "consent_daily_counts".into(),
        source: source.len() as i64,
        target: target.len() as i64,
        same: source == target,
    });
    Ok(lines)
}
