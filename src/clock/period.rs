//! Retention periods as the policies write them ("13 months", "1 year",
//! "30 days") and the instant at which a record made at `t` must be gone.
//!
//! A period of months ends on the same day of the month, or on the last day
//! of a shorter month (31 January + 1 month = 28 February), at the same time
//! of day: the rule the consent validity and the response deadline follow.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub months: u32,
    pub days: u32,
}

impl Period {
    pub const fn months(months: u32) -> Self {
        Self { months, days: 0 }
    }

    pub const fn days(days: u32) -> Self {
        Self { months: 0, days }
    }

    /// When a record made at `t` has been kept for the whole period.
    pub fn end(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let after_months = t
            .checked_add_months(Months::new(self.months))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        after_months
            .checked_add_signed(Duration::days(i64::from(self.days)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The period as a letter or a page says it: « deux ans », « 18 mois »,
    /// « 30 jours » (`french`), or "two years", "18 months", "30 days".
    pub fn in_words(self, french: bool) -> String {
        const FR: [&str; 4] = ["", "un", "deux", "trois"];
        const EN: [&str; 4] = ["", "one", "two", "three"];
        let count = |n: u32, words: &[&str; 4]| match words.get(n as usize) {
            Some(word) if n > 0 => (*word).to_owned(),
            _ => n.to_string(),
        };
        let plural = |n: u32, one: &str, many: &str| if n == 1 { one } else { many }.to_owned();
        let mut parts = Vec::new();
        if self.months > 0 && self.months.is_multiple_of(12) {
            let years = self.months / 12;
            parts.push(if french {
                format!("{} {}", count(years, &FR), plural(years, "an", "ans"))
            } else {
                format!("{} {}", count(years, &EN), plural(years, "year", "years"))
            });
        } else if self.months > 0 {
            parts.push(if french {
                format!("{} mois", self.months)
            } else {
                format!("{} {}", self.months, plural(self.months, "month", "months"))
            });
        }
        if self.days > 0 || parts.is_empty() {
            parts.push(if french {
                format!("{} {}", self.days, plural(self.days, "jour", "jours"))
            } else {
                format!("{} {}", self.days, plural(self.days, "day", "days"))
            });
        }
        parts.join(if french { " et " } else { " and " })
    }

    /// Whether a record made at `t` must be gone at `now`.
    pub fn is_over(self, t: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.end(t) <= now
    }

    /// Bounds on the instants of records due at `now`: every record made at
    /// or before `sure` is due; between `sure` and `edge` (at most four
    /// days, when months end on different days) each must be checked with
    /// [`Period::is_over`]; after `edge` none is due.
    pub fn cutoffs(self, now: DateTime<Utc>) -> Cutoffs {
        let minus_days = now
            .checked_sub_signed(Duration::days(i64::from(self.days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let sure = minus_days
            .checked_sub_months(Months::new(self.months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let x = minus_days.date_naive();
        let clamped = sure.day() != x.day();
        let edge = if self.months > 0 && (clamped || x == last_day_of_month(x)) {
            // Month lengths differ: records of the last days of `sure`'s
            // month may end on or before today too. Up to that month's end.
            let last = last_day_of_month(sure.date_naive());
            let end = last
                .and_hms_micro_opt(23, 59, 59, 999_999)
                .unwrap_or(last.and_time(sure.time()));
            Utc.from_utc_datetime(&end).min(now)
        } else {
            sure
        };
        Cutoffs { sure, edge }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub sure: DateTime<Utc>,
    pub edge: DateTime<Utc>,
}

fn last_day_of_month(d: NaiveDate) -> NaiveDate {
    let first = d.with_day(1).unwrap_or(d);
    first
        .checked_add_months(Months::new(1))
        .and_then(|n| n.pred_opt())
        .unwrap_or(d)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a period such as \"13 months\", \"1 year\" or \"30 days\"")]
pub struct BadPeriod(String);

impl std::str::FromStr for Period {
    type Err = BadPeriod;

    /// One or more `<number> <unit>` pairs, units in English or French:
    /// day(s)/jour(s), week(s)/semaine(s), month(s)/mois, year(s)/an(s)/année(s).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPeriod(s.to_owned());
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(2) {
            return Err(bad());
        }
        let mut period = Period { months: 0, days: 0 };
        for pair in words.chunks(2) {
            let n: u32 = pair[0].parse().map_err(|_| bad())?;
            let unit = pair[1].to_lowercase();
            let (months, days) = match unit.as_str() {
                "day" | "days" | "jour" | "jours" => (0, n),
                "week" | "weeks" | "semaine" | "semaines" => (0, n.checked_mul(7).ok_or_else(bad)?),
                "month" | "months" | "mois" => (n, 0),
                "year" | "years" | "an" | "ans" | "année" | "années" => {
                    (n.checked_mul(12).ok_or_else(bad)?, 0)
                }
                _ => return Err(bad()),
            };
            period.months = period.months.checked_add(months).ok_or_else(bad)?;
            period.days = period.days.checked_add(days).ok_or_else(bad)?;
        }
        if period.months > 1200 || period.days > 36_600 {
            return Err(bad());
        }
        Ok(period)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        let (years, months) = (self.months / 12, self.months % 12);
        if years > 0 {
            parts.push(plural(years, "year", "years"));
        }
        if months > 0 {
            parts.push(plural(months, "month", "months"));
        }
        if self.days > 0 || parts.is_empty() {
            parts.push(plural(self.days, "day", "days"));
        }
        f.write_str(&parts.join(" "))
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Period {
    /// Whether this period lasts at least as long as `other` from any start.
    /// Months count as 28 to 31 days, so "1 month" and "30 days" are not
    /// comparable and the answer is no.
    pub fn is_at_least(self, other: Period) -> bool {
        let days = |p: Period, year: i64, month: i64| {
            let m = i64::from(p.months);
            i64::from(p.days) + m / 12 * year + m % 12 * month
        };
        let shortest = |p: Period| days(p, 365, 28);
        let longest = |p: Period| days(p, 366, 31);
        (self.months >= other.months && self.days >= other.days) || shortest(self) >= longest(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn says_a_period_in_words() {
        let words = |p: &str, fr: bool| p.parse::<Period>().unwrap().in_words(fr);
        assert_eq!(words("2 years", true), "deux ans");
        assert_eq!(words("1 year", true), "un an");
        assert_eq!(words("18 months", true), "18 mois");
        assert_eq!(words("13 months", false), "13 months");
        assert_eq!(words("3 years", false), "three years");
        assert_eq!(words("30 days", true), "30 jours");
        assert_eq!(words("1 day", false), "1 day");
    }

    #[test]
    fn parses_the_policies_words() {
        assert_eq!("13 months".parse(), Ok(Period::months(13)));
        assert_eq!("1 year".parse(), Ok(Period::months(12)));
        assert_eq!("3 ans".parse(), Ok(Period::months(36)));
        assert_eq!("30 days".parse(), Ok(Period::days(30)));
        assert_eq!("2 weeks".parse(), Ok(Period::days(14)));
        assert_eq!(
            "1 year 6 months".parse(),
            Ok(Period {
                months: 18,
                days: 0
            })
        );
        assert_eq!(
            "13 mois".parse::<Period>().unwrap().to_string(),
            "1 year 1 month"
        );
        for bad in [
            "",
            "13",
            "months",
            "13 moons",
            "-1 day",
            "1.5 years",
            "99999 years",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn months_end_on_the_same_day_or_the_last_of_a_shorter_month() {
        let m = Period::months(1);
        assert_eq!(m.end(t("2026-01-31T10:00:00Z")), t("2026-02-28T10:00:00Z"));
        assert_eq!(m.end(t("2028-01-31T10:00:00Z")), t("2028-02-29T10:00:00Z"));
        // A year from a 29 February is the next 28 February.
        let y = Period::months(12);
        assert_eq!(y.end(t("2028-02-29T12:00:00Z")), t("2029-02-28T12:00:00Z"));
        assert_eq!(
            Period::months(13).end(t("2026-03-02T09:30:00Z")),
            t("2027-04-02T09:30:00Z")
        );
    }

    #[test]
    fn a_record_is_due_from_the_end_of_its_period_on() {
        let y = Period::months(12);
        let made = t("2028-02-29T12:00:00Z");
        assert!(!y.is_over(made, t("2029-02-28T11:59:59Z")));
        assert!(y.is_over(made, t("2029-02-28T12:00:00Z")));
    }

    /// The cut-offs the sweep queries with agree with `is_over` for every
    /// instant, around month ends and leap days.
    #[test]
    fn cutoffs_agree_with_is_over() {
        let periods = [
            Period::months(1),
            Period::months(12),
            Period::months(13),
            Period::months(36),
            Period::days(30),
            Period { months: 1, days: 1 },
        ];
        let nows = [
            "2026-02-28T10:00:00Z",
            "2026-03-31T23:59:59Z",
            "2028-02-29T00:00:00Z",
            "2029-02-28T12:00:00Z",
            "2026-04-30T10:00:00Z",
            "2026-07-15T03:00:00Z",
            "2026-03-29T10:00:00Z",
            "2027-03-01T00:00:00Z",
            "2028-03-30T08:00:00Z",
        ];
        for p in periods {
            for now in nows.map(t) {
                let c = p.cutoffs(now);
                assert!(c.sure <= c.edge && c.edge <= now);
                assert!(c.edge - c.sure <= Duration::days(4), "{p} {now}");
                // Every hour over the four months before the cut-off.
                let mut made = c.sure - Duration::days(120);
                while made <= now {
                    let due = p.is_over(made, now);
                    if made <= c.sure {
                        assert!(due, "{p}: made {made} is past its end at {now}");
                    }
                    if made > c.edge {
                        assert!(!due, "{p}: made {made} is not due at {now}");
                    }
                    made += Duration::minutes(37);
                }
            }
        }
    }

    #[test]
    fn at_least() {
        let p = |s: &str| s.parse::<Period>().unwrap();
        assert!(!p("2 years").is_at_least(p("3 years")));
        assert!(p("3 years").is_at_least(p("3 years")));
        assert!(p("36 months").is_at_least(p("3 years")));
        assert!(p("1100 days").is_at_least(p("3 years")));
        assert!(!p("1090 days").is_at_least(p("3 years")));
        assert!(p("2 months").is_at_least(p("30 days")));
        assert!(!p("1 month").is_at_least(p("30 days")));
        assert!(!p("30 days").is_at_least(p("1 month")));
    }
}
