#!/usr/bin/env bash
# Resident memory under a burst of large uploads, on PostgreSQL and SQLite.
#
# Twenty submissions of two 10 MiB documents each are sent at once, from
# five client addresses (127.0.0.2 to 127.0.0.6), to a release build. The
# service's resident memory is read when idle (after one small submission
# has warmed it up), its peak during the burst (VmHWM, reset just before),
# and what it keeps a second after. Acceptance: peak <= idle + 150 MiB.
#
# Baseline, same build and same run: the upload memory budget
# (`requests.upload_memory_bytes`) lifted, so that all twenty forms are
# read at once. With the budget, the forms beyond it are answered 503 with
# Retry-After; curl waits as told and sends them again, so every one of
# them is recorded in the end.
#
# Usage: bench/upload_memory.sh [--record]
#   (N=20, DOC_MIB=10, ADDRESSES=5, BACKENDS="postgres sqlite" by default;
#   BUDGET=bytes sets the budget of the second run instead of the default)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N=${N:-20}
DOC_MIB=${DOC_MIB:-10}
ADDRESSES=${ADDRESSES:-5}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_uploads
# Just under 4 GiB: no form ever waits for the budget.
NO_BUDGET=4294967294
results=()
verdicts=()

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Documents as citizens send them: a PDF header, then bytes that do not
# compress (a scan).
make_documents() {
  local i
  for i in 1 2; do
    { printf '%%PDF-1.4\n'; head -c $((DOC_MIB * 1048576 - 9)) /dev/urandom; } >"$WORK/doc$i.pdf"
  done
  printf '%%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%%%EOF\n' >"$WORK/small.pdf"
}

# submit N FROM DOC1 [DOC2]: one submission from address FROM; prints the
# final status.
submit() {
  local n=$1 from=$2
  shift 2
  local files=()
  for f in "$@"; do files+=(-F "id_document=@$f;type=application/pdf"); done
  # A file to write to: on a retry curl truncates what it wrote, which
  # /dev/null refuses.
  curl -sS -o "$WORK/answer.$n" -w '%{http_code}\n' --interface "$from" \
    --retry 30 --retry-max-time 600 \
    -F kind=access -F first_name=Camille -F last_name=Dubois \
    -F "email=bench$n@example.org" -F 'details=Une copie de mes données.' \
    "${files[@]}" "$BASE/v1/tenants/sevres/requests"
}

# 503s counted by the service itself (retries included).
refused() {
  curl -fsS "$BASE/metrics" |
    awk '/^guichet_http_requests_total\{method="POST",route="\/v1\/tenants\/\{tenant\}\/requests",status="503"\}/ {print $2; found=1} END {if (!found) print 0}'
}

run() {
  local backend=$1 budget=$2
  bench_database "$backend"
  bench_setup
  export GUICHET__RETENTION__SCHEDULER=false
  # A form answered 503 has used one of its address's submissions: room
  # for the retries of four forms per address.
  export GUICHET__REQUESTS__SUBMISSIONS_PER_IP_PER_HOUR=1000
  case $budget in
    lifted) export GUICHET__REQUESTS__UPLOAD_MEMORY_BYTES=$NO_BUDGET ;;
    default) unset GUICHET__REQUESTS__UPLOAD_MEMORY_BYTES ;;
    *) export GUICHET__REQUESTS__UPLOAD_MEMORY_BYTES=$budget ;;
  esac
  make_documents
  bench_start
  [[ $(submit 0 127.0.0.1 "$WORK/small.pdf") == 201 ]] || { cat "$WORK/serve.log"; exit 1; }
  sleep 1
  local idle
  idle=$(kib "$SERVER_PID" VmRSS)
  echo 5 >"/proc/$SERVER_PID/clear_refs" # VmHWM from here

  local start end i clients=()
  start=$(date +%s.%N)
  for i in $(seq 1 "$N"); do
    submit "$i" "127.0.0.$((2 + i % ADDRESSES))" "$WORK/doc1.pdf" "$WORK/doc2.pdf" >"$WORK/status.$i" &
    clients+=($!)
  done
  wait "${clients[@]}"
  end=$(date +%s.%N)
  local peak after accepted busy
  peak=$(kib "$SERVER_PID" VmHWM)
  sleep 1
  after=$(kib "$SERVER_PID" VmRSS)
  accepted=$(cat "$WORK"/status.* | grep -c '^201$' || true)
  busy=$(refused)
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT
  [[ $backend == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"

  local label
  case $budget in
    lifted) label="lifted (baseline)" ;;
    default) label="default" ;;
    *) label="$((budget / 1048576)) MiB" ;;
  esac
  results+=("| $backend | $label | $(mib "$idle") | $(mib "$peak") | $(mib $((peak - idle))) | $(mib "$after") | $accepted/$N | $busy | $(printf %.1f "$(echo "$end - $start" | bc -l)") |")
  DELTA[$backend.$budget]=$((peak - idle))
  OK[$backend.$budget]=$([[ $accepted == "$N" ]] && echo yes || echo NO)
}

declare -A DELTA OK
for backend in ${BACKENDS:-postgres sqlite}; do
  run "$backend" lifted
  run "$backend" "${BUDGET:-default}"
  d=${DELTA[$backend.${BUDGET:-default}]}
  b=${DELTA[$backend.lifted]}
  verdicts+=("$backend: peak - idle <= 150 MiB with the budget: $([[ $d -le $((150 * 1024)) ]] && echo yes || echo NO) ($(mib "$d") MiB); against the budget lifted: $(printf %.2f "$(echo "$d / $b" | bc -l)"); all $N recorded: ${OK[$backend.${BUDGET:-default}]} (lifted: ${OK[$backend.lifted]})")
done

table=$(
  echo "| backend | upload budget | idle RSS MiB | peak RSS MiB | peak − idle MiB | RSS 1 s after MiB | 201 | 503 then retried | burst s |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  printf -- '- %s\n' "${verdicts[@]}"
)
echo "$table"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo
    echo "## Upload memory — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), release build of $(git rev-parse --short HEAD)"
    echo
    echo "\`bench/upload_memory.sh\`: $N submissions of two $DOC_MIB MiB documents sent at once from $ADDRESSES addresses;"
    echo "resident memory of the service idle (after one small submission), at its peak during the burst (VmHWM), and 1 s after;"
    echo "baseline = the same burst with the upload memory budget lifted, same build, same run. Acceptance: peak <= idle + 150 MiB."
    echo
    echo "$table"
  } | record_results
fi
