-- Compact consent events (`src/consent/stored.rs`), a few hundred bytes
-- each where they took one and a half kilobytes:
-- - ids as `uuid` (the event's, its subject's, its tenant's), the IP
--   pseudonym as its 16 bytes;
-- - what many events share kept once in `consent_strings` and referred to
--   by number: the event's context (kind, policy version, choices, Global
--   Privacy Control, and the receipt's form: header, issuer, tenant,
--   policy hash), its user agent, its page;
-- - a receipt kept as its 64-byte signature, the rest being rebuilt from
--   the form and the event byte for byte. A receipt is split only where
--   the payload rebuilt here from the row is exactly the one signed;
--   any other stays whole in `receipt`.
--
-- Every row is moved into the new table's partitions (the same months) in
-- this migration's transaction: none lost, none twice. A month left
-- detached by a sweep stopped between detach and drop is converted too,
-- and stays detached for the next sweep to drop.
CREATE TABLE consent_strings (
    id SERIAL PRIMARY KEY,
    digest BYTEA NOT NULL UNIQUE,
    value TEXT NOT NULL
);

-- The signed payload of a receipt made by the service, as text; null for
-- anything else (a receipt's payload begins with its issuer).
CREATE FUNCTION pg_temp.receipt_payload(receipt TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    p TEXT := split_part(receipt, '.', 2);
    b BYTEA;
BEGIN
    IF receipt !~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' OR length(p) % 4 = 1 THEN
        RETURN NULL;
    END IF;
    b := decode(translate(p, '-_', '+/') || repeat('=', (4 - length(p) % 4) % 4), 'base64');
    IF substring(b FROM 1 FOR 7) <> '\x7b22697373223a'::bytea THEN
        RETURN NULL;
    END IF;
    RETURN convert_from(b, 'UTF8');
END
$$;

-- Base64url without padding, decoded.
CREATE FUNCTION pg_temp.unbase64url(s TEXT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(translate(s, '-_', '+/') || repeat('=', (4 - length(s) % 4) % 4), 'base64')
$$;

-- Moves the events of `src` (the former layout) into `dst` (the compact
-- one), adding their strings: each row is read and worked out once, into
-- a temporary table, then written.
CREATE FUNCTION pg_temp.compact(src TEXT, dst TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        CREATE TEMPORARY TABLE compacting ON COMMIT DROP AS
        WITH parts AS MATERIALIZED (
            SELECT e.*, pg_temp.receipt_payload(e.receipt) AS payload
            FROM %s e
        ), claims AS MATERIALIZED (
            SELECT p.*, j ->> 'iss' AS iss, j ->> 'tenant' AS slug, j ->> 'policy_sha256' AS sha
            FROM parts p LEFT JOIN LATERAL (SELECT p.payload::json AS j) x ON true
        ), checked AS (
            SELECT c.*,
                   coalesce(c.payload IS NOT NULL AND c.expires_at IS NOT NULL AND c.payload =
                       '{"iss":' || to_json(c.iss)::text
                       || ',"sub":' || to_json(c.subject_id)::text
                       || ',"jti":' || to_json(c.id)::text
                       || ',"iat":' || floor(extract(epoch FROM c.at))::bigint
                       || ',"exp":' || floor(extract(epoch FROM c.expires_at))::bigint
                       || ',"tenant":' || to_json(c.slug)::text
                       || ',"policy_version":' || to_json(c.policy_version)::text
                       || ',"choices":' || c.choices
                       || ',"gpc":' || c.gpc::text
                       || coalesce(',"policy_sha256":' || to_json(c.sha)::text, '')
                       || '}', false) AS split
            FROM claims c
        )
        SELECT k.at, k.expires_at, k.id, k.subject_id, k.tenant_id, k.user_agent, k.page_url,
               k.ip_pseudonym, k.tc_string,
               CASE WHEN k.split THEN pg_temp.unbase64url(split_part(k.receipt, '.', 3)) END
                   AS signature,
               CASE WHEN k.split THEN NULL ELSE k.receipt END AS receipt,
               '{"event":' || to_json(k.event)::text
               || ',"policy_version":' || to_json(k.policy_version)::text
               || ',"choices":' || to_json(k.choices)::text
               || ',"gpc":' || k.gpc::text
               || CASE WHEN k.split THEN
                      ',"receipt":{"header":' || to_json(split_part(k.receipt, '.', 1))::text
                      || ',"iss":' || to_json(k.iss)::text
                      || ',"tenant":' || to_json(k.slug)::text
                      || coalesce(',"policy_sha256":' || to_json(k.sha)::text, '')
                      || '}'
                  ELSE '' END
               || '}' AS context
        FROM checked k
    $q$, src);

    INSERT INTO consent_strings (digest, value)
    SELECT sha256(convert_to(v, 'UTF8')), v
    FROM (SELECT DISTINCT context AS v FROM compacting
          UNION SELECT DISTINCT user_agent FROM compacting WHERE user_agent IS NOT NULL
          UNION SELECT DISTINCT page_url FROM compacting WHERE page_url IS NOT NULL) s
    ON CONFLICT (digest) DO NOTHING;

    EXECUTE format($q$
        INSERT INTO %s (at, expires_at, id, subject_id, tenant_id, context, user_agent,
                        page_url, ip_pseudonym, tc_string, signature, receipt)
        SELECT k.at, k.expires_at, k.id::uuid, k.subject_id::uuid, k.tenant_id::uuid, c.id, u.id,
               p.id, decode(k.ip_pseudonym, 'hex'), k.tc_string, k.signature, k.receipt
        FROM compacting k
        JOIN consent_strings c ON c.value = k.context
        LEFT JOIN consent_strings u ON u.value = k.user_agent
        LEFT JOIN consent_strings p ON p.value = k.page_url
        ORDER BY k.at, k.id
    $q$, dst);

    DROP TABLE compacting;
END
$$;

-- The former table, its partitions and its indexes step aside.
ALTER TABLE consent_events RENAME TO consent_events_v2;
ALTER TABLE consent_events_v2 RENAME CONSTRAINT consent_events_pkey TO consent_events_v2_pkey;
ALTER INDEX consent_events_subject RENAME TO consent_events_v2_subject;

-- Found by `at`: an export, a sweep and `guichet copy` read in (at, id)
-- order, which the index on `at` gives but for the few events of one
-- instant, sorted as they come; by `subject_id`: the current consent and
-- the history, a subject's few events sorted as they come. Neither holds
-- the other's columns, and there is no primary key: ids are UUIDv7 drawn
-- by the service, and a unique (at, id) index would take 46 bytes an
-- event. References to the tenants and the strings are not foreign keys:
-- the tenants are never deleted, the strings are written in the event's
-- transaction and never deleted, and every check would cost each insert.
CREATE TABLE consent_events (
    at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    id UUID NOT NULL,
    subject_id UUID NOT NULL,
    tenant_id UUID NOT NULL,
    context INTEGER NOT NULL,
    user_agent INTEGER,
    page_url INTEGER,
    ip_pseudonym BYTEA,
    tc_string TEXT,
    signature BYTEA,
    receipt TEXT
) PARTITION BY RANGE (at);
CREATE INDEX consent_events_at ON consent_events (at);
CREATE INDEX consent_events_subject ON consent_events (subject_id);

DO $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'consent_events_v2'::regclass LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', r.name,
                       replace(r.name, 'consent_events_', 'consent_events_v2_'));
        EXECUTE format('CREATE TABLE %I PARTITION OF consent_events %s', r.name, r.bound);
    END LOOP;
    PERFORM pg_temp.compact('consent_events_v2', 'consent_events');

    FOR r IN SELECT relname::text AS name FROM pg_class
             WHERE relkind = 'r' AND NOT relispartition
               AND relname ~ '^consent_events_p[0-9]{4}_[0-9]{2}$'
               AND pg_table_is_visible(oid) LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', r.name,
                       replace(r.name, 'consent_events_', 'consent_events_v2_'));
        EXECUTE format('CREATE TABLE %I (LIKE consent_events INCLUDING DEFAULTS)', r.name);
        PERFORM pg_temp.compact(replace(r.name, 'consent_events_', 'consent_events_v2_'), r.name);
        EXECUTE format('DROP TABLE %I', replace(r.name, 'consent_events_', 'consent_events_v2_'));
    END LOOP;
END
$$;

DROP TABLE consent_events_v2;
DROP FUNCTION pg_temp.compact(TEXT, TEXT);
DROP FUNCTION pg_temp.unbase64url(TEXT);
DROP FUNCTION pg_temp.receipt_payload(TEXT);
