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

# count_consents BACKEND: how many consent events the run's store keeps.
count_consents() {
  if [[ $1 == postgres ]]; then
    psql "$BENCH_DATABASE_URL" -Atc "SELECT count(*) FROM consent_events"
  else
    sqlite_consents
  fi
}

# The context string of the consents the benches write directly (what the
# service keeps once in `consent_strings` and an event refers to by number,
# src/consent/stored.rs): a consent given, its choices a JSON string inside.
BENCH_CONTEXT='{"event":"given","policy_version":"2026-01","choices":"{\"audience\":true,\"essential\":true}","gpc":false}'
BENCH_USER_AGENT='bench/1.0'
BENCH_PAGE_URL='https://sevres-seineouest.opendatasoft.com/'

# seed_postgres_consents N AGE_DAYS: N compact consents of the tenant
# sevres given AGE_DAYS ago, one a millisecond, expiring 13 months after;
# their strings added to consent_strings first (as the service adds them),
# ids in time order as UUIDv7 are (made from the instant: 48 bits of
# milliseconds, version 7, random bits), random subjects (as banners make
# them), a 16-byte pseudonym and a 64-byte signature.
seed_postgres_consents() {
  psql "$BENCH_DATABASE_URL" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO consent_strings (digest, value)
SELECT sha256(convert_to(v, 'UTF8')), v FROM unnest(ARRAY['$BENCH_CONTEXT', '$BENCH_USER_AGENT', '$BENCH_PAGE_URL']) AS v
ON CONFLICT (digest) DO NOTHING;
INSERT INTO consent_events (at, expires_at, id, subject_id, tenant_id, context, user_agent, page_url, ip_pseudonym, tc_string, signature, receipt)
SELECT x.at, x.start + interval '13 months',
       (lpad(to_hex((extract(epoch FROM x.at) * 1000)::bigint), 12, '0') || '7' || substr(x.r, 1, 3) || '8' || substr(x.r, 4, 15))::uuid,
       gen_random_uuid(), (SELECT id FROM tenants WHERE slug = 'sevres')::uuid,
       (SELECT id FROM consent_strings WHERE digest = sha256(convert_to('$BENCH_CONTEXT', 'UTF8'))),
       (SELECT id FROM consent_strings WHERE digest = sha256(convert_to('$BENCH_USER_AGENT', 'UTF8'))),
       (SELECT id FROM consent_strings WHERE digest = sha256(convert_to('$BENCH_PAGE_URL', 'UTF8'))),
       substring(uuid_send(gen_random_uuid()) FROM 1 FOR 16), NULL,
       uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()),
       NULL
FROM generate_series(1, $1) AS n,
     LATERAL (SELECT date_trunc('milliseconds', now() AT TIME ZONE 'UTC') - interval '$2 days' AS start) s,
     LATERAL (SELECT s.start + n * interval '1 millisecond' AS at, s.start, md5(random()::text || n) AS r) x;
SQL
}

# seed_sqlite_month N AGE_DAYS: N compact consents of the tenant sevres in a
# new file for the month AGE_DAYS ago, made as the service makes one
# (src/consent/files.rs): files.sql then file_events.sql, user_version 3,
# written under a draft name and renamed whole, so that no reader sees it
# half made. Events from the month's first instant, one a millisecond,
# instants as microseconds since 1970, expiring 13 months after; ids in
# time order as UUIDv7 are, random subjects, the tenant's id, the
# pseudonym and the signature as bytes; the file's own consent_strings
# rows. SQLite 3.40 has no unhex(): Python writes the rows.
seed_sqlite_month() {
  local tenant
  tenant=$(sqlite3 -cmd ".timeout 10000" "$WORK/guichet.db" "SELECT id FROM tenants WHERE slug = 'sevres'")
  python3 - "$1" "$2" "$tenant" "$WORK/guichet.db-consents" "$BENCH_CONTEXT" "$BENCH_USER_AGENT" "$BENCH_PAGE_URL" <<'PY'
import datetime, hashlib, os, random, sqlite3, sys, uuid
n, age, tenant, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
strings = sys.argv[5:8]
day = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=age)
first = datetime.datetime(day.year, day.month, 1, tzinfo=datetime.timezone.utc)
month = first.strftime("%Y-%m")
y, m = divmod(first.month - 1 + 13, 12)
start = int(first.timestamp()) * 1_000_000
expires = int(first.replace(year=first.year + y, month=m + 1).timestamp()) * 1_000_000
file_id = uuid.uuid4().hex
folder = os.path.join(root, tenant)
os.makedirs(folder, mode=0o700, exist_ok=True)
draft = os.path.join(folder, f".{month}.{file_id}.db.draft")
os.close(os.open(draft, os.O_CREAT | os.O_WRONLY, 0o600))
db = sqlite3.connect(draft)
db.executescript(open("src/consent/files.sql").read() + open("src/consent/file_events.sql").read())
db.execute("PRAGMA user_version = 3")
db.execute("INSERT INTO consent_file (id, tenant_id, month, retired) VALUES (?, ?, ?, 0)", (file_id, tenant, month))
number = {}
for s in strings:
    number[s] = db.execute("INSERT INTO consent_strings (digest, value) VALUES (?, ?) RETURNING id",
                           (hashlib.sha256(s.encode()).digest(), s)).fetchone()[0]
rnd = random.Random()
tenant_bytes = uuid.UUID(tenant).bytes
def rows():
    for i in range(1, n + 1):
        at = start + i * 1000
        r = bytearray((at // 1000).to_bytes(6, "big") + rnd.randbytes(10))
        r[6] = 0x70 | (r[6] & 0x0F)
        r[8] = 0x80 | (r[8] & 0x3F)
        yield (at, expires, bytes(r), rnd.randbytes(16), tenant_bytes, number[strings[0]], number[strings[1]],
               number[strings[2]], rnd.randbytes(16), None, rnd.randbytes(64), None)
db.executemany("INSERT INTO consent_events (at, expires_at, id, subject_id, tenant_id, context, user_agent, page_url,"
               " ip_pseudonym, tc_string, signature, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
db.commit()
db.execute("ANALYZE")
db.close()
os.rename(draft, os.path.join(folder, f"{month}.{file_id}.db"))
PY
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
