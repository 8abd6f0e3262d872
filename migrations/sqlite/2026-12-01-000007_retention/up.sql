-- Each retention sweep, what it removed so far (kept up to date in the
-- transaction of every batch) and how it ended. Nothing personal: counts by
-- tenant slug and category.
CREATE TABLE retention_runs (
    id TEXT PRIMARY KEY,
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'cli', 'resume')),
    slot TEXT,
    tenant_id TEXT REFERENCES tenants (id),
    as_of TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    removed TEXT NOT NULL,
    error TEXT,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX retention_runs_started ON retention_runs (started_at, id);
CREATE INDEX retention_runs_status ON retention_runs (status);

-- Closed requests whose requester's data are still there, in the order the
-- sweep reaches them.
CREATE INDEX rights_requests_closed ON rights_requests (tenant_id, closed_at, id)
    WHERE erased_at IS NULL;
-- Suppression-list entries and connection-journal rows by age.
CREATE INDEX suppression_list_added ON suppression_list (tenant_id, added_at, email_hash);
CREATE INDEX mail_outbox_tenant_sent ON mail_outbox (tenant_id, status, sent_at, id);
