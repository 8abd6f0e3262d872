#!/usr/bin/env bash
# A flood of sign-ins must not starve the other routes: password hashing
# runs off the HTTP workers, a bounded number at a time.
#
# Measures GET /healthz, GET /readyz (a database round trip) and GET of a
# current consent alone, then
# again while 50 connections sign in as fast as they can, and prints the
# ratios. Usage: bench/login_flood.sh [--record]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_setup
export GUICHET__AUTH__LOGIN_PER_IP_PER_MINUTE=100000000
# One account signing in on 50 connections at once: the lock of its address
# lets no more attempts run at once than lockout_threshold, and answers the
# others 429 without hashing; raised, every sign-in costs its hash, which is
# the load measured here.
export GUICHET__AUTH__LOCKOUT_THRESHOLD=100000000
echo "a long passphrase for load tests" | "$BIN" users add --tenant sevres --email bench@ville-sevres.fr --role dpo --password-stdin >/dev/null
bench_start
SUBJECT=00000000-0000-4000-8000-000000000001
curl -fsS -o /dev/null -H 'content-type: application/json' \
  -d "{\"subject_id\":\"$SUBJECT\",\"policy_version\":\"2026-01\",\"choices\":{\"audience\":true}}" \
  "$BASE/v1/tenants/sevres/consents"
CONSENT="/v1/tenants/sevres/consents/$SUBJECT"

probe() { wrk -t1 -c4 -d"${PROBE_SECS:-10}"s --latency "$BASE$1" >"$WORK/$2"; }

probe /healthz healthz-alone
probe /readyz readyz-alone
probe "$CONSENT" consent-alone
wrk -t2 -c50 -d"$(( ${PROBE_SECS:-10} * 3 + 6 ))"s --latency -s bench/login.lua "$BASE/v1/auth/login" >"$WORK/flood" &
FLOOD=$!
sleep 3
probe /healthz healthz-flood
probe /readyz readyz-flood
probe "$CONSENT" consent-flood
wait $FLOOD

row() {
  local name=$1 alone=$2 flood=$3
  local ra rf pa pf
  ra=$(wrk_field "$WORK/$alone" rps); rf=$(wrk_field "$WORK/$flood" rps)
  pa=$(to_ms "$(wrk_field "$WORK/$alone" p99)"); pf=$(to_ms "$(wrk_field "$WORK/$flood" p99)")
  printf '| %s | %s | %s | %.2f | %s | %s |\n' "$name" "$ra" "$rf" "$(echo "$rf / $ra" | bc -l)" "$pa" "$pf"
}
logins=$(wrk_field "$WORK/flood" rps)
login_p99=$(to_ms "$(wrk_field "$WORK/flood" p99)")
login_errors=$(wrk_field "$WORK/flood" non2xx)
table=$(cat <<TABLE
| route | req/s alone | req/s under flood | ratio | p99 ms alone | p99 ms under flood |
|---|---|---|---|---|---|
$(row "GET /healthz" healthz-alone healthz-flood)
$(row "GET /readyz" readyz-alone readyz-flood)
$(row "GET current consent" consent-alone consent-flood)

Sign-ins during the flood: $logins/s, p99 $login_p99 ms, non-2xx: $login_errors (hash slots: ${GUICHET__AUTH__HASH_CONCURRENCY:-default}).
TABLE
)
echo "$table"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo
    echo "## Login flood — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), SQLite, release build"
    echo
    echo "\`bench/login_flood.sh\`: 50 connections signing in (argon2id, 19 MiB, t=2) while 4 connections probe for ${PROBE_SECS:-10} s."
    echo
    echo "$table"
  } | record_results
fi
