-- Staff accounts: DPOs see their own tenant, admins every tenant.
CREATE TABLE staff_users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('dpo', 'admin')),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX staff_users_tenant ON staff_users (tenant_id);

-- The journal of connections and of staff actions that matter. Client
-- addresses appear only as keyed pseudonyms of their network prefix.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id),
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT REFERENCES staff_users (id),
    ip_pseudonym TEXT,
    subject_id TEXT,
    detail TEXT
);
CREATE INDEX audit_events_tenant_at ON audit_events (tenant_id, at);
CREATE INDEX audit_events_at ON audit_events (at);
