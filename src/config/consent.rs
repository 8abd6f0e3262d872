//! The consent write queue, its cache and the bounds of its inputs.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    /// Consents waiting to be committed before new ones are refused (503).
    pub write_queue: usize,
    /// Most consents committed in one transaction.
    pub max_batch: usize,
    /// Milliseconds a consent may wait for room in the queue.
    pub enqueue_timeout_ms: u64,
    /// Subjects whose latest consent event is kept in memory; 0 keeps none.
    pub cache_entries: usize,
    /// On PostgreSQL, how long a read waits for this instance to have heard
    /// the other instances' writes before it asks the database instead.
    pub cache_sync_wait_ms: u64,
    /// On PostgreSQL, how long the lease of an instance that is the only
    /// writer of consents lasts, renewed five times as often; it answers
    /// from memory without waiting for the others' news meanwhile, and a
    /// writer waits out a lease its holder vanished without giving up.
    pub alone_lease_ms: u64,
    /// Characters of the user agent kept.
    pub user_agent_max: usize,
    /// Longest TCF string accepted, in bytes.
    pub tc_string_max: usize,
    /// Longest page URL accepted, in bytes.
    pub page_url_max: usize,
    /// Most events returned by a subject's history.
    pub history_max: i64,
    /// Longest range of the statistics and the export, in days.
    pub stats_max_days: u32,
    /// Rows read per page while streaming an export.
    pub export_page_rows: i64,
    /// Seconds a browser or a shared cache may keep `consent.js` before it
    /// asks again (with its ETag, for a 304).
    pub script_max_age_secs: u64,
}
