#!/usr/bin/env bash
# Soak: DURATION seconds of mixed traffic against one release server —
# consents recorded and read back, submissions with an identity document,
# the DPO's queue and requests — while sweeps run on a frequent schedule
# inside the service and from `guichet purge` every PURGE_EVERY seconds,
# each time after expired consents were added for them to remove.
#
# The service's resident memory (VmRSS) is sampled every SAMPLE_SECS; the
# mean of the first minute after WARMUP is compared with the mean of the
# last minute: growth must stay under 10 %. There must be no error: every
# response 2xx (the abuse limits are raised so that the mix triggers no
# 429), no socket error or timeout, no warning or error in the service's
# log, every sweep completed, every expired consent removed, every 201
# consent in the database.
#
# The in-memory cache of current consents holds up to
# consent.cache_entries subjects and grows until then (about 1.2 KB a
# subject); every consent of the mix is a new visitor, so the soak sets it
# to CACHE_ENTRIES, which the mix fills within the warm-up: what is
# measured is then the steady state, where any growth is a leak.
#
# Usage: bench/soak.sh   (DURATION=600 WARMUP=60 SAMPLE_SECS=5 CONNS=4
#   DELAY_MS=5 PURGE_EVERY=60 EXPIRED_BATCH=2000 CACHE_ENTRIES=10000
#   BACKENDS="postgres sqlite"; NO_RECORD=1 to leave bench/RESULTS.md alone)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-60}
SAMPLE_SECS=${SAMPLE_SECS:-5}
CONNS=${CONNS:-4}
DELAY_MS=${DELAY_MS:-5}
PURGE_EVERY=${PURGE_EVERY:-60}
EXPIRED_BATCH=${EXPIRED_BATCH:-2000}
CACHE_ENTRIES=${CACHE_ENTRIES:-10000}
BACKENDS=${BACKENDS:-postgres sqlite}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_soak
PASSWORD="a long passphrase for endurance runs"
command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3; }
(( DURATION >= WARMUP + 120 )) || { echo "DURATION must leave two minutes after WARMUP"; exit 2; }
results=()
verdicts=()
failed=0

sql() {
  if [[ $BACKEND == postgres ]]; then psql "$BENCH_DATABASE_URL" -qAt -c "$1"
  else sqlite3 -cmd ".timeout 10000" "$WORK/guichet.db" "$1"; fi
}

# EXPIRED_BATCH compact consents given 500 days ago, past their 13 months
# (bench/lib.sh); on SQLite in a new file of that month beside the
# database, where the sweep finds events (the main file keeps only the
# table of the layout before the monthly files).
add_expired() {
  if [[ $BACKEND == postgres ]]; then
    seed_postgres_consents "$EXPIRED_BATCH" 500
  else
    seed_sqlite_month "$EXPIRED_BATCH" 500
  fi
}

# Every SAMPLE_SECS: seconds since the start, VmRSS in KiB.
sample_rss() {
  local start=$1
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    echo "$(( $(date +%s) - start )) $(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")"
    sleep "$SAMPLE_SECS"
  done
}

# Every PURGE_EVERY seconds until DURATION: expired consents, then a sweep
# from the command line (waiting for a scheduled one to end).
sweeps() {
  local start=$1 round=0
  while (( $(date +%s) - start + PURGE_EVERY < DURATION )); do
    sleep "$PURGE_EVERY"
    round=$((round + 1))
    add_expired
    if "$BIN" purge --wait 120 --json >"$WORK/purge-$round.json" 2>>"$WORK/purge.log"; then
      echo "purge $round ok"
    else
      echo "purge $round FAILED ($?)"
    fi
  done
}

mean_between() { awk -v a="$2" -v b="$3" '$1 >= a && $1 < b {s += $2; n++} END {if (n) printf "%.0f", s / n; else print 0}' "$1"; }

