DROP INDEX consent_events_subject;
ALTER TABLE consent_events DROP CONSTRAINT consent_events_pkey;
ALTER TABLE consent_events ADD CONSTRAINT consent_events_pkey PRIMARY KEY (id, at);
CREATE INDEX consent_events_subject ON consent_events (tenant_id, subject_id, at, id);
CREATE INDEX consent_events_tenant_at ON consent_events (tenant_id, at, id);

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
