//! The names of the consent files (`files.rs`): the calendar month a file
//! holds and the file's unique name, `<YYYY-MM>.<file id>.db`.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, NaiveDateTime};

/// A calendar month, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(at: NaiveDateTime) -> Self {
        Self {
            year: at.year(),
            month: at.month(),
        }
    }

    fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The first instant of the month.
    pub fn start(self) -> NaiveDateTime {
        self.first_day().and_time(chrono::NaiveTime::MIN)
    }

    /// The first instant after the month.
    pub fn end(self) -> NaiveDateTime {
        self.first_day()
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
            .and_time(chrono::NaiveTime::MIN)
    }

    fn parse(s: &str) -> Option<Self> {
        let (y, m) = s.split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (y.len() == 4 && m.len() == 2 && (1..=12).contains(&month)).then_some(Self { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One file of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFile {
    pub tenant_id: String,
    pub month: Month,
    /// The file's name, unique: what a sweep's record of it names.
    pub name: String,
    pub path: PathBuf,
}

impl EventFile {
    pub(super) fn parse(tenant_id: &str, dir: &Path, name: &str) -> Option<Self> {
        let (month, rest) = name.split_once('.')?;
        let id = rest.strip_suffix(".db")?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            tenant_id: tenant_id.to_owned(),
            month: Month::parse(month)?,
            name: name.to_owned(),
            path: dir.join(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_bound_their_events() {
        let m = Month::of("2024-02-29T23:59:59.999999".parse().unwrap());
        assert_eq!(m.to_string(), "2024-02");
        assert_eq!(m.start().to_string(), "2024-02-01 00:00:00");
        assert_eq!(m.end().to_string(), "2024-03-01 00:00:00");
        assert_eq!(
            Month::of("2025-12-31T12:00:00".parse().unwrap())
                .end()
                .to_string(),
            "2026-01-01 00:00:00"
        );
        assert_eq!(Month::parse("2025-13"), None);
        assert_eq!(Month::parse("25-01"), None);
    }

    #[test]
    fn only_event_files_are_listed() {
        let dir = Path::new("/x");
        let ok = EventFile::parse("t", dir, "2026-11.0123456789abcdef0123456789abcdef.db").unwrap();
        assert_eq!(
            ok.month,
            Month {
                year: 2026,
                month: 11
            }
        );
        for name in [
            ".2026-11.0123456789abcdef0123456789abcdef.db.draft",
            "2026-11.0123456789abcdef0123456789abcdef.db-wal",
            "2026-11.db",
            "2026-11.0123.db",
        ] {
            assert_eq!(EventFile::parse("t", dir, name), None, "{name}");
        }
    }
}
