# Shared by the bench scripts: build (profile `dist`), start a server on a private
# data folder, read wrk's figures.

# A fresh database for BACKEND (postgres: $PG_DB on $PG_ADMIN, dropped and
# created again; sqlite: the file bench_setup makes).
bench_database() {
  if [[ $1 == postgres ]]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
    export BENCH_DATABASE_URL="${PG_ADMIN%/*}/$PG_DB"
  else
    unset BENCH_DATABASE_URL
  fi
}

bench_setup() {
  cd "$(dirname "$0")/.."
  command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
  # BENCH_BIN: another build to measure (a comparison between versions).
  if [[ -n ${BENCH_BIN:-} ]]; then
    BIN=$BENCH_BIN
  else
    # The profile that ships: fat LTO, one codegen unit (Cargo.toml).
    cargo build --profile dist -q
    BIN="$PWD/target/dist/guichet"
  fi
  WORK=$(mktemp -d)
  PORT=${BENCH_PORT:-18080}
  BASE="http://127.0.0.1:$PORT"
  export GUICHET__SERVER__BIND="127.0.0.1:$PORT"
  export GUICHET__STORAGE__DATA_DIR="$WORK"
  export GUICHET__DATABASE__URL="${BENCH_DATABASE_URL:-sqlite://$WORK/guichet.db}"
  export GUICHET__LOG__LEVEL=warn
}

bench_start() {
  "$BIN" serve >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/serve.log"; echo "server did not start"; exit 1
}

# wrk_field FILE rps|p99|p50|non2xx|requests
wrk_field() {
  case "$2" in
    rps) awk '/^Requests\/sec:/ {print $2}' "$1" ;;
    p50) awk '$1=="50%" {print $2}' "$1" ;;
    p99) awk '$1=="99%" {print $2}' "$1" ;;
    requests) awk '/requests in/ {print $1}' "$1" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ {print $5}' "$1" | grep . || echo 0 ;;
  esac
}

# to_ms 1.23ms|456.00us|1.20s -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else print v }'
}

# How many consent events a SQLite run keeps, optionally under a WHERE
# clause: those of the main file (recorded before the monthly files) and
# those of the files of each tenant and month beside it.
sqlite_consents() {
  local n=0 f
  for f in "$WORK/guichet.db" "$WORK"/guichet.db-consents/*/*.db; do
    [[ -e $f ]] || continue
    n=$((n + $(sqlite3 -cmd ".timeout 10000" "$f" "SELECT count(*) FROM consent_events ${1:-}")))
  done
  echo "$n"
}

# Records a result section read from standard input in bench/RESULTS.md, at
# the top of its history (below the marker line; latest runs first). The
# table of latest figures above it is kept by hand: a reminder is printed.
record_results() {
  python3 -c '
import sys
path = "bench/RESULTS.md"
marker = "<!-- record_results (bench/lib.sh) puts each new run below this line -->"
text = open(path, encoding="utf-8").read()
entry = sys.stdin.read().strip("\n") + "\n\n"
at = text.find(marker)
if at >= 0:
    at = text.find("\n", at) + 1
    rest = text[at:].lstrip("\n")
    text = text[:at] + "\n" + entry + rest
else:
    at = text.find("\n## ")
    at = len(text) if at < 0 else at + 1
    text = text[:at] + entry + text[at:]
open(path, "w", encoding="utf-8").write(text)
title = entry.splitlines()[0] if entry.strip() else "(empty)"
print("bench/RESULTS.md: recorded " + title.lstrip("# ")
      + "; bring its rows of the table \"Latest figure per benchmark\" up to it by hand.",
      file=sys.stderr)
'
}
