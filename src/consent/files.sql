-- One file of consent events on SQLite: one tenant, one calendar month
-- (UTC) of `at`. The same tables as in the main file, so that the same
-- queries run on either; no foreign key, the tenants being in the main file.
-- The events' table is `file_events.sql`'s.

-- Which tenant and month the file holds; `retired` once a sweep has taken
-- its daily counts into the main file: nothing is written to it any more.
CREATE TABLE consent_file (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    month TEXT NOT NULL,
    retired BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE consent_daily_counts (
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL,
    purpose_id TEXT NOT NULL,
    accepted BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, purpose_id)
);
