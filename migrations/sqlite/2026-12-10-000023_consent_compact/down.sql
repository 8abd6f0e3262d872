-- On PostgreSQL the consent events become compact. SQLite keeps its events
-- in monthly files, whose schema `src/consent/upgrade.rs` brings to
-- version 3 (the same compact rows, each file with its strings); the main
-- file's table keeps its layout, for events still to move into files.
SELECT 1;
