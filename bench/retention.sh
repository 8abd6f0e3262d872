#!/usr/bin/env bash
# Retention sweep speed, on PostgreSQL and on SQLite.
#
# One tenant holds 1 000 000 consent records past their 13 months and
# 1 000 000 recent ones. `guichet purge` removes the expired ones while wrk
# records new consents (CONNS connections); the sweep must end within 10 s
# and the p99 of those POSTs stay <= 50 ms. The same POST load without a
# sweep, in the same run, is the baseline. A second sweep, with nothing
# expired left but the million recent records still there, shows that the
# cost follows what is expired, not what is kept.
#
# On SQLite the records are in one file per tenant and month beside the
# database (src/consent/files.rs): the expired million is one month's file,
# which the sweep deletes whole after taking its daily counts.
#
# Usage: bench/retention.sh [--record]
#   (CONNS=16, EXPIRED=1000000, KEPT=1000000, BACKENDS="postgres sqlite" by default)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONNS=${CONNS:-16}
EXPIRED=${EXPIRED:-1000000}
KEPT=${KEPT:-1000000}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_retention
command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3; }
results=()
verdicts=()

# seed_BACKEND N AGE_DAYS: compact consents given AGE_DAYS ago, one a
# millisecond, with ids in time order (as UUIDv7 are) and random subjects
# (as banners make them); see bench/lib.sh.
seed_postgres() {
  seed_postgres_consents "$1" "$2"
  psql "$BENCH_DATABASE_URL" -q -c "VACUUM ANALYZE consent_events" -c "CHECKPOINT"
}

# On SQLite the events are in one file per tenant and month beside the
# database (src/consent/files.rs): the seed makes the month's file as the
# service would, from the same schema, its events from the month's first
# instant.
seed_sqlite() {
  seed_sqlite_month "$1" "$2"
}

run_backend() {
  local backend=$1
  bench_database "$backend"
  bench_setup
  export GUICHET__RETENTION__SCHEDULER=false
  bench_start
  echo "[$backend] seeding $EXPIRED expired and $KEPT recent consents" >&2
  "seed_$backend" "$EXPIRED" 500
  "seed_$backend" "$KEPT" 30
  # The seed's pages on their way to the disk would slow every fsync of
  # the runs below.
  sync

  # Baseline: the same POST load, no sweep.
  MODE=post wrk -t2 -c"$CONNS" -d10s --latency -s bench/consent.lua "$BASE" >"$WORK/base"
  local base_p99 base_rps
  base_p99=$(to_ms "$(wrk_field "$WORK/base" p99)")
  base_rps=$(wrk_field "$WORK/base" rps)

  # The sweep under that load. wrk runs a little longer than the sweep
  # should; the figure that counts is the p99 over the whole window.
  MODE=post wrk -t2 -c"$CONNS" -d12s --latency -s bench/consent.lua "$BASE" >"$WORK/load" &
  local wrk_pid=$!
  sleep 1
  local start end secs
  start=$(date +%s.%N)
  "$BIN" purge --json >"$WORK/sweep.json" 2>"$WORK/sweep.err"
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
  wait "$wrk_pid"
  local removed load_p99 load_rps errors
  removed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["removed"]["sevres"]["consent_events"])' "$WORK/sweep.json")
  load_p99=$(to_ms "$(wrk_field "$WORK/load" p99)")
  load_rps=$(wrk_field "$WORK/load" rps)
  errors=$(wrk_field "$WORK/load" non2xx)

  # Nothing expired left; the million recent records stay.
  local start2 end2 secs2 rows
  start2=$(date +%s.%N)
  "$BIN" purge --json >"$WORK/sweep2.json" 2>>"$WORK/sweep.err"
  end2=$(date +%s.%N)
  secs2=$(echo "$end2 - $start2" | bc -l)
  rows=$(count_consents "$backend")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT

  results+=("| $backend | $removed | $(printf %.2f "$secs") | $(printf %.2f "$secs2") | $base_p99 | $load_p99 | $(printf %.2f "$(echo "$load_p99 / $base_p99" | bc -l)") | $(printf %.0f "$base_rps") | $(printf %.0f "$load_rps") | $errors | $rows |")
  verdicts+=("$backend: all $EXPIRED expired removed: $([[ $removed == "$EXPIRED" ]] && echo yes || echo NO); within 10 s: $(echo "$secs <= 10" | bc -l | sed 's/1/yes/;s/0/NO/'); POST p99 <= 50 ms during the sweep: $(echo "$load_p99 <= 50" | bc -l | sed 's/1/yes/;s/0/NO/'); no error: $([[ $errors == 0 ]] && echo yes || echo NO); second sweep (nothing expired, $KEPT kept) / first: $(printf %.3f "$(echo "$secs2 / $secs" | bc -l)")")
  [[ $backend == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
  return 0
}

for backend in ${BACKENDS:-postgres sqlite}; do run_backend "$backend"; done

table=$(
  echo "| backend | removed | sweep s | 2nd sweep s (none expired) | POST p99 ms, no sweep | POST p99 ms, sweeping | ratio | POST/s, no sweep | POST/s, sweeping | non-2xx | rows left |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  printf -- '- %s\n' "${verdicts[@]}"
)
echo "$table"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo
    echo "## Retention sweep — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), release build"
    echo
    echo "\`bench/retention.sh\`: \`guichet purge\` of $EXPIRED expired consent records beside $KEPT recent ones,"
    echo "while wrk (2 threads, $CONNS connections) records consents; baseline = the same load without a sweep, same run."
    echo
    echo "$table"
  } | record_results
fi
