#!/usr/bin/env bash
# Consent recording speed, on PostgreSQL and on SQLite, 64 connections.
#
# PostgreSQL's baseline is pgbench inserting single rows, one commit each,
# into a copy of the consent table, with 64 clients, in the same run. The
# service must record at least as many consents per second (it commits
# them in groups), with p99 <= 25 ms; on SQLite at least 15 000/s. Reading
# the current consent, and the consent-state a banner reads on a page's
# load (policy, current consent, needs_consent), must each reach 40 % of
# the rate of GET /healthz. Every
# 201 must be a row in the database: the rows are counted after the run
# and compared with the 201s wrk received (wrk stops with up to 64
# requests in flight, committed but unread, so rows may exceed 201s by
# that much, never fall short).
#
# Usage: bench/consent.sh [--record]   (SECS=15, BACKENDS="postgres sqlite")
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS=${SECS:-15}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_consent
results=()
verdicts=()

run_backend() {
  local backend=$1
  bench_database "$backend"
  bench_setup
  export GUICHET__DATABASE__POOL_SIZE=32
  # The current consents kept in memory, sized for the run's 50 000 visitors
  # as an operator sizes it for a portal's (the default keeps 20 000).
  export GUICHET__CONSENT__CACHE_ENTRIES=${CACHE_ENTRIES:-60000}
  bench_start

  local baseline=""
  if [[ $backend == postgres ]]; then
    psql "$BENCH_DATABASE_URL" -qc "CREATE TABLE bench_consents (LIKE consent_events INCLUDING ALL)"
    # A compact row as the service writes one (src/consent/stored.rs): random
    # ids, the context, user agent and page as numbers in consent_strings (the
    # copy has no foreign key: the numbers need not exist), a 16-byte
    # pseudonym, a receipt kept as its 64-byte signature.
    cat >"$WORK/insert.sql" <<'SQL'
INSERT INTO bench_consents (at, expires_at, id, subject_id, tenant_id, context, user_agent, page_url, ip_pseudonym, tc_string, signature, receipt)
VALUES (now() AT TIME ZONE 'UTC', (now() AT TIME ZONE 'UTC') + interval '13 months', gen_random_uuid(), gen_random_uuid(), '00000000-0000-7000-8000-000000000001', 1, 2, 3, substring(uuid_send(gen_random_uuid()) FROM 1 FOR 16), NULL, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), NULL);
SQL
    pgbench -n -c 64 -j 2 -T "$SECS" -f "$WORK/insert.sql" "$BENCH_DATABASE_URL" >"$WORK/pgbench" 2>&1
    baseline=$(awk '/^tps = / {print $3}' "$WORK/pgbench")
    # The baseline's writes go to disk now, not during the service's figures.
    psql "$BENCH_DATABASE_URL" -qc "DROP TABLE bench_consents" -c "CHECKPOINT"
  fi

  MODE=post wrk -t2 -c64 -d"${SECS}s" --latency -s bench/consent.lua "$BASE" >"$WORK/post"
  local created rows post_rps post_p99
  created=$(awk '/^CREATED/ {print $2}' "$WORK/post")
  post_rps=$(wrk_field "$WORK/post" rps)
  post_p99=$(to_ms "$(wrk_field "$WORK/post" p99)")
  if [[ $backend == postgres ]]; then
    rows=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT count(*) FROM consent_events")
  else
    rows=$(sqlite_consents)
  fi
  local rate
  rate=$(echo "$created / $SECS" | bc -l)

  wrk -t2 -c64 -d"${SECS}s" --latency "$BASE/healthz" >"$WORK/healthz"
  MODE=get wrk -t2 -c64 -d"${SECS}s" --latency -s bench/consent.lua "$BASE" >"$WORK/get"
  MODE=state wrk -t2 -c64 -d"${SECS}s" --latency -s bench/consent.lua "$BASE" >"$WORK/state"
  local health_rps get_rps get_p99 state_rps state_p99
  state_rps=$(wrk_field "$WORK/state" rps)
  state_p99=$(to_ms "$(wrk_field "$WORK/state" p99)")
  health_rps=$(wrk_field "$WORK/healthz" rps)
  get_rps=$(wrk_field "$WORK/get" rps)
  get_p99=$(to_ms "$(wrk_field "$WORK/get" p99)")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT

  local target verdict_rate
  if [[ $backend == postgres ]]; then
    target=$baseline
  else
    target=15000
  fi
  verdict_rate=$(echo "$rate >= $target" | bc -l)
  results+=("| $backend | $(printf %.0f "$rate") | ${baseline:-—} | $(printf %.2f "$(echo "$rate / $target" | bc -l)") | $post_p99 | $created | $rows | $(printf %.0f "$get_rps") | $get_p99 | $(printf %.0f "$health_rps") | $(printf %.2f "$(echo "$get_rps / $health_rps" | bc -l)") | $(printf %.0f "$state_rps") | $state_p99 | $(printf %.2f "$(echo "$state_rps / $health_rps" | bc -l)") |")
  verdicts+=("$backend: consents/s >= target: $([[ $verdict_rate == 1 ]] && echo yes || echo NO); p99 <= 25 ms: $(echo "$post_p99 <= 25" | bc -l | sed 's/1/yes/;s/0/NO/'); every 201 is a row: $( (( rows >= created )) && echo yes || echo NO) ($((rows - created)) rows more: requests in flight when wrk stopped, committed but never read by wrk; at most 64 expected); GET >= 40 % of healthz: $(echo "$get_rps >= 0.4 * $health_rps" | bc -l | sed 's/1/yes/;s/0/NO/'); consent-state >= 40 % of healthz: $(echo "$state_rps >= 0.4 * $health_rps" | bc -l | sed 's/1/yes/;s/0/NO/')")
  [[ $backend == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
  return 0
}

for backend in ${BACKENDS:-postgres sqlite}; do
  run_backend "$backend"
done

table=$(
  echo "| backend | consents/s | pgbench inserts/s | ratio to target | POST p99 ms | 201s | rows | GET current/s | GET p99 ms | GET /healthz/s | GET ratio | consent-state/s | state p99 ms | state ratio |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  printf -- '- %s\n' "${verdicts[@]}"
)
echo "$table"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo
    echo "## Consent recording — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), release build"
    echo
    echo "\`bench/consent.sh\`: wrk, 2 threads, 64 connections, ${SECS} s per figure, 50 000 visitors;"
    echo "target on PostgreSQL = pgbench single-row INSERT commits/s (64 clients, same run); on SQLite 15 000/s."
    echo
    echo "$table"
  } | record_results
fi
