-- The queue's overdue total and its search, fast over a million requests.

-- Open requests whose clock runs (not paused), per tenant, status, kind and
-- due day (UTC days since 1970-01-01), kept in step with every change in
-- its transaction (src/requests/counts.rs), twice: per day (span 1) and per
-- block of 32 days (span 32, due_day its first day). The overdue total sums
-- the blocks before today's, the days of today's block before today, and
-- counts today's rows; nothing here says "overdue".
CREATE TABLE request_due_days (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    span BIGINT NOT NULL,
    due_day BIGINT NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, span, due_day, status, kind)
);
INSERT INTO request_due_days (tenant_id, span, due_day, status, kind, n)
SELECT r.tenant_id, s.span, r.day - r.day % s.span, r.status, r.kind, count(*)
FROM (
    SELECT tenant_id, status, kind, CAST(julianday(substr(due_at, 1, 10)) - 2440587.5 AS INTEGER) AS day
    FROM rights_requests
    WHERE is_open AND paused_at IS NULL
) r
    CROSS JOIN (SELECT 1 AS span UNION ALL SELECT 32) s
GROUP BY 1, 2, 3, 4, 5;

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

-- The words a request is found by (src/requests/search.rs): each word of
-- the search text between spaces, and the parts of compound names. A
-- prefix of a word is a range of the primary key.
CREATE TABLE request_words (
    word TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    PRIMARY KEY (word, request_id)
);
CREATE INDEX request_words_request ON request_words (request_id);
WITH RECURSIVE
    tokens (request_id, token, rest) AS (
        SELECT id, '', search_text || ' ' FROM rights_requests WHERE search_text IS NOT NULL
        UNION ALL
        SELECT request_id, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
        FROM tokens WHERE rest <> ''
    ),
    parts (request_id, part, rest) AS (
        SELECT request_id, '', replace(replace(replace(token, '-', ' '), '''', ' '), '’', ' ') || ' '
        FROM tokens WHERE token <> '' AND instr(token, '@') = 0
        UNION ALL
        SELECT request_id, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
        FROM parts WHERE rest <> ''
    )
INSERT OR IGNORE INTO request_words (word, request_id)
SELECT token, request_id FROM tokens WHERE token <> ''
UNION
SELECT part, request_id FROM parts WHERE part <> '';

-- When the retention erases the search text (with the names and the
-- address), the words go with it, whoever erases it.
CREATE TRIGGER rights_requests_words_erased
    AFTER UPDATE OF search_text ON rights_requests
    FOR EACH ROW WHEN NEW.search_text IS NULL
BEGIN
    DELETE FROM request_words WHERE request_id = NEW.id;
END;
