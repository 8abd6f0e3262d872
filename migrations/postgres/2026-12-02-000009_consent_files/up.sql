-- On SQLite, consent events are kept in monthly files beside this one
-- (`src/consent/files.rs`); a sweep that deletes a file first adds its
-- daily counts to `consent_daily_counts` here, in the transaction that
-- records the fold. The row tells a sweep stopped before the file was
-- deleted that its counts are already in. Unused on PostgreSQL, where the
-- events stay in `consent_events`.
CREATE TABLE consent_file_folds (
    file TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    month TEXT NOT NULL,
    events BIGINT NOT NULL,
    run_id TEXT,
    folded_at TIMESTAMP NOT NULL
);