run_backend() {
  BACKEND=$1
  bench_database "$BACKEND"
  bench_setup
  export GUICHET__REQUESTS__SUBMISSIONS_PER_IP_PER_HOUR=100000000
  export GUICHET__REQUESTS__SUBMISSIONS_PER_EMAIL_PER_DAY=100000000
  export GUICHET__AUTH__LOGIN_PER_IP_PER_MINUTE=1000
  export GUICHET__RETENTION__SCHEDULE="*/30 * * * * *"
  export GUICHET__RETENTION__TICK_SECS=5
  export GUICHET__CONSENT__CACHE_ENTRIES=$CACHE_ENTRIES
  "$BIN" migrate >/dev/null
  echo "$PASSWORD" | "$BIN" users add --tenant sevres --email soak@ville-sevres.fr --role dpo --password-stdin >/dev/null
  # One token for the whole run; JSON logs, to count warnings and errors.
  export GUICHET__AUTH__TOKEN_LIFETIME_SECS=$((DURATION + 600))
  export GUICHET__LOG__FORMAT=json
  bench_start
  add_expired
  TOKEN=$(curl -fsS -H 'content-type: application/json' \
    -d "{\"email\":\"soak@ville-sevres.fr\",\"password\":\"$PASSWORD\"}" "$BASE/v1/auth/login" |
    sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  local start
  start=$(date +%s)
  sample_rss "$start" >"$WORK/rss" &
  local sampler=$!
  sweeps "$start" >"$WORK/sweeps" &
  local sweeper=$!
  TOKEN=$TOKEN DELAY_MS=$DELAY_MS wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s bench/soak.lua "$BASE" >"$WORK/wrk"
  wait "$sweeper"
  # A last sweep, then nothing expired may be left.
  "$BIN" purge --wait 120 --json >"$WORK/purge-last.json" 2>>"$WORK/purge.log" || echo "purge last FAILED" >>"$WORK/sweeps"
  kill "$sampler" 2>/dev/null || true
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT

  local counts ok created bad socket rps p99 first last growth rounds purge_failed
  counts=$(grep '^SOAK' "$WORK/wrk")
  field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$counts"; }
  ok=$(field ok); created=$(field created); bad=$(field bad)
  socket=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$WORK/wrk")
  socket=${socket:-0}
  rps=$(wrk_field "$WORK/wrk" rps)
  p99=$(to_ms "$(wrk_field "$WORK/wrk" p99)")
  first=$(mean_between "$WORK/rss" "$WARMUP" $((WARMUP + 60)))
  last=$(mean_between "$WORK/rss" $((DURATION - 60)) $((DURATION + 1)))
  growth=$(echo "($last - $first) * 100 / $first" | bc -l)
  rounds=$(grep -c ' ok$' "$WORK/sweeps" || true)
  purge_failed=$(grep -c 'FAILED' "$WORK/sweeps" || true)
  local expired_added=$(( (rounds + purge_failed + 1) * EXPIRED_BATCH ))
  local expired_left scheduled cli incomplete removed rows log_problems submissions
  # The expired consents left: those given more than 400 days ago (the
  # batches are 500 days old, the mix's consents of the run's own days).
  if [[ $BACKEND == postgres ]]; then
    expired_left=$(sql "SELECT count(*) FROM consent_events WHERE at < (now() AT TIME ZONE 'UTC') - interval '400 days'")
    rows=$(sql "SELECT count(*) FROM consent_events")
  else
    # Microseconds since 1970 in the month files (the main file's table,
    # with instants as text, has none of them: text never compares below a
    # number in SQLite).
    expired_left=$(sqlite_consents "WHERE at < $(( ($(date +%s) - 400 * 86400) * 1000000 ))")
    rows=$(sqlite_consents)
  fi
  scheduled=$(sql "SELECT count(*) FROM retention_runs WHERE trigger = 'schedule'")
  cli=$(sql "SELECT count(*) FROM retention_runs WHERE trigger = 'cli'")
  incomplete=$(sql "SELECT count(*) FROM retention_runs WHERE status <> 'completed'")
  submissions=$(sql "SELECT count(*) FROM rights_requests")
  log_problems=$(grep -Ec '"level":"(WARN|ERROR)"' "$WORK/serve.log" || true)
  [[ $BACKEND == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" 2>/dev/null

  local peak
  peak=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$WORK/rss")
  results+=("| $BACKEND | ${DURATION} s | $rps | $p99 | $ok | $bad | $socket | $submissions | $scheduled + $cli | $expired_added / $expired_left | $((first / 1024)) | $((last / 1024)) | $((peak / 1024)) | $(printf %+.1f "$growth") % |")
  local verdict="yes"
  (( bad == 0 && socket == 0 && log_problems == 0 && incomplete == 0 && purge_failed == 0 && expired_left == 0 )) || verdict="NO"
  [[ $(echo "$growth < 10" | bc -l) == 1 ]] || verdict="NO"
  (( rows >= created - submissions )) || verdict="NO"
  [[ $verdict == yes ]] || failed=1
  verdicts+=("$BACKEND: flat memory and no error: $verdict (non-2xx $bad, socket errors $socket, warnings or errors logged $log_problems, sweeps not completed $incomplete, failed purges $purge_failed, expired consents left $expired_left; last non-2xx status $(field last_bad))")
  echo "RSS samples (s KiB) kept in $WORK/rss"
  return 0
}

for b in $BACKENDS; do run_backend "$b"; done

table=$(
  echo "| backend | traffic | req/s | p99 ms | 2xx | non-2xx | socket errors | requests kept | sweeps (scheduled + cli) | expired added / left | RSS MiB first minute | RSS MiB last minute | RSS MiB peak | growth |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  printf -- '- %s\n' "${verdicts[@]}"
)
echo "$table"
if [[ -z "${NO_RECORD:-}" ]]; then
  {
    echo
    echo "## Soak — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), release build of $(git rev-parse --short HEAD)"
    echo
    echo "\`bench/soak.sh\`: wrk, 2 threads, $CONNS connections, ${DELAY_MS} ms between two requests of a connection; mix: 50 % consents recorded, 25 % read back, 2 % submissions with a $(( ${DOC_BYTES:-32768} / 1024 )) KiB PDF, 13 % queue pages (one in five a search by the reference of a request submitted in the run), 7 % requests, 3 % statistics; sweeps every 30 s inside the service and \`guichet purge\` every ${PURGE_EVERY} s after $EXPIRED_BATCH expired consents were added; consent cache of $CACHE_ENTRIES subjects. RSS: mean of the first minute after a ${WARMUP} s warm-up against the mean of the last minute (target < 10 %)."
    echo
    echo "$table"
  } | record_results
fi
exit "$failed"
