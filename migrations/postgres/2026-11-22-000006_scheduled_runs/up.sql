-- Scheduled work claimed once per slot across every instance: the first
-- to insert (job, slot) runs it, in the same transaction as its effects.
CREATE TABLE scheduled_runs (
    job TEXT NOT NULL,
    slot TEXT NOT NULL,
    claimed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job, slot)
);
