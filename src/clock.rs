//! The only source of "now". Production reads the system clock; tests use a
//! fixed clock they move by hand, so nothing waits for real time to pass.
//! With it, the calendar periods the policies count in ([`Period`]).

pub mod period;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};

pub use period::{BadPeriod, Cutoffs, Period};

#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    Fixed(Mutex<DateTime<Utc>>),
}

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Source::System))
    }

    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Source::Fixed(Mutex::new(truncate(at)))))
    }

    /// Now, to the microsecond: the precision both databases keep.
    pub fn now(&self) -> DateTime<Utc> {
        match &*self.0 {
            Source::System => truncate(Utc::now()),
            Source::Fixed(at) => *at.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a fixed clock; does nothing to the system clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Source::Fixed(at) = &*self.0 {
            *at.lock().unwrap_or_else(|p| p.into_inner()) = truncate(to);
        }
    }

    pub fn advance(&self, by: Duration) {
        let now = self.now();
        self.set(now + by);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Fixed(_) => write!(f, "Clock::fixed({})", self.now()),
        }
    }
}

fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::microseconds(1)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let start = "2026-01-31T10:00:00.123456789Z".parse().unwrap();
        let clock = Clock::fixed(start);
        assert_eq!(clock.now().to_rfc3339(), "2026-01-31T10:00:00.123456+00:00");
        clock.advance(Duration::days(1));
        assert_eq!(clock.now().to_rfc3339(), "2026-02-01T10:00:00.123456+00:00");
    }

    #[test]
    fn system_clock_keeps_microseconds() {
        let now = Clock::system().now();
        assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
    }
}
