-- The lease of an instance that is the only writer of consents
-- (src/consent/lease.rs). While it holds it, the instance answers the
-- current consent from its memory without first hearing the others' news:
-- every other writer waits until it has given the lease up, or until the
-- lease has run out when the holder vanished without giving it up.
--
-- Every serving instance holds the advisory lock `consent_lease_key()`
-- shared for as long as it listens; every transaction that writes consents
-- holds it shared until it commits (`consent_lease_check`); the holder of
-- the lease holds it exclusively, so it can take the lease only when no
-- other instance serves and no write is under way, and sees who waits.

CREATE TABLE consent_lease (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    until TIMESTAMPTZ
);

-- The advisory lock's two keys: "leas", and the schema (a database may hold
-- several Guichet schemas, each with its own instances).
CREATE FUNCTION consent_lease_key(OUT k1 INTEGER, OUT k2 INTEGER)
LANGUAGE sql STABLE AS $$
    SELECT 1818583411, hashtext(current_schema()) & 2147483647
$$;

-- First in every transaction that writes consent events, by `writer` (an
-- instance's name, or '' for a tool). The holder of the lease writes at
-- once, the lease pinned until commit so that no one takes it over before
-- this write can be heard. Anyone else holds the lock shared until commit
-- (waiting while a holder is there: the holder sees it and gives the lease
-- up), then waits out a lease its holder did not give up.
CREATE FUNCTION consent_lease_check(writer TEXT) RETURNS VOID
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lease consent_lease%ROWTYPE;
    k RECORD;
BEGIN
    SELECT * INTO lease FROM consent_lease WHERE id = 1;
    IF writer <> '' AND lease.holder = writer AND lease.until > clock_timestamp() THEN
        SELECT * INTO lease FROM consent_lease WHERE id = 1 FOR SHARE;
        IF lease.holder = writer AND lease.until > clock_timestamp() THEN
            RETURN;
        END IF;
    END IF;
    SELECT * INTO k FROM consent_lease_key();
    PERFORM pg_advisory_xact_lock_shared(k.k1, k.k2);
    SELECT * INTO lease FROM consent_lease WHERE id = 1;
    IF lease.holder IS NOT NULL AND lease.holder <> writer AND lease.until > clock_timestamp() THEN
        PERFORM pg_sleep(EXTRACT(EPOCH FROM lease.until - clock_timestamp()));
    END IF;
END $$;

-- Takes the lease for `ms` milliseconds, by an instance holding the lock
-- exclusively; false while another's lease runs.
CREATE FUNCTION consent_lease_take(writer TEXT, ms INTEGER) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO consent_lease AS l (id, holder, until)
    VALUES (1, writer, clock_timestamp() + ms * INTERVAL '1 millisecond')
    ON CONFLICT (id) DO UPDATE
        SET holder = EXCLUDED.holder, until = clock_timestamp() + ms * INTERVAL '1 millisecond'
        WHERE l.holder IS NULL OR l.holder = EXCLUDED.holder OR l.until <= clock_timestamp();
    RETURN FOUND;
END $$;

-- Extends the holder's lease; false when it is not the holder any more or
-- when a writer or an instance waits for the lock.
CREATE FUNCTION consent_lease_renew(writer TEXT, ms INTEGER) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k RECORD;
BEGIN
    UPDATE consent_lease SET until = clock_timestamp() + ms * INTERVAL '1 millisecond'
    WHERE id = 1 AND holder = writer;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    SELECT * INTO k FROM consent_lease_key();
    RETURN NOT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = k.k1::oid AND objid = k.k2::oid AND objsubid = 2
    );
END $$;

-- Gives the lease up. The exclusive lock is released after this has
-- committed, so that a writer it lets in finds the lease given up.
CREATE FUNCTION consent_lease_leave(writer TEXT) RETURNS VOID
LANGUAGE sql VOLATILE AS $$
    UPDATE consent_lease SET holder = NULL, until = NULL WHERE id = 1 AND holder = writer
$$;
