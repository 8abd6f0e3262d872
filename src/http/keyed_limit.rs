//! A rate limit per key (a client address, an e-mail pseudonym) that
//! forgets: a key whose quota is whole again tells nothing, and is dropped.
//! Keys are swept at most once a minute, or once a second while the limit
//! holds as many keys as it may; a limit that stays full after a sweep
//! refuses every key until one is done with, so that what it holds is
//! bounded whatever arrives.

use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Time between two sweeps while the limit has room.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Time between two sweeps while it is full.
const SWEEP_EVERY_WHEN_FULL: Duration = Duration::from_secs(1);

/// Why a key may not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Over its quota: the time until it may.
    Wait(Duration),
    /// The limit holds as many keys as it may, none of them done with.
    Full,
}

type Limiter<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub struct KeyedLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: Limiter<K, C>,
    clock: C,
    max_keys: usize,
    last_sweep: Mutex<C::Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    pub fn new(quota: Quota, max_keys: usize) -> Self {
        Self::with_clock(quota, max_keys, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> KeyedLimit<K, C> {
    pub fn with_clock(quota: Quota, max_keys: usize, clock: C) -> Self {
        let now = clock.now();
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            max_keys: max_keys.max(1),
            last_sweep: Mutex::new(now),
        }
    }

    /// Counts one use of `key`.
    pub fn check(&self, key: &K) -> Result<(), Refused> {
        self.sweep_if_due(false);
        if self.limiter.len() >= self.max_keys {
            self.sweep_if_due(true);
            if self.limiter.len() >= self.max_keys {
                return Err(Refused::Full);
            }
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| Refused::Wait(not_until.wait_time_from(self.clock.now())))
    }

    /// The keys held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Drops the keys whose quota is whole again, when the last sweep is
    /// old enough; one caller sweeps, the others go on.
    fn sweep_if_due(&self, full: bool) {
        let every = if full {
            SWEEP_EVERY_WHEN_FULL
        } else {
            SWEEP_EVERY
        };
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        let now = self.clock.now();
        if now.duration_since(*last) < every.into() {
            return;
        }
        *last = now;
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use governor::clock::FakeRelativeClock;

    use super::*;

    /// When a key that used one of 20 an hour is done with: governor sees
    /// it as fresh two emission intervals (3 minutes each) after its use.
    const DONE: Duration = Duration::from_secs(361);

    /// 20 an hour, as `requests.submissions_per_ip_per_hour` by default:
    /// one use comes back every three minutes.
    fn limit(max_keys: usize) -> (KeyedLimit<u32, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let quota = Quota::with_period(Duration::from_secs(180))
            .unwrap()
            .allow_burst(NonZeroU32::new(20).unwrap());
        (
            KeyedLimit::with_clock(quota, max_keys, clock.clone()),
            clock,
        )
    }

    #[test]
    fn keys_whose_quota_is_whole_again_are_forgotten() {
        let (limit, clock) = limit(1000);
        for key in 0..500 {
            limit.check(&key).unwrap();
        }
        assert_eq!(limit.len(), 500);
        // Before a minute, no sweep; later, every use has come back.
        clock.advance(Duration::from_secs(59));
        limit.check(&1000).unwrap();
        assert_eq!(limit.len(), 501);
        clock.advance(DONE);
        limit.check(&1001).unwrap();
        assert_eq!(limit.len(), 1, "only the key just counted is left");
    }

    #[test]
    fn a_key_still_over_its_quota_is_kept_and_still_refused() {
        let (limit, clock) = limit(1000);
        for _ in 0..20 {
            limit.check(&7).unwrap();
        }
        assert!(matches!(limit.check(&7), Err(Refused::Wait(_))));
        clock.advance(Duration::from_secs(61));
        limit.check(&8).unwrap();
        assert_eq!(limit.len(), 2, "7 is not done with");
        assert!(matches!(limit.check(&7), Err(Refused::Wait(_))));
    }

    #[test]
    fn a_full_limit_refuses_new_keys_until_one_is_done_with() {
        let (limit, clock) = limit(10);
        for key in 0..10 {
            limit.check(&key).unwrap();
        }
        assert_eq!(limit.check(&10), Err(Refused::Full));
        // Swept at most once a second while full: still nothing done with.
        clock.advance(Duration::from_secs(2));
        assert_eq!(limit.check(&10), Err(Refused::Full));
        assert_eq!(limit.len(), 10, "held, never more");
        clock.advance(DONE);
        limit.check(&10).unwrap();
        assert_eq!(limit.len(), 1);
    }
}
