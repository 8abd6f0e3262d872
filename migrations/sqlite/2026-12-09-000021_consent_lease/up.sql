-- On PostgreSQL, the lease of an instance that is the only writer of
-- consents. SQLite serves one instance, which always is: nothing to keep.
SELECT 1;
