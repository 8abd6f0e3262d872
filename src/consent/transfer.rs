//! Consent events moved from one database to another (`guichet copy`):
//! from PostgreSQL's table or SQLite's month files, into either, a batch at
//! a time in constant memory; then counted on each side, and every
//! receipt on the target checked with the public key.
//!
//! The daily counts travel as they stand: the main database's table is
//! copied with the other tables (`db::transfer`), and the counts a SQLite
//! month file holds are added to the target's table. Events written into
//! month files are not counted again there (as those `upgrade.rs` moves):
//! a day's count is the sum of the main file's and the files', so it reads
//! the same on either side.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::files::{ConsentFiles, Month};
use super::place::Place;
use super::queries::{self, ConsentEvent};
use super::receipt::ReceiptVerifier;
use super::stored::{self, event_of, Kept};
use crate::config::DatabaseSettings;
use crate::db::schema::{consent_events as events, consent_file_folds as folds};
use crate::db::DbConnection;

/// Events written to the target per transaction (PostgreSQL takes at most
/// 65535 bound values a statement: 12 columns a row).
const BATCH: usize = 1000;

/// A day's counts: accepted, refused, withdrawn, by (tenant, day, purpose).
pub type Totals = BTreeMap<(String, String, String), (i64, i64, i64)>;

/// Where one database keeps its consent events.
pub struct Events {
    place: Place,
}

/// The receipts checked on one side.
#[derive(Debug, Default)]
pub struct Checked {
    /// Events that carry a receipt.
    pub receipts: i64,
    /// Receipts that do not verify, or do not match their event.
    pub failed: i64,
    /// The first of those: the event's id, and why.
    pub first_failure: Option<(String, String)>,
}

impl Events {
    pub fn of(database: &DatabaseSettings) -> Self {
        let place = match ConsentFiles::for_database(database) {
            Some(files) => Place::Months(Box::new(files)),
            None => Place::Table,
        };
        Self { place }
    }

    /// On SQLite, whether there is any month file (the table is checked
    /// with the others).
    pub fn has_files(&self) -> QueryResult<bool> {
        let Place::Months(files) = &self.place else {
            return Ok(false);
        };
        for tenant in files.tenants()? {
            if !files.files(&tenant)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs `f` on every event kept, of a tenant after another. A month
    /// file a sweep has folded into the main file (`consent_file_folds`)
    /// but not yet removed holds nothing kept.
    fn each(
        &self,
        main: &mut DbConnection,
        mut f: impl FnMut(ConsentEvent) -> QueryResult<()>,
    ) -> QueryResult<()> {
        let Place::Months(files) = &self.place else {
            return stream(main, &mut f);
        };
        for tenant in files.tenants()? {
            for file in files.files(&tenant)?.iter() {
                if folded(main, &file.name)? {
                    continue;
                }
                files.read(file, |c| stream(c, &mut f))?;
            }
        }
        Ok(())
    }

    /// Runs `f` on the daily counts of every month file kept.
    fn each_file_counts(
        &self,
        main: &mut DbConnection,
        mut f: impl FnMut(Vec<queries::DailyCount>) -> QueryResult<()>,
    ) -> QueryResult<()> {
        let Place::Months(files) = &self.place else {
            return Ok(());
        };
        for tenant in files.tenants()? {
            for file in files.files(&tenant)?.iter() {
                if folded(main, &file.name)? {
                    continue;
                }
                if let Some(rows) = files.read(file, all_counts)? {
                    f(rows)?;
                }
            }
        }
        Ok(())
    }

    /// How many events are kept.
    pub fn count(&self, main: &mut DbConnection) -> QueryResult<i64> {
        let Place::Months(files) = &self.place else {
            return events::table.count().get_result(main);
        };
        let mut n = 0;
        for tenant in files.tenants()? {
            for file in files.files(&tenant)?.iter() {
                if folded(main, &file.name)? {
                    continue;
                }
                n += files
                    .read(file, |c| events::table.count().get_result::<i64>(c))?
                    .unwrap_or(0);
            }
        }
        Ok(n)
    }

    /// Every day's counts, the main database's and the files' summed.
    pub fn totals(&self, main: &mut DbConnection) -> QueryResult<Totals> {
        let mut out = Totals::new();
        let mut add = |rows: Vec<queries::DailyCount>| -> QueryResult<()> {
            for r in rows {
                let t = out.entry((r.tenant_id, r.day, r.purpose_id)).or_default();
                t.0 += r.accepted;
                t.1 += r.refused;
                t.2 += r.withdrawn;
            }
            Ok(())
        };
        add(all_counts(main)?)?;
        self.each_file_counts(main, add)?;
        Ok(out)
    }

    /// Checks the receipt of every event that carries one: its signature
    /// with the public key, and that it names this event as it is kept.
    pub fn verify_receipts(
        &self,
        main: &mut DbConnection,
        verifier: &ReceiptVerifier,
    ) -> QueryResult<Checked> {
        let mut checked = Checked::default();
        self.each(main, |e| {
            let Some(jws) = &e.receipt else {
                return Ok(());
            };
            checked.receipts += 1;
            let why = match verifier.verify(jws) {
                Err(why) => Some(why),
                Ok(c) if c.jti != e.id || c.sub != e.subject_id => Some("it names another consent"),
                Ok(c)
                    if c.choices != e.choices()
                        || c.gpc != e.gpc
                        || c.policy_version != e.policy_version =>
                {
                    Some("its choices differ from the event's")
                }
                Ok(_) => None,
            };
            if let Some(why) = why {
                checked.failed += 1;
                checked
                    .first_failure
                    .get_or_insert_with(|| (e.id.clone(), why.to_owned()));
            }
            Ok(())
        })?;
        Ok(checked)
    }
}

fn folded(main: &mut DbConnection, file: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(folds::table.find(file))).get_result(main)
}

fn all_counts(conn: &mut DbConnection) -> QueryResult<Vec<queries::DailyCount>> {
    queries::daily_counts(conn, None, "0000-00-00", "9999-99-99")
}

/// Runs `f` on every event of the table on `conn`, a row at a time (the
/// strings they share read first, all of them).
fn stream(
    conn: &mut DbConnection,
    f: &mut impl FnMut(ConsentEvent) -> QueryResult<()>,
) -> QueryResult<()> {
    let strings = super::dictionary::all(conn)?;
    macro_rules! rows {
        () => {
            events::table
                .order((events::tenant_id, events::at, events::id))
                .select(Kept::as_select())
        };
    }
    match conn {
        DbConnection::Pg(c) => {
            for row in rows!().load_iter::<Kept, diesel::pg::PgRowByRowLoadingMode>(c)? {
                f(event_of(&strings, row?)?)?;
            }
        }
        DbConnection::Sqlite(c) => {
            for row in rows!().load_iter::<Kept, diesel::connection::DefaultLoadingMode>(c)? {
                f(event_of(&strings, row?)?)?;
            }
        }
    }
    Ok(())
}

/// Events gathered for the target, written a batch at a time.
struct Sink<'a> {
    to: &'a Place,
    main: &'a mut DbConnection,
    batch: Vec<ConsentEvent>,
    written: i64,
}

