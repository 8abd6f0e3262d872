//! The latest consent event of recent subjects, kept in memory so that the
//! banners' most frequent read, "what did this visitor choose?", does not
//! cost a database round trip.
//!
//! It never answers with less than the database would:
//! - this instance's own writes are put in before they are acknowledged;
//! - on PostgreSQL, every insert also notifies the other instances, and a
//!   read is answered from memory only once this instance has heard every
//!   notification committed before the read arrived (see `sync.rs`);
//! - a value read from the database is kept only if nothing about its
//!   shard changed while it was being read, so an older read never
//!   replaces a newer write.
//!
//! Expiry is decided at read time from the stored `expires_at`, so nothing
//! goes stale by the clock. The retention sweep only deletes events that are
//! already past their validity, which changes no answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;

use super::queries::ConsentEvent;

const SHARDS: usize = 64;

/// Tenant id and subject id.
type Key = (String, String);

/// The subject's latest event, or `None` when it has none.
type Latest = Option<Arc<ConsentEvent>>;

#[derive(Default)]
struct Shard {
    /// Bumped by every write or invalidation of a key of this shard.
    epoch: u64,
    map: HashMap<Key, Latest>,
}

pub struct ConsentCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// Reads answered from memory (`guichet_consent_cache_hits_total`).
    hits: prometheus::IntCounter,
}

/// What a lookup found: the cached answer, or the shard's epoch to hand
/// back to `fill` with what the database said.
pub enum Lookup {
    Hit(Latest),
    Miss(u64),
}

/// Whether `a` is at least as recent as event `id` at `at`, in the order of
/// `store::latest`, at the database's precision (microseconds).
fn newer(a: &ConsentEvent, at: NaiveDateTime, id: &str) -> bool {
    let micros = |t: NaiveDateTime| t.and_utc().timestamp_micros();
    (micros(a.at), a.id.as_str()) >= (micros(at), id)
}

