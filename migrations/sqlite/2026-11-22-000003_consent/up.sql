-- Consent events are immutable: a new choice or a withdrawal is a new row.
-- No raw IP: a keyed pseudonym of the client's /24 or /48 network.
CREATE TABLE consent_events (
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
CREATE INDEX consent_events_subject ON consent_events (tenant_id, subject_id, at, id);
CREATE INDEX consent_events_tenant_at ON consent_events (tenant_id, at, id);

-- Anonymous counts per day (UTC), tenant and purpose; they outlive the raw
-- events, which are purged after their retention period.
CREATE TABLE consent_daily_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    day TEXT NOT NULL,
    purpose_id TEXT NOT NULL,
    accepted BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, purpose_id)
);
