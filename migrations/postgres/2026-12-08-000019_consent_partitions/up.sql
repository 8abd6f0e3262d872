-- Consent events partitioned by month of `at` (UTC), so that a month whose
-- every record is past its period goes whole: detached and dropped by the
-- retention sweep (src/consent/partitions.rs) instead of deleted row by
-- row. A partitioned table's primary key holds its partition column:
-- (id, at); ids are UUIDv7, drawn by the service.
--
-- The months of the events stored so far get their partitions here, and
-- the rows are moved into them in this migration's transaction: none lost,
-- none twice. The service creates the partitions of the coming months at
-- start and from its scheduler. The default partition holds any event
-- whose month has no partition (an old or far-future instant), so that an
-- insert never fails for want of one.
DROP INDEX consent_events_subject;
DROP INDEX consent_events_tenant_at;
ALTER TABLE consent_events RENAME TO consent_events_unpartitioned;
ALTER TABLE consent_events_unpartitioned RENAME CONSTRAINT consent_events_pkey
    TO consent_events_unpartitioned_pkey;

CREATE TABLE consent_events (
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
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
    receipt TEXT,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX consent_events_subject ON consent_events (tenant_id, subject_id, at, id);
CREATE INDEX consent_events_tenant_at ON consent_events (tenant_id, at, id);
CREATE TABLE consent_events_default PARTITION OF consent_events DEFAULT;

DO $$
DECLARE
    m TIMESTAMP;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', at) FROM consent_events_unpartitioned LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF consent_events FOR VALUES FROM (%L) TO (%L)',
            'consent_events_p' || to_char(m, 'YYYY_MM'), m, m + INTERVAL '1 month');
    END LOOP;
END
$$;

INSERT INTO consent_events SELECT * FROM consent_events_unpartitioned;
DROP TABLE consent_events_unpartitioned;