impl ConsentCache {
    /// Holds at most about `entries` subjects; 0 keeps nothing.
    pub fn new(entries: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries.div_ceil(SHARDS),
            hits: prometheus::IntCounter::new(
                "consent_cache_hits_total",
                "Reads of a current consent answered from memory.",
            )
            .expect("a valid metric"),
        }
    }

    /// The counter of reads answered from memory, to register.
    pub fn hits(&self) -> &prometheus::IntCounter {
        &self.hits
    }

    pub fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    fn shard(&self, tenant_id: &str, subject_id: &str) -> std::sync::MutexGuard<'_, Shard> {
        use std::hash::BuildHasher;
        // A fixed hasher: the shard only spreads the locks.
        let h =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .hash_one((tenant_id, subject_id));
        let i = (h as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lookup(&self, tenant_id: &str, subject_id: &str) -> Lookup {
        let shard = self.shard(tenant_id, subject_id);
        match shard
            .map
            .get(&(tenant_id.to_owned(), subject_id.to_owned()))
        {
            Some(latest) => {
                self.hits.inc();
                Lookup::Hit(latest.clone())
            }
            None => Lookup::Miss(shard.epoch),
        }
    }

    /// Keeps what the database answered, unless the shard changed since
    /// `lookup` gave `epoch`.
    pub fn fill(&self, tenant_id: &str, subject_id: &str, epoch: u64, latest: Latest) {
        if !self.enabled() {
            return;
        }
        let mut shard = self.shard(tenant_id, subject_id);
        if shard.epoch != epoch {
            return;
        }
        let key = (tenant_id.to_owned(), subject_id.to_owned());
        if !shard.map.contains_key(&key) {
            self.make_room(&mut shard);
            shard.map.insert(key, latest);
        }
    }

    /// An event this instance has just committed.
    pub fn put(&self, row: ConsentEvent) {
        if !self.enabled() {
            return;
        }
        let mut shard = self.shard(&row.tenant_id, &row.subject_id);
        shard.epoch += 1;
        let key = (row.tenant_id.clone(), row.subject_id.clone());
        if let Some(Some(kept)) = shard.map.get(&key) {
            if newer(kept, row.at, &row.id) {
                return;
            }
        }
        if !shard.map.contains_key(&key) {
            self.make_room(&mut shard);
        }
        // What the read answers needs none of the request's own details.
        let row = ConsentEvent {
            ip_pseudonym: None,
            user_agent: None,
            page_url: None,
            tc_string: None,
            ..row
        };
        shard.map.insert(key, Some(Arc::new(row)));
    }

    /// Another instance (or this one) committed event `id` at `at` for the
    /// subject: anything older is forgotten.
    pub fn invalidate(&self, tenant_id: &str, subject_id: &str, id: &str, at: NaiveDateTime) {
        let mut shard = self.shard(tenant_id, subject_id);
        shard.epoch += 1;
        let key = (tenant_id.to_owned(), subject_id.to_owned());
        let keep = matches!(shard.map.get(&key), Some(Some(kept)) if newer(kept, at, id));
        if !keep {
            shard.map.remove(&key);
        }
    }

    /// Forgets everything (notifications may have been missed).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            shard.epoch += 1;
            shard.map.clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).map.len())
            .sum()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn make_room(&self, shard: &mut Shard) {
        if shard.map.len() >= self.per_shard {
            // Any entry will do: the map's order is random.
            if let Some(victim) = shard.map.keys().next().cloned() {
                shard.map.remove(&victim);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn row(subject: &str, id: &str, minute: u32) -> ConsentEvent {
        ConsentEvent {
            id: id.into(),
            tenant_id: "t".into(),
            subject_id: subject.into(),
            event: "given".into(),
            policy_version: "1".into(),
            choices: "{}".into(),
            gpc: false,
            at: NaiveDate::from_ymd_opt(2026, 1, 1)
                .unwrap()
                .and_hms_opt(0, minute, 0)
                .unwrap(),
            expires_at: None,
            ip_pseudonym: Some("p".into()),
            user_agent: None,
            page_url: None,
            tc_string: None,
            receipt: None,
        }
    }

    fn hit(c: &ConsentCache, subject: &str) -> Option<Option<String>> {
        match c.lookup("t", subject) {
            Lookup::Hit(v) => Some(v.map(|r| r.id.clone())),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_read_from_before_a_write_never_replaces_it() {
        let c = ConsentCache::new(1000);
        let Lookup::Miss(epoch) = c.lookup("t", "s") else {
            panic!("empty")
        };
        // A write lands while the database is being read.
        c.put(row("s", "b", 2));
        c.fill("t", "s", epoch, None);
        assert_eq!(hit(&c, "s"), Some(Some("b".into())));
        // And if the write's entry was evicted meanwhile, the old read is
        // still refused.
        let Lookup::Miss(epoch) = c.lookup("t", "x") else {
            panic!("empty")
        };
        c.invalidate("t", "x", "z", row("x", "z", 3).at);
        c.fill("t", "x", epoch, None);
        assert_eq!(hit(&c, "x"), None);
    }

    #[test]
    fn newer_events_win_and_notifications_of_older_ones_change_nothing() {
        let c = ConsentCache::new(1000);
        c.put(row("s", "b", 2));
        c.put(row("s", "a", 1));
        assert_eq!(hit(&c, "s"), Some(Some("b".into())));
        // The notification of this instance's own write keeps the entry.
        c.invalidate("t", "s", "b", row("s", "b", 2).at);
        assert_eq!(hit(&c, "s"), Some(Some("b".into())));
        // Another instance's newer event removes it.
        c.invalidate("t", "s", "c", row("s", "c", 3).at);
        assert_eq!(hit(&c, "s"), None);
        let Lookup::Miss(epoch) = c.lookup("t", "s") else {
            panic!("removed")
        };
        c.fill("t", "s", epoch, None);
        assert_eq!(hit(&c, "s"), Some(None));
    }

    #[test]
    fn it_stays_within_its_size_and_keeps_no_request_details() {
        let c = ConsentCache::new(SHARDS * 2);
        for i in 0..1000 {
            c.put(row(&format!("s{i}"), "a", 1));
        }
        assert!(c.len() <= SHARDS * 2, "{}", c.len());
        c.put(row("p", "a", 1));
        let Lookup::Hit(Some(r)) = c.lookup("t", "p") else {
            panic!("just put")
        };
        assert!(r.ip_pseudonym.is_none());
        let off = ConsentCache::new(0);
        off.put(row("s", "a", 1));
        assert!(off.is_empty());
    }
}
