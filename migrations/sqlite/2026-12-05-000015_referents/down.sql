DROP TABLE request_notes;
DROP TABLE request_assignments;
DELETE FROM staff_users WHERE role = 'referent';
PRAGMA defer_foreign_keys = ON;
CREATE TABLE staff_users_copy AS SELECT id, tenant_id, email, password_hash, role, disabled,
    locked_until, created_at, updated_at, token_generation FROM staff_users;
DROP TABLE staff_users;
CREATE TABLE staff_users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('dpo', 'admin')),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    token_generation BIGINT NOT NULL DEFAULT 0
);
INSERT INTO staff_users (id, tenant_id, email, password_hash, role, disabled,
    locked_until, created_at, updated_at, token_generation)
SELECT id, tenant_id, email, password_hash, role, disabled,
    locked_until, created_at, updated_at, token_generation FROM staff_users_copy;
DROP TABLE staff_users_copy;
CREATE INDEX staff_users_tenant ON staff_users (tenant_id);
