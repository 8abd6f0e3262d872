-- The consent events of one SQLite month file (`files.sql`), as made for a
-- new file and by the upgrade to version 2 (`upgrade.rs`).
-- Found by (at, id), the order of an export, a sweep and `guichet copy`,
-- and by (subject_id, at): the current consent and the history. The file
-- holds one tenant: `tenant_id` needs no index.
CREATE TABLE consent_events (
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('given', 'withdrawn')),
    policy_version TEXT NOT NULL,
    choices TEXT NOT NULL,
    gpc BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    ip_pseudonym TEXT,
    user_agent TEXT,
    page_url TEXT,
    tc_string TEXT,
    receipt TEXT
);
CREATE UNIQUE INDEX consent_events_at ON consent_events (at, id);
CREATE INDEX consent_events_subject ON consent_events (subject_id, at);
