-- On PostgreSQL, consent events become partitioned by month. SQLite keeps
-- them in monthly files already (src/consent/files.rs): nothing changes.
SELECT 1;
