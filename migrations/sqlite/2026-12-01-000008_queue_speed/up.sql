-- The queue's overdue total and its search, fast over a million requests.

-- Open requests whose clock runs (not paused), per tenant, status, kind and
-- due day (UTC days since 1970-01-01), kept in step with every change in
-- its transaction (src/requests/counts.rs). The overdue total sums the days
-- before today and counts today's rows; nothing here says "overdue".
CREATE TABLE request_due_days (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    due_day BIGINT NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, due_day, status, kind)
);
INSERT INTO request_due_days (tenant_id, due_day, status, kind, n)
SELECT tenant_id, CAST(julianday(substr(due_at, 1, 10)) - 2440587.5 AS INTEGER), status, kind, count(*)
FROM rights_requests
WHERE is_open AND paused_at IS NULL
GROUP BY 1, 2, 3, 4;

-- The search text is lower case without accents from now on
-- (src/requests/search.rs, same table): fold the rows written before.
UPDATE rights_requests SET search_text = replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(search_text,
    'à', 'a'),
    'á', 'a'),
    'â', 'a'),
    'ã', 'a'),
    'ä', 'a'),
    'å', 'a'),
    'æ', 'ae'),
    'ç', 'c'),
    'è', 'e'),
    'é', 'e'),
    'ê', 'e'),
    'ë', 'e'),
    'ì', 'i'),
    'í', 'i'),
    'î', 'i'),
    'ï', 'i'),
    'ñ', 'n'),
    'ò', 'o'),
    'ó', 'o'),
    'ô', 'o'),
    'õ', 'o'),
    'ö', 'o'),
    'ø', 'o'),
    'œ', 'oe'),
    'ù', 'u'),
    'ú', 'u'),
    'û', 'u'),
    'ü', 'u'),
    'ý', 'y'),
    'ÿ', 'y')
WHERE search_text GLOB '*[àáâãäåæçèéêëìíîïñòóôõöøœùúûüýÿ]*';

-- No search index on SQLite: the search reads the tenant's rows (one
-- instance, one file; see the README's queue paragraph).
