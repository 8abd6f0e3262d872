//! Consent events on SQLite's monthly files (`consent::files`): a file
//! whose every record is due goes whole; one that may hold some due records
//! among others is swept row by row, as a table is.
//!
//! A file goes in three steps, each of which a sweep stopped anywhere can
//! take again: (1) in the file's own transaction it is marked retired
//! (nothing is written to it again) and its counts are read; (2) in one
//! transaction of the main file, its daily counts are added there, the fold
//! is recorded by file name and the run's counts are updated; (3) the file
//! is deleted. A retired file found again is folded unless its fold is
//! recorded, then deleted.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::clock::Cutoffs;
use crate::consent::files::{self, ConsentFiles, EventFile, Month};
use crate::consent::queries::{self as store, DailyCount};
use crate::db::schema::{consent_events as events, consent_file_folds as folds};
use crate::db::{write_transaction, DbConnection};

/// How long after its month ends a file may go whole: nothing is written
/// to a month's file once the month is over, the clocks of the instances
/// agreeing to within this.
const QUIET_AFTER_MONTH: Duration = Duration::days(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Every record it may hold is due: the file goes.
    Whole,
    /// Some of its records may be due.
    Rows,
    /// None of its records is due.
    Keep,
}

/// The fate of a month's records (a SQLite file's, or on PostgreSQL a
/// partition's, for one tenant).
pub fn fate(month: Month, cut: &Cutoffs, now: NaiveDateTime) -> Fate {
    let end = month.end();
    if end <= cut.sure.naive_utc() && end + QUIET_AFTER_MONTH <= now {
        Fate::Whole
    } else if month.start() <= cut.edge.naive_utc() {
        Fate::Rows
    } else {
        Fate::Keep
    }
}

/// What a retired file held.
pub struct Contents {
    events: i64,
    counts: Vec<DailyCount>,
}

/// Step 1: retires the file and reads what it holds.
pub fn freeze(files: &ConsentFiles, file: &EventFile) -> QueryResult<Contents> {
    let mut conn = files.open(file)?;
    write_transaction(&mut conn, |c| {
        files::retire(c)?;
        let events: i64 = events::table.count().get_result(c)?;
        let counts = store::daily_counts(c, None, "0000-00-00", "9999-99-99")?;
        Ok(Contents { events, counts })
    })
}

pub fn is_folded(main: &mut DbConnection, file: &EventFile) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(folds::table.find(&file.name))).get_result(main)
}

/// Step 2, inside a transaction of the main file: adds the file's counts
/// there, unless a stopped sweep already did. Returns the events it
/// removes.
pub fn fold(
    main: &mut DbConnection,
    file: &EventFile,
    contents: &Contents,
    run_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    if is_folded(main, file)? {
        return Ok(0);
    }
    store::add_daily_counts(main, &contents.counts)?;
    diesel::insert_into(folds::table)
        .values((
            folds::file.eq(&file.name),
            folds::tenant_id.eq(&file.tenant_id),
            folds::month.eq(file.month.to_string()),
            folds::events.eq(contents.events),
            folds::run_id.eq(run_id),
            folds::folded_at.eq(now),
        ))
        .execute(main)?;
    Ok(contents.events)
}

/// What a real sweep would remove with the file, for a dry run.
pub fn would_remove(
    main: &mut DbConnection,
    files: &ConsentFiles,
    file: &EventFile,
) -> QueryResult<i64> {
    if is_folded(main, file)? {
        return Ok(0);
    }
    Ok(files
        .read(file, |c| events::table.count().get_result::<i64>(c))?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::Period;
    use chrono::{TimeZone, Utc};

    fn file(month: &str) -> EventFile {
        let (y, m) = month.split_once('-').unwrap();
        EventFile {
            tenant_id: "t".into(),
            month: Month {
                year: y.parse().unwrap(),
                month: m.parse().unwrap(),
            },
            name: format!("{month}.x.db"),
            path: "/x".into(),
        }
    }

    #[test]
    fn a_month_goes_whole_once_its_last_instant_is_surely_due() {
        let period = Period::months(13);
        let as_of = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
        let cut = period.cutoffs(as_of);
        let now = as_of.naive_utc();
        // 13 months before 1 December 2026 03:00 is 1 November 2025 03:00.
        assert_eq!(fate(file("2025-10").month, &cut, now), Fate::Whole);
        assert_eq!(fate(file("2025-11").month, &cut, now), Fate::Rows);
        assert_eq!(fate(file("2025-12").month, &cut, now), Fate::Keep);
        assert_eq!(fate(file("2026-11").month, &cut, now), Fate::Keep);
    }

    #[test]
    fn a_month_just_over_stays_a_day_whatever_the_period() {
        let period = Period::days(1);
        let as_of = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let cut = period.cutoffs(as_of);
        // November is past its period (one day) at noon on 1 December...
        assert_eq!(
            fate(file("2026-11").month, &cut, as_of.naive_utc()),
            Fate::Rows
        );
        // ...and goes whole a day after it ended.
        let later = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        let cut = period.cutoffs(later);
        assert_eq!(
            fate(file("2026-11").month, &cut, later.naive_utc()),
            Fate::Whole
        );
    }
}
