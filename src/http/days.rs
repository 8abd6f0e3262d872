//! Days and instants a query may name: from 2000-01-01 to 2199-12-31, UTC,
//! the years a town hall's records can hold. Anything else is refused by
//! name (422): near the ends of the calendar, arithmetic on a date
//! overflows; and the databases keep far years apart from near ones
//! (PostgreSQL refuses some, SQLite compares text, where `+262142-…`
//! sorts before `2026-…`).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::error::ApiError;

/// The first day a query may name: nothing was recorded before.
pub const FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// The last day a query may name.
pub const LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

fn outside(field: &str, what: &str) -> ApiError {
    ApiError::field(
        field,
        format!("must be {what} between {FIRST_DAY} and {LAST_DAY}"),
    )
}

/// A day as a query gives it: absent, or a `YYYY-MM-DD` date
/// between [`FIRST_DAY`] and [`LAST_DAY`]. Text that is no date at all is a
/// malformed query (400), a blank value included (a form that leaves a
/// field empty drops it before calling this); a date of another shape, of another era or that
/// does not exist is refused by name (422).
pub fn parse_day(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(raw) = raw.map(str::trim) else {
        return Ok(None);
    };
    let numbers: Vec<&str> = raw
        .strip_prefix(['+', '-'])
        .unwrap_or(raw)
        .split('-')
        .collect();
    let date_like = numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !date_like {
        return Err(ApiError::bad_request(format!(
            "`{field}` must be a date YYYY-MM-DD."
        )));
    }
    (raw.len() == 10)
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .filter(|d| (FIRST_DAY..=LAST_DAY).contains(d))
        .map(Some)
        .ok_or_else(|| outside(field, "a day YYYY-MM-DD"))
}

/// An instant of a query, when given, on one of the days a query may name.
pub fn check_instant(field: &str, at: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    let first = FIRST_DAY.and_time(NaiveTime::MIN).and_utc();
    let last = LAST_DAY.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(1);
    match at {
        Some(at) if !(first..last).contains(&at) => Err(outside(field, "an instant")),
        _ => Ok(()),
    }
}

/// A range of days as a query gives it (`from`, `to` inclusive): `to`
/// defaults to `today`, `from` to what `default_from` makes of `to`; `from`
/// after `to`, or a range of `max_days` days or more, is refused naming
/// `from`.
pub fn day_range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
    default_from: impl FnOnce(NaiveDate) -> NaiveDate,
    max_days: i64,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let given_to = parse_day("to", to)?;
    let given_from = parse_day("from", from)?;
    // Today is in the range unless the clock itself is not.
    let to = given_to.unwrap_or(today.clamp(FIRST_DAY, LAST_DAY));
    let from = given_from.unwrap_or_else(|| default_from(to).max(FIRST_DAY));
    if from > to {
        return Err(ApiError::field("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= max_days {
        return Err(ApiError::field(
            "from",
            format!("the range must not exceed {max_days} days"),
        ));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_instants_of_the_service_years_only() {
        assert_eq!(parse_day("to", None).unwrap(), None);
        assert_eq!(
            parse_day("to", Some("2000-01-01")).unwrap(),
            Some(FIRST_DAY)
        );
        assert_eq!(parse_day("to", Some("2199-12-31")).unwrap(), Some(LAST_DAY));
        for far in [
            "1999-12-31",
            "2200-01-01",
            "+262142-12-31",
            "-262143-01-01",
            "2026-02-30",
            "2026-1-1",
        ] {
            let e = parse_day("to", Some(far)).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.errors[0].field.as_str()),
                (422, "to"),
                "{far}"
            );
        }
        for not_a_date in ["yesterday", "", " "] {
            assert_eq!(
                parse_day("to", Some(not_a_date))
                    .unwrap_err()
                    .status
                    .as_u16(),
                400,
                "{not_a_date:?}"
            );
        }

        let at = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        assert!(check_instant("from", None).is_ok());
        assert!(check_instant("from", at("2000-01-01T00:00:00Z")).is_ok());
        assert!(check_instant("from", at("2199-12-31T23:59:59Z")).is_ok());
        for far in [
            "1999-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "+262142-12-31T00:00:00Z",
        ] {
            assert!(check_instant("from", at(far)).is_err(), "{far}");
        }
    }
}
