CREATE TABLE consent_events_unpartitioned (
    id TEXT PRIMARY KEY,
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
    receipt TEXT
);
INSERT INTO consent_events_unpartitioned SELECT * FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_unpartitioned RENAME TO consent_events;
ALTER TABLE consent_events RENAME CONSTRAINT consent_events_unpartitioned_pkey TO consent_events_pkey;
CREATE INDEX consent_events_subject ON consent_events (tenant_id, subject_id, at, id);
CREATE INDEX consent_events_tenant_at ON consent_events (tenant_id, at, id);
