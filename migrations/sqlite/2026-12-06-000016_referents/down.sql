DROP TABLE request_notes;
DROP TABLE request_assignments;
PRAGMA defer_foreign_keys = ON;
DELETE FROM staff_users WHERE role = 'referent';
CREATE TABLE staff_users_old (
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
INSERT INTO staff_users_old SELECT id, tenant_id, email, password_hash, role, disabled,
    locked_until, created_at, updated_at, token_generation FROM staff_users;
DROP TABLE staff_users;
ALTER TABLE staff_users_old RENAME TO staff_users;
CREATE INDEX staff_users_tenant ON staff_users (tenant_id);