impl Sink<'_> {
    fn push(&mut self, e: ConsentEvent) -> QueryResult<()> {
        self.batch.push(e);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the batch as it is, without adding to the daily counts.
    fn flush(&mut self) -> QueryResult<()> {
        let rows = std::mem::take(&mut self.batch);
        let n = rows.len() as i64;
        if rows.is_empty() {
            return Ok(());
        }
        match self.to {
            Place::Table => self.main.transaction(|c| stored::insert(c, &rows))?,
            Place::Months(files) => {
                let mut groups: BTreeMap<(String, Month), Vec<ConsentEvent>> = BTreeMap::new();
                for row in rows {
                    groups
                        .entry((row.tenant_id.clone(), Month::of(row.at)))
                        .or_default()
                        .push(row);
                }
                for ((tenant, month), group) in groups {
                    files.write(&tenant, month, |c| stored::insert(c, &group))?;
                }
            }
        }
        self.written += n;
        Ok(())
    }
}

/// Copies every event kept on `from` to `to`, and the daily counts of
/// `from`'s month files into `to_main`'s table; answers how many events
/// were copied. The main tables, the daily counts among them, are copied
/// before (`db::transfer`).
pub fn copy(
    from: &Events,
    from_main: &mut DbConnection,
    to: &Events,
    to_main: &mut DbConnection,
    partitioning: super::partitions::Partitioning,
) -> QueryResult<i64> {
    let mut sink = Sink {
        to: &to.place,
        main: to_main,
        batch: Vec::with_capacity(BATCH),
        written: 0,
    };
    from.each(from_main, |e| sink.push(e))?;
    sink.flush()?;
    let written = sink.written;
    if let Place::Table = to.place {
        // On PostgreSQL the events landed in the default partition: each
        // month gets its own.
        super::partitions::attach_held(to_main, partitioning)?;
    }
    from.each_file_counts(from_main, |rows| {
        to_main.transaction(|c| queries::add_daily_counts(c, &rows))
    })?;
    Ok(written)
}
