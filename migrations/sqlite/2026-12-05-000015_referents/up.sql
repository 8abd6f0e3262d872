-- A third role, `referent`: the staff account of a service (état civil,
-- urbanisme…) that sees only the requests a DPO assigns to it. SQLite
-- cannot change a CHECK constraint in place: the table is rebuilt with the
-- same rows, the references to it checked at commit (the rows that refer to
-- an account find it again when it is copied back).
PRAGMA defer_foreign_keys = ON;
CREATE TABLE staff_users_copy AS SELECT id, tenant_id, email, password_hash, role, disabled,
    locked_until, created_at, updated_at, token_generation FROM staff_users;
DROP TABLE staff_users;
CREATE TABLE staff_users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('dpo', 'admin', 'referent')),
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

-- A request handed to a referent (the service that holds the data) by the
-- DPO: until when, with what note, and whether the referent has answered
-- (with an internal note) or been reminded.
CREATE TABLE request_assignments (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    referent_id TEXT NOT NULL REFERENCES staff_users (id),
    -- The staff member's e-mail, as the timeline's actors are.
    assigned_by TEXT NOT NULL,
    note TEXT,
    due_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    reminded_at TIMESTAMP
);
CREATE INDEX request_assignments_request ON request_assignments (request_id, created_at);
CREATE INDEX request_assignments_referent ON request_assignments (referent_id, request_id);
-- The reminders' walk: unanswered assignments past their due date.
CREATE INDEX request_assignments_due ON request_assignments (due_at)
    WHERE answered_at IS NULL AND reminded_at IS NULL;

-- Internal notes on a request, by the DPO or its referents: never shown
-- to the requester; their text goes with the requester's data.
CREATE TABLE request_notes (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    author TEXT NOT NULL,
    body TEXT,
    erased_at TIMESTAMP
);
CREATE INDEX request_notes_request ON request_notes (request_id, at);
