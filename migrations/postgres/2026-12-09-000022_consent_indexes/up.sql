-- Leaner consent indexes: what each query needs, no more.
-- - The primary key becomes (at, id): the order in which an export, a
--   retention sweep and `guichet copy` read the events, which the index on
--   (tenant_id, at, id) served before (a month's partition holds a few
--   tenants: their rows are read together and filtered).
-- - A subject's events are found by (subject_id, at): the current consent
--   and the history, newest or oldest first; the tenant is checked on the
--   row (subject ids are random UUIDs: one seldom appears in two tenants).
-- A month's table left detached by a sweep stopped between detach and drop
-- loses its indexes too: attaching it again gives it the new ones.
DROP INDEX consent_events_tenant_at;
DROP INDEX consent_events_subject;
ALTER TABLE consent_events DROP CONSTRAINT consent_events_pkey;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_pkey PRIMARY KEY (at, id);
CREATE INDEX consent_events_subject ON consent_events (subject_id, at);

DO $$
DECLARE
    t regclass;
    c name;
    i regclass;
BEGIN
    FOR t IN SELECT oid::regclass FROM pg_class
             WHERE relkind = 'r' AND NOT relispartition
               AND relname ~ '^consent_events_p[0-9]{4}_[0-9]{2}$' LOOP
        FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = t AND contype = 'p' LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', t, c);
        END LOOP;
        FOR i IN SELECT indexrelid::regclass FROM pg_index WHERE indrelid = t LOOP
            EXECUTE format('DROP INDEX %s', i);
        END LOOP;
    END LOOP;
END
$$;
