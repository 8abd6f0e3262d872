-- On PostgreSQL the consent indexes become leaner. SQLite keeps its events
-- in monthly files, whose schema `src/consent/upgrade.rs` brings to
-- version 2 (the same indexes); the main file holds none once they moved.
SELECT 1;
