#!/usr/bin/env bash
# Fuzzes the live OpenAPI document with schemathesis: `guichet serve` on a
# fresh SQLite file, then on a fresh PostgreSQL database; every operation,
# the staff routes with real tokens (a DPO's, then an admin's), every check.
# Any 5xx, undocumented status, body or header outside the schema, or error
# in the service's log fails it.
#
#   .ci/schemathesis.sh            both backends
#   .ci/schemathesis.sh sqlite     one of them (sqlite | postgres)
#
# Environment: PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres),
# FUZZ_PORT (18310; PostgreSQL uses the next one), FUZZ_EXAMPLES (cases per
# operation). Cases are generated deterministically: every run sends the same.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
FUZZ_PORT="${FUZZ_PORT:-18310}"
FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-30}"
if (($#)); then backends=("$@"); else backends=(sqlite postgres); fi

# Run as a module: no console script on the PATH is needed.
st() { python3 -m schemathesis.cli "$@"; }
if [[ "$(st --version 2>/dev/null)" != *" $SCHEMATHESIS_VERSION" ]]; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
st --version

cargo build --quiet --bin guichet
bin="$root/target/debug/guichet"

work=$(mktemp -d)
server=""
pgdb=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [[ -n "$pgdb" ]]; then psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

total_cases=0

# fuzz NAME DATABASE_URL PORT
fuzz() {
  local name=$1 url=$2 port=$3
  local dir="$work/$name" base="http://127.0.0.1:$port"
  mkdir -p "$dir/data"
  cat >"$dir/guichet.toml" <<EOF
[server]
bind = "127.0.0.1:$port"
public_url = "$base"
workers = 2
[database]
url = "$url"
pool_size = 8
[storage]
data_dir = "$dir/data"
[log]
format = "json"
level = "info"
[mail]
transport = "file"
[retention]
scheduler = false
# The fuzzer sends hundreds of submissions and sign-ins from one address:
# the abuse limits stay on (429 is documented) but high enough that the
# fuzzer reaches the checks behind them.
[requests]
submissions_per_ip_per_hour = 100000
submissions_per_email_per_day = 100000
[auth]
login_per_ip_per_minute = 100000
EOF
  local g=("$bin" --config "$dir/guichet.toml")
  "${g[@]}" migrate >/dev/null
  local admin_pw dpo_pw
  admin_pw="Kq7-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  dpo_pw="Zr4-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$admin_pw" | "${g[@]}" users add --email admin@fuzz.invalid --role admin --password-stdin >/dev/null
  printf '%s\n' "$dpo_pw" | "${g[@]}" users add --tenant valparisis --email dpo@fuzz.invalid --role dpo --password-stdin >/dev/null

  "${g[@]}" serve >"$dir/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$dir/serve.log"; echo "guichet serve exited"; return 1; }
    sleep 0.2
  done
  curl -fsS "$base/readyz" >/dev/null

  token() {
    curl -fsS -H 'content-type: application/json' \
      -d "{\"email\":\"$1\",\"password\":\"$2\"}" "$base/v1/auth/login" | json "['access_token']"
  }
  local admin_token dpo_token
  admin_token=$(token admin@fuzz.invalid "$admin_pw")
  dpo_token=$(token dpo@fuzz.invalid "$dpo_pw")

  # A few real requests and documents, so that the ids the fuzzer tries
  # reach the life cycle, the documents and the tracking page.
  local ids=() docs=() tracks=()
  for i in 1 2 3; do
    local out
    out=$(curl -fsS -H 'content-type: application/json' \
      -d "{\"kind\":\"access\",\"first_name\":\"Fuzz\",\"last_name\":\"Seed$i\",\"email\":\"seed$i@fuzz.invalid\",\"details\":\"seed\"}" \
      "$base/v1/tenants/valparisis/requests")
    ids+=("$(json "['id']" <<<"$out")")
    tracks+=("$(json "['tracking_token']" <<<"$out")")
  done
  printf '%%PDF-1.4\n%%seed\n1 0 obj<<>>endobj\ntrailer<<>>\n%%%%EOF\n' >"$dir/seed.pdf"
  local out
  out=$(curl -fsS -F kind=erasure -F first_name=Fuzz -F last_name=Seed -F email=seed@fuzz.invalid \
    -F details=seed -F "id_document=@$dir/seed.pdf;type=application/pdf" "$base/v1/tenants/sevres/requests")
  ids+=("$(json "['id']" <<<"$out")")
  tracks+=("$(json "['tracking_token']" <<<"$out")")
  docs+=("$(curl -fsS -H "authorization: Bearer $admin_token" "$base/v1/dpo/requests/${ids[3]}" | json "['documents'][0]['id']")")
  # And one of the DPO's tenant with a document.
  out=$(curl -fsS -F kind=rectification -F first_name=Fuzz -F last_name=Seed -F email=seed@fuzz.invalid \
    -F details=seed -F "id_document=@$dir/seed.pdf;type=application/pdf" "$base/v1/tenants/valparisis/requests")
  ids+=("$(json "['id']" <<<"$out")")
  tracks+=("$(json "['tracking_token']" <<<"$out")")
  docs+=("$(curl -fsS -H "authorization: Bearer $admin_token" "$base/v1/dpo/requests/${ids[4]}" | json "['documents'][0]['id']")")
  # Three await an identity document: the upload route has something to take.
  for id in "${ids[@]:0:3}"; do
    curl -fsS -o /dev/null -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
      -d '{"to":"awaiting_identity","note":"seed"}' "$base/v1/dpo/requests/$id/transitions"
  done

  quoted() { local v out=""; for v in "$@"; do out+="\"$v\", "; done; printf '[%s]' "${out%, }"; }
  # run LABEL TOKEN [filters...]
  run() {
    local label=$1 bearer=$2
    shift 2
    # The fixed part, then this run's token and the seeded identifiers.
    {
      cat "$root/.ci/schemathesis.toml"
      cat <<EOF

[auth.openapi.bearer]
bearer = "$bearer"

[dictionaries.tenants]
values = ["sevres", "valparisis", "dunkerque", "guadeloupe", "nimes"]
[dictionaries.requests]
values = $(quoted "${ids[@]}")
[dictionaries.documents]
values = $(quoted "${docs[@]}")
[dictionaries.tracks]
values = $(quoted "${tracks[@]}")
[dictionaries.versions]
values = ["2026-01"]
[dictionaries.recent]
values = ["$(date -u -d '-2 days' +%FT%TZ)", "$(date -u -d '-40 days' +%FT%TZ)"]
[dictionaries.pdfs]
values = ["%PDF-1.7\n%fuzz\n", "%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"]

[parameters]
"path.tenant" = { dictionary = "tenants", probability = 0.8 }
"query.tenant" = { dictionary = "tenants", probability = 0.5 }
"path.id" = { dictionary = "requests", probability = 0.7 }
"path.document_id" = { dictionary = "documents", probability = 0.7 }
"path.tracking_token" = { dictionary = "tracks", probability = 0.7 }
"body.policy_version" = { dictionary = "versions", probability = 0.7 }
"body.received_at" = { dictionary = "recent", probability = 0.8 }
"body.id_document[*]" = { dictionary = "pdfs", probability = 0.6 }
EOF
    } >"$dir/st-$label.toml"
    echo "--- schemathesis on $name, $label"
    (cd "$dir" && st --config-file "st-$label.toml" run "$base/openapi.json" \
      --max-examples "$FUZZ_EXAMPLES" --report junit --report-junit-path "$dir/junit-$label.xml" --no-color "$@") | tee "$dir/st-$label.out"
  }
  # The DPO first: the admin's run may disable any account it lists.
  run dpo "$dpo_token" --include-path-regex '^/v1/dpo/' || failed=1
  run admin "$admin_token" || failed=1

  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  # Errors the service logs itself (a 5xx, a panic); the HTTP layer's
  # "stream error" lines are the fuzzer's malformed headers, refused with 400.
  if grep '"level":"ERROR"' "$dir/serve.log" | grep -v '"message":"stream error: ' >"$dir/errors.log"; then
    head -20 "$dir/errors.log"
    echo "guichet logged errors during the fuzzing on $name"
    failed=1
  fi
  # What the service answered, per route: the fuzzer reached past the checks.
  python3 - "$dir/serve.log" <<'EOF'
import collections, json, sys
seen = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    fields = entry.get("fields", entry)
    if fields.get("message") == "request":
        seen[f'{fields.get("method")} {fields.get("route")}'][fields.get("status")] += 1
for route in sorted(seen):
    if set(seen[route]) == {405}:
        continue  # a method the route does not take
    counts = " ".join(f"{status}x{n}" for status, n in sorted(seen[route].items()))
    print(f"  {route}: {counts}")
EOF
  local cases
  cases=$(python3 - "$dir" <<'EOF'
import glob, re, sys
n = 0
for path in glob.glob(sys.argv[1] + "/st-*.out"):
    for line in open(path, encoding="utf-8"):
        m = re.search(r"(\d+) generated", line)
        if m:
            n += int(m.group(1))
print(n)
EOF
)
  echo "schemathesis on $name: $cases generated cases"
  total_cases=$((total_cases + cases))
}

# Set by a run that found anything; every run still goes to its end.
failed=0
for backend in "${backends[@]}"; do
  case "$backend" in
    sqlite) fuzz sqlite "sqlite://$work/sqlite/data/guichet.db" "$FUZZ_PORT" ;;
    postgres)
      pgdb="guichet_fuzz_$$"
      psql "$PG_ADMIN_URL" -qAtc "CREATE DATABASE $pgdb" >/dev/null
      fuzz postgres "${PG_ADMIN_URL%/*}/$pgdb" "$((FUZZ_PORT + 1))"
      psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null
      pgdb=""
      ;;
    *) echo "unknown backend $backend (sqlite | postgres)"; exit 2 ;;
  esac
done
echo "schemathesis: $total_cases generated cases in all"
if ((failed)); then echo "schemathesis found problems"; exit 1; fi
if ((total_cases < 1000)); then echo "fewer than 1000 cases: raise FUZZ_EXAMPLES"; exit 1; fi
