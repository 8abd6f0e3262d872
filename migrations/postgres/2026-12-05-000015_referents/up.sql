-- A third role, `referent`: the staff account of a service (état civil,
-- urbanisme…) that sees only the requests a DPO assigns to it.
ALTER TABLE staff_users DROP CONSTRAINT staff_users_role_check;
ALTER TABLE staff_users ADD CONSTRAINT staff_users_role_check
    CHECK (role IN ('dpo', 'admin', 'referent'));

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
