-- Every consent policy a tenant has served, with its validity and the
-- SHA-256 of its canonical JSON: the public proof of what each consent was
-- asked against. One row per tenant is current (valid_to null); a start
-- with another policy closes it and opens the next.
CREATE TABLE consent_policy_versions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    policy_version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    policy TEXT NOT NULL,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP
);
CREATE UNIQUE INDEX consent_policy_versions_current ON consent_policy_versions (tenant_id)
    WHERE valid_to IS NULL;
CREATE INDEX consent_policy_versions_tenant ON consent_policy_versions (tenant_id, valid_from);

-- A banner's retries: the first answer to an Idempotency-Key, per tenant,
-- for a day. `response` is null while the first request is in flight.
CREATE TABLE consent_idempotency (
    tenant_id TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, key_hash)
);
CREATE INDEX consent_idempotency_created ON consent_idempotency (created_at);
