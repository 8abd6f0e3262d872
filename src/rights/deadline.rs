//! Deadlines (GDPR art. 12(3)): one calendar month from receipt; the clock
//! stops while an identity document is awaited and the stopped time is
//! added; two more months, once, with a reason, before the due date.

use chrono::{DateTime, Months, Utc};

/// One calendar month after receipt (31 January → end of February).
pub fn initial_due(received_at: DateTime<Utc>) -> DateTime<Utc> {
    add_months(received_at, 1)
}

pub fn add_months(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    at.checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The due date once the clock restarts: the time spent waiting for the
/// identity document is added.
pub fn resume(
    due_at: DateTime<Utc>,
    paused_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    due_at + (now - paused_at).max(chrono::Duration::zero())
}

/// The due date after the one extension allowed.
pub fn extended(due_at: DateTime<Utc>) -> DateTime<Utc> {
    add_months(due_at, 2)
}

/// Why an extension is refused, if it is.
pub fn check_extension(
    open: bool,
    already_extended: bool,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    if !open {
        return Err("A closed request cannot be extended.");
    }
    if already_extended {
        return Err("The deadline was already extended once; it cannot be again.");
    }
    if now >= due_at {
        return Err("The due date has passed: an extension must be decided before it.");
    }
    Ok(())
}

/// Overdue: open, not waiting for the requester, and past its due date.
/// Derived at read time, never stored.
pub fn is_overdue(open: bool, paused: bool, due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    open && !paused && now > due_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn one_calendar_month_clamped_to_the_end_of_the_month() {
        assert_eq!(
            initial_due(at("2026-03-02T09:30:00Z")),
            at("2026-04-02T09:30:00Z")
        );
        assert_eq!(
            initial_due(at("2026-01-31T10:00:00Z")),
            at("2026-02-28T10:00:00Z")
        );
        assert_eq!(
            initial_due(at("2028-01-31T10:00:00Z")),
            at("2028-02-29T10:00:00Z")
        );
        assert_eq!(
            initial_due(at("2026-12-31T23:00:00Z")),
            at("2027-01-31T23:00:00Z")
        );
    }

    #[test]
    fn paused_time_is_added() {
        let due = at("2026-04-02T09:30:00Z");
        let resumed = resume(due, at("2026-03-10T00:00:00Z"), at("2026-03-20T12:00:00Z"));
        assert_eq!(resumed, at("2026-04-12T21:30:00Z"));
    }

    #[test]
    fn one_extension_of_two_months_before_the_due_date_on_an_open_request() {
        let due = at("2026-04-02T09:30:00Z");
        assert_eq!(extended(due), at("2026-06-02T09:30:00Z"));
        assert!(check_extension(true, false, due, at("2026-04-02T09:29:59Z")).is_ok());
        assert!(check_extension(true, false, due, due).is_err());
        assert!(check_extension(true, true, due, at("2026-03-05T00:00:00Z")).is_err());
        assert!(check_extension(false, false, due, at("2026-03-05T00:00:00Z")).is_err());
    }

    #[test]
    fn overdue_is_derived() {
        let due = at("2026-04-02T09:30:00Z");
        assert!(!is_overdue(true, false, due, due));
        assert!(is_overdue(true, false, due, at("2026-04-02T09:30:01Z")));
        assert!(!is_overdue(true, true, due, at("2026-05-01T00:00:00Z")));
        assert!(!is_overdue(false, false, due, at("2026-05-01T00:00:00Z")));
    }
}
