-- The consent events of one SQLite month file (`files.sql`), as made for a
-- new file and by the upgrade to version 3 (`upgrade.rs`): the compact rows
-- of `stored.rs`, instants as microseconds since 1970 (UTC), ids and the
-- pseudonym as bytes (the tenant's too, though the file holds one); the strings they share are kept in the same file, so
-- that they go with it.
-- Found by (at, id), the order of an export, a sweep and `guichet copy`,
-- and by (subject_id, at): the current consent and the history. The file
-- holds one tenant: `tenant_id` needs no index.
CREATE TABLE consent_events (
    at INTEGER NOT NULL,
    expires_at INTEGER,
    id BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    tenant_id BLOB NOT NULL,
    context INTEGER NOT NULL,
    user_agent INTEGER,
    page_url INTEGER,
    ip_pseudonym BLOB,
    tc_string TEXT,
    signature BLOB,
    receipt TEXT
);
CREATE UNIQUE INDEX consent_events_at ON consent_events (at, id);
CREATE INDEX consent_events_subject ON consent_events (subject_id, at);
CREATE TABLE consent_strings (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    value TEXT NOT NULL
);
