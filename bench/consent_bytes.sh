#!/usr/bin/env bash
# Disk bytes per stored consent, on PostgreSQL and on SQLite: the service
# records consents through its API (wrk, bench/consent_bytes.lua: the five
# demo tenants, random subjects, real browsers' user agents, a few dozen
# pages per site), then the script measures what the consent records take:
# - PostgreSQL: pg_total_relation_size (table, indexes, TOAST, free-space
#   and visibility maps) of every partition of `consent_events`, and of the
#   tables its records refer to (`consent_strings`, when there is one);
# - SQLite: the bytes of every month file (`<database>-consents/*/*.db`,
#   write-ahead logs checkpointed into them first).
# Bytes per consent = those bytes / the rows counted. Not run by CI.
#
# Usage: bench/consent_bytes.sh [--record]   (SECS=60, BACKENDS="postgres sqlite";
#        BENCH_BIN=path/to/guichet to measure a build made beforehand)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS=${SECS:-60}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_bytes
results=()

run_backend() {
  local backend=$1
  bench_database "$backend"
  bench_setup
  export GUICHET__DATABASE__POOL_SIZE=16
  bench_start
  wrk -t2 -c32 -d"${SECS}s" -s bench/consent_bytes.lua "$BASE" >"$WORK/post"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT
  local rows bytes detail
  if [[ $backend == postgres ]]; then
    psql "$BENCH_DATABASE_URL" -qc "CHECKPOINT"
    rows=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT count(*) FROM consent_events")
    # Each partition (the parent holds nothing itself), and what refers out.
    local parts="SELECT inhrelid AS rel FROM pg_inherits WHERE inhparent = 'consent_events'::regclass
                 UNION ALL SELECT to_regclass('consent_strings') WHERE to_regclass('consent_strings') IS NOT NULL"
    bytes=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT sum(pg_total_relation_size(rel)) FROM ($parts) p")
    detail=$(psql "$BENCH_DATABASE_URL" -AtF' ' -c "
      SELECT 'heap', sum(pg_relation_size(rel)) FROM ($parts) p
      UNION ALL SELECT 'toast', sum(pg_total_relation_size(rel) - pg_relation_size(rel) - pg_indexes_size(rel)
                                    - pg_relation_size(rel, 'fsm') - pg_relation_size(rel, 'vm')) FROM ($parts) p
      UNION ALL SELECT 'maps', sum(pg_relation_size(rel, 'fsm') + pg_relation_size(rel, 'vm')) FROM ($parts) p
      UNION ALL SELECT i.relname::text, sum(pg_relation_size(x.indexrelid))
        FROM ($parts) p JOIN pg_index x ON x.indrelid = p.rel
        JOIN pg_inherits ih ON ih.inhrelid = x.indexrelid
        JOIN pg_class i ON i.oid = ih.inhparent GROUP BY i.relname
      UNION ALL SELECT c.relname::text, sum(pg_relation_size(x.indexrelid))
        FROM ($parts) p JOIN pg_index x ON x.indrelid = p.rel
        JOIN pg_class c ON c.oid = x.indexrelid
        WHERE NOT EXISTS (SELECT 1 FROM pg_inherits ih WHERE ih.inhrelid = x.indexrelid)
        GROUP BY c.relname" | awk -v n="$rows" '{printf "%s %.1f B; ", $1, $2 / n}')
  else
    local f
    for f in "$WORK"/guichet.db-consents/*/*.db; do
      sqlite3 "$f" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    done
    rows=$(sqlite_consents)
    bytes=$(cat "$WORK"/guichet.db-consents/*/*.db* | wc -c)
    # What each table and index takes, summed over the files (dbstat).
    detail=$(for f in "$WORK"/guichet.db-consents/*/*.db; do
        sqlite3 "$f" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
      done | awk -F'|' -v n="$rows" '{s[$1] += $2} END {for (k in s) printf "%s %.1f B; ", k, s[k] / n}')
  fi
  local per
  per=$(echo "$bytes / $rows" | bc -l)
  results+=("| $backend | $rows | $bytes | $(printf %.1f "$per") | ${detail% } |")
  echo "$backend: $rows consents, $bytes bytes, $(printf %.1f "$per") bytes per consent ($detail)" >&2
}

for backend in ${BACKENDS:-postgres sqlite}; do
  run_backend "$backend"
done

section() {
  echo "## Disk bytes per consent — $(date -u +%F) — $(nproc) cores, $(uname -m), $(git rev-parse --short HEAD)"
  echo
  echo "\`bench/consent_bytes.sh\`: wrk, 2 threads, 32 connections, ${SECS} s of consents through the API"
  echo "(five demo tenants, random subjects, eight browsers' user agents, 60 pages per site); bytes = table,"
  echo "indexes, TOAST and maps of every partition on PostgreSQL, the month files on SQLite. Target ≤ 300."
  echo
  echo "| backend | consents | bytes | bytes per consent | per consent, by relation |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
}
section
if [[ ${1:-} == --record ]]; then
  section | record_results
fi
