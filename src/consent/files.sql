-- One file of consent events on SQLite: one tenant, one calendar month
-- (UTC) of `at`. The same tables as in the main file, so that the same
-- queries run on either; no foreign key, the tenants being in the main file.

-- Which tenant and month the file holds; `retired` once a sweep has taken
-- its daily counts into the main file: nothing is written to it any more.
CREATE TABLE consent_file (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    month TEXT NOT NULL,
    retired BOOLEAN NOT NULL DEFAULT 0
);

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

CREATE TABLE consent_daily_counts (
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL,
    purpose_id TEXT NOT NULL,
    accepted BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, purpose_id)
);
