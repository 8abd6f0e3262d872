#!/usr/bin/env bash
# Rights requests on PostgreSQL: the DPO's queue page over 1 000 000
# requests of one tenant (target p99 <= 20 ms), and submissions carrying a
# 1 MiB identity document (target >= 50/s). Usage: bench/requests.sh [--record]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS=${SECS:-10}
ROWS=${ROWS:-1000000}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_requests
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB" 2>/dev/null
export BENCH_DATABASE_URL="${PG_ADMIN%/*}/$PG_DB"
bench_setup
export GUICHET__REQUESTS__SUBMISSIONS_PER_IP_PER_HOUR=100000000
export GUICHET__REQUESTS__SUBMISSIONS_PER_EMAIL_PER_DAY=100000000
export GUICHET__MAIL__WORKER=false
"$BIN" migrate >/dev/null
echo "a long passphrase for load tests" | "$BIN" users add --tenant sevres --email bench@ville-sevres.fr --role dpo --password-stdin >/dev/null

started=$(date +%s)
psql "$BENCH_DATABASE_URL" -q <<SQL
INSERT INTO rights_requests (id, tenant_id, reference, kind, status, is_open, first_name, last_name,
  email, email_hash, details, search_text, received_at, due_at, extended, updated_at)
SELECT md5(g::text), (SELECT id FROM tenants WHERE slug = 'sevres'), 'DR-' || upper(lpad(to_hex(g), 8, '0')),
  (ARRAY['access','rectification','erasure','restriction','opposition','portability'])[1 + g % 6],
  (ARRAY['received','in_progress','awaiting_identity','completed','rejected'])[1 + g % 5],
  (g % 5) < 3, 'Prénom' || g, 'Nom' || g, 'person' || g || '@example.org', md5('e' || g), 'Détails',
  lower('DR-' || upper(lpad(to_hex(g), 8, '0')) || ' prenom' || g || ' nom' || g || ' person' || g || '@example.org'),
  timestamp '2024-01-01' + (g || ' minutes')::interval, timestamp '2024-02-01' + (g || ' minutes')::interval, false,
  timestamp '2024-01-01'
FROM generate_series(1, $ROWS) g;
INSERT INTO request_counts (tenant_id, status, kind, n)
SELECT tenant_id, status, kind, count(*) FROM rights_requests GROUP BY tenant_id, status, kind;
INSERT INTO request_due_days (tenant_id, span, due_day, status, kind, n)
SELECT r.tenant_id, s.span, r.day - r.day % s.span, r.status, r.kind, count(*)
FROM (SELECT tenant_id, status, kind, (due_at::date - DATE '1970-01-01')::BIGINT AS day
  FROM rights_requests WHERE is_open AND paused_at IS NULL) r
  CROSS JOIN (SELECT 1 AS span UNION ALL SELECT 32) s
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO request_words (word, request_id)
SELECT DISTINCT w.word, r.id
FROM rights_requests r, LATERAL regexp_split_to_table(r.search_text, ' ') AS t (token),
  LATERAL (SELECT t.token UNION ALL
    SELECT regexp_split_to_table(t.token, '[-''’]') WHERE position('@' IN t.token) = 0) AS w (word)
WHERE w.word <> '';
VACUUM ANALYZE request_words;
VACUUM ANALYZE rights_requests;
-- The seed's gigabyte of writes goes to disk now, not during the measures.
CHECKPOINT;
SQL
seeded=$(( $(date +%s) - started ))
bench_start
TOKEN=$(curl -fsS -H 'content-type: application/json' -d '{"email":"bench@ville-sevres.fr","password":"a long passphrase for load tests"}' "$BASE/v1/auth/login" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')

queue() {
  # A first pass of the same query, not counted, so that each figure is of
  # a warm database, as a queue that a DPO works every day is.
  wrk -t2 -c8 -d2s -H "Authorization: Bearer $TOKEN" "$BASE/v1/dpo/requests$1" >/dev/null
  wrk -t2 -c8 -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$BASE/v1/dpo/requests$1" >"$WORK/q"
  printf '| `%s` | %s | %s | %s |\n' "${1:-(default)}" "$(wrk_field "$WORK/q" rps)" "$(to_ms "$(wrk_field "$WORK/q" p50)")" "$(to_ms "$(wrk_field "$WORK/q" p99)")"
}
rows=$(
  queue ""
  queue "?status=received,in_progress"
  queue "?kind=erasure&sort=-received_at"
  queue "?overdue=true"
  queue "?q=person4242@"
  queue "?q=person4242@example.org"
  queue "?q=Nom4242"
)
wrk -t2 -c16 -d"${SECS}s" --latency -s bench/submit.lua "$BASE" >"$WORK/submit"
sub_rps=$(wrk_field "$WORK/submit" rps)
sub_p99=$(to_ms "$(wrk_field "$WORK/submit" p99)")
sub_errors=$(wrk_field "$WORK/submit" non2xx)
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" 2>/dev/null || true

table=$(cat <<TABLE
Queue over $ROWS requests of one tenant (seeded in ${seeded} s), 8 connections, page of 50:

| query | req/s | p50 ms | p99 ms |
|---|---|---|---|
$rows

Submissions with a 1 MiB PDF, 16 connections: $sub_rps/s, p99 $sub_p99 ms, non-2xx: $sub_errors (target >= 50/s).
TABLE
)
echo "$table"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo
    echo "## Rights requests — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), PostgreSQL, release build"
    echo
    echo "\`bench/requests.sh\`; target: queue p99 <= 20 ms, submissions >= 50/s."
    echo
    echo "$table"
  } | record_results
fi
