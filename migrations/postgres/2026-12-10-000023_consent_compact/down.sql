-- Back to the former layout: every row expanded, receipts made whole
-- again from their form, the event and the signature.
CREATE FUNCTION pg_temp.base64url(b BYTEA) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(replace(encode(b, 'base64'), E'\n', ''), '+/', '-_'), '=')
$$;

CREATE FUNCTION pg_temp.expand(src TEXT, dst TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        INSERT INTO %s (id, tenant_id, subject_id, event, policy_version, choices, gpc, at,
                        expires_at, ip_pseudonym, user_agent, page_url, tc_string, receipt)
        SELECT e.id::text, e.tenant_id::text, e.subject_id::text, x.j ->> 'event',
               x.j ->> 'policy_version', x.j ->> 'choices', (x.j ->> 'gpc')::boolean, e.at,
               e.expires_at, encode(e.ip_pseudonym, 'hex'), u.value, p.value, e.tc_string,
               CASE
                   WHEN e.receipt IS NOT NULL THEN e.receipt
                   WHEN e.signature IS NOT NULL AND x.j -> 'receipt' IS NOT NULL THEN
                       (x.j -> 'receipt' ->> 'header') || '.' || pg_temp.base64url(convert_to(
                           '{"iss":' || to_json(x.j -> 'receipt' ->> 'iss')::text
                           || ',"sub":' || to_json(e.subject_id::text)::text
                           || ',"jti":' || to_json(e.id::text)::text
                           || ',"iat":' || floor(extract(epoch FROM e.at))::bigint
                           || ',"exp":' || floor(extract(epoch FROM e.expires_at))::bigint
                           || ',"tenant":' || to_json(x.j -> 'receipt' ->> 'tenant')::text
                           || ',"policy_version":' || to_json(x.j ->> 'policy_version')::text
                           || ',"choices":' || (x.j ->> 'choices')
                           || ',"gpc":' || (x.j ->> 'gpc')
                           || coalesce(',"policy_sha256":'
                                       || to_json(x.j -> 'receipt' ->> 'policy_sha256')::text, '')
                           || '}', 'UTF8'))
                       || '.' || pg_temp.base64url(e.signature)
               END
        FROM %s e
        JOIN consent_strings c ON c.id = e.context
        CROSS JOIN LATERAL (SELECT c.value::json AS j) x
        LEFT JOIN consent_strings u ON u.id = e.user_agent
        LEFT JOIN consent_strings p ON p.id = e.page_url
    $q$, dst, src);
END
$$;

ALTER TABLE consent_events RENAME TO consent_events_v3;
ALTER INDEX consent_events_at RENAME TO consent_events_v3_at;
ALTER INDEX consent_events_subject RENAME TO consent_events_v3_subject;

CREATE TABLE consent_events (
    id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    subject_id TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('given', 'withdrawn')),
    policy_version TEXT NOT NULL,
    choices TEXT NOT NULL,
    gpc BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    ip_pseudonym TEXT,
    user_agent TEXT,
    page_url TEXT,
    tc_string TEXT,
    receipt TEXT,
    PRIMARY KEY (at, id)
) PARTITION BY RANGE (at);
CREATE INDEX consent_events_subject ON consent_events (subject_id, at);

DO $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'consent_events_v3'::regclass LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', r.name,
                       replace(r.name, 'consent_events_', 'consent_events_v3_'));
        EXECUTE format('CREATE TABLE %I PARTITION OF consent_events %s', r.name, r.bound);
    END LOOP;
    PERFORM pg_temp.expand('consent_events_v3', 'consent_events');

    FOR r IN SELECT relname::text AS name FROM pg_class
             WHERE relkind = 'r' AND NOT relispartition
               AND relname ~ '^consent_events_p[0-9]{4}_[0-9]{2}$'
               AND pg_table_is_visible(oid) LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', r.name,
                       replace(r.name, 'consent_events_', 'consent_events_v3_'));
        EXECUTE format('CREATE TABLE %I (LIKE consent_events INCLUDING DEFAULTS)', r.name);
        PERFORM pg_temp.expand(replace(r.name, 'consent_events_', 'consent_events_v3_'), r.name);
        EXECUTE format('DROP TABLE %I', replace(r.name, 'consent_events_', 'consent_events_v3_'));
    END LOOP;
END
$$;

DROP TABLE consent_events_v3;
DROP TABLE consent_strings;
DROP FUNCTION pg_temp.expand(TEXT, TEXT);
DROP FUNCTION pg_temp.base64url(BYTEA);
