-- How many consent events each tenant has in each month (of `at`, UTC),
-- kept by the database as events are written and removed, whatever the
-- statement (src/consent/partitions.rs): a month that goes whole is counted
-- for the run's record from here rather than by reading every row of it,
-- a scan that would take the machine's cores from the consents being
-- recorded meanwhile. A month's table left detached by a sweep stopped
-- before dropping it keeps its counts until it is dropped (the sweep then
-- takes them away with it). Rows moved between partitions (a month
-- attached, its events taken from the default partition) stay in their
-- month: the statements that move them name the partitions, which have no
-- such trigger, and the counts do not change.
CREATE TABLE consent_month_counts (
    tenant_id UUID NOT NULL,
    month DATE NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month)
);

-- The counts are added in key order: two writers lock them in the same
-- order.
CREATE FUNCTION consent_month_counts_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO consent_month_counts (tenant_id, month, events)
    SELECT tenant_id, CAST(date_trunc('month', at) AS DATE), count(*)
    FROM written GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (tenant_id, month) DO UPDATE SET events = consent_month_counts.events + excluded.events;
    RETURN NULL;
END
$$;

CREATE FUNCTION consent_month_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE consent_month_counts c SET events = c.events - gone.n
    FROM (SELECT tenant_id, CAST(date_trunc('month', at) AS DATE) AS month, count(*) AS n
          FROM removed GROUP BY 1, 2) AS gone
    WHERE c.tenant_id = gone.tenant_id AND c.month = gone.month;
    RETURN NULL;
END
$$;

CREATE TRIGGER consent_events_written AFTER INSERT ON consent_events
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION consent_month_counts_written();
CREATE TRIGGER consent_events_removed AFTER DELETE ON consent_events
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION consent_month_counts_removed();

DO $$
DECLARE
    r RECORD;
BEGIN
    INSERT INTO consent_month_counts
    SELECT tenant_id, CAST(date_trunc('month', at) AS DATE), count(*)
    FROM consent_events GROUP BY 1, 2;
    FOR r IN SELECT relname::text AS name FROM pg_class
             WHERE relkind = 'r' AND NOT relispartition
               AND relname ~ '^consent_events_p[0-9]{4}_[0-9]{2}$'
               AND pg_table_is_visible(oid) LOOP
        EXECUTE format(
            'INSERT INTO consent_month_counts '
            'SELECT tenant_id, CAST(date_trunc(''month'', at) AS DATE), count(*) FROM %I GROUP BY 1, 2 '
            'ON CONFLICT (tenant_id, month) DO UPDATE '
            'SET events = consent_month_counts.events + excluded.events', r.name);
    END LOOP;
END
$$;
