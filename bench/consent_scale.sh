#!/usr/bin/env bash
# Consent at a big city's scale: the same figures on an empty store and on
# one holding thirteen months of consents, in the same run, per backend.
#
# The store is filled as the daily sweep keeps it on a day a whole month
# has just become due: ROWS consents over the thirteen months a consent is
# kept (50 000 000 on PostgreSQL, 20 000 000 on SQLite; ROWS / 13 a whole
# month), from 13 months ago to the end of last month, and the whole
# fourteenth month back (some ROWS / 13 more), every consent of which is
# past its 13 months. They are spread evenly over the five demo tenants and
# written as the service writes them (src/consent/stored.rs): the service
# itself first records a consent for every combination of each tenant's
# purposes, and withdraws each, so that the contexts (kind, policy
# version, choices, receipt form), user agents and pages the fill refers
# to are the strings the service made. Each filled event is then a compact
# row: an id in time order (UUIDv7 made from its instant), a subject drawn
# from a pool of ROWS / 12.5 visitors of its tenant (each comes back about
# 2.5 times, at any time in the period), one of its tenant's contexts, a
# user agent, a page, a 16-byte pseudonym and a 64-byte signature (random
# bytes, not a signature of the event: a receipt read back is well formed
# but does not verify); 3 % are withdrawals (no expiry, agent, page or
# signature). Their daily counts are added as the service adds them.
# PostgreSQL: one INSERT … SELECT per month into its partition, two months
# at a time; SQLite: one file per tenant and month, made as the service
# makes one (files.sql, file_events.sql, user_version 3).
#
# Figures, each on the empty store (a few thousand events) and on the full
# one:
# - recording: wrk, 2 threads, CONNS connections, SECS s, new visitors of
#   the five tenants, after WARMUP_SECS (5) of the same, not measured:
#   consents/s (full ≥ 90 % of empty) and POST p99 (≤ 25 ms);
# - the current consent and the history of visitors sampled from the store
#   over its whole period (SAMPLE of them), READ_CONNS connections (8), each
#   waiting READ_PACE_MS (4) after an answer before it asks again: some
#   1 900 reads a second, over fifty times the peak of a big city's portals
#   (a few million visitors a month): p99 ≤ 10 ms each. Then as fast as
#   they are answered, the most reads a second the machine serves, and the
#   p99 there: the queue behind its two cores, where every request's hops
#   between threads and processes wait their turn (recorded, not judged);
# - the DPO's statistics over a year, all tenants (an admin): worst of 10
#   requests ≤ 200 ms;
# - the CSV export of one month, all tenants (on the full store the seventh
#   month back, whole; on the empty one this month): rows/s ≥ 100 000, and the server's resident memory
#   during it against before it (constant memory: it does not grow with the
#   month);
# - the sweep of the month due (`guichet purge`, timed from start to exit)
#   while wrk records consents (SWEEP_CONNS connections, 4 s from a second
#   before it): ≤ 1 s, every consent of the month removed, POST p99 over
#   those 4 s ≤ 50 ms (and the slowest POST);
# - disk bytes per stored consent: PostgreSQL's partitions with their
#   indexes and the shared strings; SQLite's month files.
#
# Usage: bench/consent_scale.sh [--record]
#   (BACKENDS="postgres sqlite", PG_ROWS=50000000, SQLITE_ROWS=20000000,
#    SECS=15, WARMUP_SECS=5, CONNS=64, READ_CONNS=8, READ_PACE_MS=4, SWEEP_CONNS=16,
#    SAMPLE=20000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS=${SECS:-15}
WARMUP_SECS=${WARMUP_SECS:-5}
CONNS=${CONNS:-64}
SWEEP_CONNS=${SWEEP_CONNS:-16}
READ_CONNS=${READ_CONNS:-8}
READ_PACE_MS=${READ_PACE_MS:-4}
SAMPLE=${SAMPLE:-20000}
PG_ROWS=${PG_ROWS:-50000000}
SQLITE_ROWS=${SQLITE_ROWS:-20000000}
PG_ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=guichet_bench_scale
ADMIN_EMAIL=admin@bench.example.fr
ADMIN_PASSWORD=Ech3lle-de-Richter-1935
AGENTS=(
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3; }
results=()
verdicts=()

# plan ROWS: the months filled, one line each: "YYYY-MM FROM TO N", N
# consents from FROM to TO (UTC). ROWS / 13 a whole month, for the thirteen
# months a consent is kept, as the daily sweep keeps them: the oldest one
# from 13 months ago (and 6 hours, the run's margin), the rest of it gone
# already; and before it the fourteenth month back, whole and due since
# the 1st of this month (every consent in it is past its 13 months), which
# the sweep measured below takes.
plan() {
  python3 - "$1" <<'PY'
import datetime, sys
rows = int(sys.argv[1])
def add_months(d, k):
    y, m = divmod(d.month - 1 + k, 12)
    y, m = d.year + y, m + 1
    last = ((datetime.date(y, m, 28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)).day
    return d.replace(year=y, month=m, day=min(d.day, last))
now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
cut = add_months(now, -13) + datetime.timedelta(hours=6)
this = now.replace(day=1, hour=0, minute=0, second=0)
for k in range(14, 0, -1):
    start, stop = add_months(this, -k), add_months(this, -k + 1)
    due = add_months(stop, 13) <= now
    begin = start if due or start >= cut else cut
    n = round(rows / 13 * (stop - begin) / (stop - start))
    print(start.strftime("%Y-%m"), begin.isoformat(), stop.isoformat(), n)
PY
}

# prime: each tenant's purposes (TENANTS file for the lua script), then a
# consent for every combination of them, then their withdrawals.
prime() {
  : >"$WORK/tenants"
  local slug
  for slug in $("$BIN" tenants list | awk '{print $1}' | sort); do
    local purposes
    purposes=$(curl -fsS "$BASE/v1/tenants/$slug/consent-policy" |
      python3 -c 'import json,sys; print(",".join(p["id"] for p in json.load(sys.stdin)["purposes"] if not p["essential"]))')
    echo "$slug $purposes" >>"$WORK/tenants"
    python3 - "$BASE" "$slug" "$purposes" "${AGENTS[@]}" <<'PY'
import itertools, json, sys, urllib.request, uuid
base, slug, purposes, agents = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
for n, picks in enumerate(itertools.product([True, False], repeat=len(purposes))):
    subject = str(uuid.uuid4())
    body = json.dumps({"subject_id": subject, "policy_version": "2026-01",
                       "choices": dict(zip(purposes, picks)),
                       "page_url": f"https://{slug}.example.fr/"}).encode()
    req = urllib.request.Request(f"{base}/v1/tenants/{slug}/consents", body,
                                 {"Content-Type": "application/json", "User-Agent": agents[n % len(agents)]})
    assert urllib.request.urlopen(req).status == 201
    req = urllib.request.Request(f"{base}/v1/tenants/{slug}/consents/{subject}", method="DELETE")
    assert urllib.request.urlopen(req).status == 204
PY
  done
}

login() {
  printf '%s' "$ADMIN_PASSWORD" | "$BIN" users add --email "$ADMIN_EMAIL" --role admin --password-stdin >/dev/null
}

token() {
  curl -fsS "$BASE/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# The server's resident memory, in KiB (read without a process of its own:
# it is sampled while the export runs).
rss_kb() {
  local key value _
  while read -r key value _; do
    if [[ $key == VmRSS: ]]; then echo "$value"; return; fi
  done <"/proc/$SERVER_PID/status"
}

# stats_ms: the worst and the median of 10 requests for a year's statistics.
stats_ms() {
  local tok from to i
  tok=$(token)
  to=$(date -u +%Y-%m-%d)
  from=$(date -u -d '365 days ago' +%Y-%m-%d)
  for i in $(seq 1 10); do
    curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $tok" \
      "$BASE/v1/dpo/consents/stats?from=$from&to=$to"
  done | sort -n | awk '{v[NR] = $1 * 1000} END {printf "%.1f %.1f\n", v[NR], v[int((NR + 1) / 2)]}'
}

# export MONTH: "rows seconds rss_before_kb rss_peak_kb" of the month's CSV
# export, all tenants, read and counted as it streams.
export_month() {
  local tok from to before peak=0 start end rows now
  tok=$(token)
  from="$1-01"
  to=$(python3 -c 'import datetime,sys; d = datetime.date.fromisoformat(sys.argv[1]).replace(day=28) + datetime.timedelta(days=4); print((d.replace(day=1) - datetime.timedelta(days=1)).isoformat())' "$from")
  before=$(rss_kb)
  start=$(date +%s.%N)
  curl -fsS -H "Authorization: Bearer $tok" "$BASE/v1/dpo/consents/export?from=$from&to=$to" | wc -l >"$WORK/export.rows" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    now=$(rss_kb)
    ((now > peak)) && peak=$now
    sleep 0.1
  done
  wait "$pid"
  end=$(date +%s.%N)
  rows=$(($(cat "$WORK/export.rows") - 1))
  echo "$rows $(echo "$end - $start" | bc -l) $before $peak"
}

# sample_subjects: SAMPLE "slug subject" lines drawn from the whole store.
sample_subjects() {
  if [[ $1 == postgres ]]; then
    local total pct
    total=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT greatest(sum(reltuples), 1)::bigint FROM pg_class WHERE relname LIKE 'consent_events_p%' AND relkind = 'r'")
    pct=$(echo "p = 100 * $SAMPLE / $total; if (p > 100) p = 100; p" | bc -l)
    psql "$BENCH_DATABASE_URL" -Atc "SELECT t.slug || ' ' || e.subject_id FROM consent_events e TABLESAMPLE SYSTEM ($pct)
      JOIN tenants t ON t.id = e.tenant_id::text LIMIT $SAMPLE" >"$WORK/subjects"
    if [[ $(wc -l <"$WORK/subjects") -lt 100 ]]; then
      psql "$BENCH_DATABASE_URL" -Atc "SELECT t.slug || ' ' || e.subject_id FROM consent_events e
        JOIN tenants t ON t.id = e.tenant_id::text ORDER BY random() LIMIT $SAMPLE" >"$WORK/subjects"
    fi
  else
    python3 - "$WORK" "$SAMPLE" >"$WORK/subjects" <<'PY'
import glob, os, random, sqlite3, sys, uuid
work, want = sys.argv[1], int(sys.argv[2])
main = sqlite3.connect(os.path.join(work, "guichet.db"))
slug = dict(main.execute("SELECT id, slug FROM tenants"))
files = sorted(glob.glob(os.path.join(work, "guichet.db-consents", "*", "*.db")))
sizes = []
for f in files:
    db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
    sizes.append((f, db.execute("SELECT max(rowid) FROM consent_events").fetchone()[0] or 0))
    db.close()
total = sum(n for _, n in sizes) or 1
for f, n in sizes:
    if not n:
        continue
    db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
    picks = [random.randint(1, n) for _ in range(max(1, want * n // total))]
    for tenant, subject in db.execute(
            f"SELECT tenant_id, subject_id FROM consent_events WHERE rowid IN ({','.join(map(str, picks))})"):
        print(slug[str(uuid.UUID(bytes=tenant))], uuid.UUID(bytes=subject))
    db.close()
PY
  fi
}

# fill_postgres ROWS: each month's consents into its partition, two months at
# a time (the machine's cores), then their daily counts.
fill_postgres() {
  local rows=$1
  psql "$BENCH_DATABASE_URL" -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE bench_tenants AS
SELECT row_number() OVER (ORDER BY t.slug) - 1 AS i, t.id::uuid AS id, t.slug,
       (SELECT array_agg(DISTINCT e.context) FROM consent_events e JOIN consent_strings s ON s.id = e.context
         WHERE e.tenant_id = t.id::uuid AND s.value LIKE '{"event":"given",%') AS given,
       (SELECT array_agg(DISTINCT e.context) FROM consent_events e JOIN consent_strings s ON s.id = e.context
         WHERE e.tenant_id = t.id::uuid AND s.value LIKE '{"event":"withdrawn",%') AS withdrawn,
       (SELECT id FROM consent_strings WHERE value = 'https://' || t.slug || '.example.fr/') AS page
FROM tenants t;
CREATE TABLE bench_agents AS
SELECT array_agg(id ORDER BY id) AS ids FROM consent_strings WHERE value LIKE 'Mozilla/5.0 %';
-- Pseudonyms (a keyed hash of a network's prefix: many visitors share one)
-- and signatures (64 bytes), drawn from 4096 of each.
CREATE TABLE bench_bytes AS
SELECT k, uuid_send(gen_random_uuid()) AS pseudonym,
       uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) AS signature
FROM generate_series(0, 4095) AS k;
SQL
  POOL=$((rows / 5 * 2 / 5)) SQL="$WORK/fill_month.sql" xargs -P 2 -L 1 bash -c \
    'psql "$0" -q -v ON_ERROR_STOP=1 -v month="$1" -v from="$2" -v to="$3" -v rows="$4" -v pool="$POOL" -f "$SQL"' \
    "$BENCH_DATABASE_URL" <"$WORK/plan"
  psql "$BENCH_DATABASE_URL" -q -c "DROP TABLE bench_tenants, bench_agents, bench_bytes" -c "VACUUM ANALYZE"
  # The figures are of the store at rest: once no autovacuum works on what
  # the fill wrote (at most 15 minutes), its pages written out.
  local i
  for i in $(seq 1 900); do
    [[ $(psql "$BENCH_DATABASE_URL" -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") == 0 ]] && break
    sleep 1
  done
  psql "$BENCH_DATABASE_URL" -q -c "CHECKPOINT"
}

write_fill_month_sql() {
  cat >"$WORK/fill_month.sql" <<'SQL'
\set part 'consent_events_p' :month
SELECT replace(:'part', '-', '_') AS part, (:'month' || '-01')::timestamp AS start,
       (:'month' || '-01')::timestamp + interval '1 month' AS stop \gset
CREATE TABLE IF NOT EXISTS :part PARTITION OF consent_events FOR VALUES FROM (:'start') TO (:'stop');
-- A subject: one of the tenant's POOL visitors, its id a hash of its number.
INSERT INTO consent_events (at, expires_at, id, subject_id, tenant_id, context, user_agent, page_url, ip_pseudonym, tc_string, signature, receipt)
SELECT x.at, CASE WHEN x.w THEN NULL ELSE x.at + interval '13 months' END,
       (lpad(to_hex((extract(epoch FROM x.at) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(x.k * 997 % 4096), 3, '0')
         || '8' || lpad(to_hex((random() * 1152921504606846975)::bigint), 15, '0'))::uuid,
       (lpad(to_hex(hashint8extended(x.v, 5)), 16, '0') || lpad(to_hex(hashint8extended(x.v, 7)), 16, '0'))::uuid,
       t.id,
       CASE WHEN x.w THEN t.withdrawn[1 + floor(random() * cardinality(t.withdrawn))::int]
            ELSE t.given[1 + floor(random() * cardinality(t.given))::int] END,
       CASE WHEN x.w THEN NULL ELSE a.ids[1 + floor(random() * cardinality(a.ids))::int] END,
       CASE WHEN x.w THEN NULL ELSE t.page END,
       b.pseudonym, NULL, CASE WHEN x.w THEN NULL ELSE b.signature END, NULL
FROM generate_series(0, :rows - 1) AS n
CROSS JOIN bench_agents a
JOIN bench_tenants t ON t.i = n % 5,
LATERAL (SELECT date_trunc('milliseconds', :'from'::timestamp + (:'to'::timestamp - :'from'::timestamp) * ((n + 0.5) / :rows)) AS at,
                floor(random() * 4096)::int AS k, (n % 5)::bigint * 1000000000 + floor(random() * :pool)::bigint AS v,
                random() < 0.03 AS w) x
JOIN bench_bytes b ON b.k = x.k;
INSERT INTO consent_daily_counts (tenant_id, day, purpose_id, accepted, refused, withdrawn)
WITH contexts AS MATERIALIZED (
  SELECT id, value::jsonb->>'event' AS event, (value::jsonb->>'choices')::jsonb AS choices
  FROM consent_strings WHERE value LIKE '{"event":%')
SELECT g.tenant_id::text, g.day, c.key,
       sum(CASE WHEN s.event = 'given' AND c.value = 'true' THEN g.n ELSE 0 END),
       sum(CASE WHEN s.event = 'given' AND c.value = 'false' THEN g.n ELSE 0 END),
       sum(CASE WHEN s.event <> 'given' AND c.value = 'true' THEN g.n ELSE 0 END)
FROM (SELECT tenant_id, to_char(at, 'YYYY-MM-DD') AS day, context, count(*) AS n FROM :part GROUP BY 1, 2, 3) g
JOIN contexts s ON s.id = g.context
CROSS JOIN LATERAL jsonb_each_text(s.choices) c
GROUP BY 1, 2, 3
ON CONFLICT (tenant_id, day, purpose_id) DO UPDATE SET
  accepted = consent_daily_counts.accepted + excluded.accepted,
  refused = consent_daily_counts.refused + excluded.refused,
  withdrawn = consent_daily_counts.withdrawn + excluded.withdrawn;
SQL
}

# fill_sqlite ROWS: one file per tenant and month, two at a time.
fill_sqlite() {
  python3 - "$1" "$WORK" "$WORK/plan" <<'PY'
import datetime, glob, hashlib, json, multiprocessing, os, random, sqlite3, sys, uuid
rows, work = int(sys.argv[1]), sys.argv[2]
months = [line.split() for line in open(sys.argv[3]) if line.strip()]
root = os.path.join(work, "guichet.db-consents")
main = sqlite3.connect(os.path.join(work, "guichet.db"))
tenants = sorted(main.execute("SELECT slug, id FROM tenants"))
pool = rows // len(tenants) * 2 // 5

def strings_of(slug, tenant):
    # The strings the service wrote in the tenant's file of this month.
    out = {}
    for f in glob.glob(os.path.join(root, tenant, "*.db")):
        db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        out.update(dict(db.execute("SELECT value, digest FROM consent_strings")))
        db.close()
    return out

def add_months(d, k):
    # As the service adds a consent's validity: the same day, or the
    # month's last one.
    y, m = divmod(d.month - 1 + k, 12)
    y, m = d.year + y, m + 1
    last = ((datetime.date(y, m, 28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)).day
    return d.replace(year=y, month=m, day=min(d.day, last))

EPOCH = datetime.datetime(1970, 1, 1)

def micros(d):
    return (d - EPOCH) // datetime.timedelta(microseconds=1)

def one(job):
    i, slug, tenant, (month, begin, end, n_month) = job
    per = int(n_month) // len(tenants)
    strings = strings_of(slug, tenant)
    contexts = {v: json.loads(v) for v in strings if v.startswith("{")}
    given = [v for v, c in contexts.items() if c["event"] == "given"]
    withdrawn = [v for v, c in contexts.items() if c["event"] == "withdrawn"]
    agents = [v for v in strings if v.startswith("Mozilla/5.0 ")]
    page = f"https://{slug}.example.fr/"
    start = micros(datetime.datetime.fromisoformat(begin))
    stop = micros(datetime.datetime.fromisoformat(end))
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
    for v in given + withdrawn + agents + [page]:
        number[v] = db.execute("INSERT INTO consent_strings (digest, value) VALUES (?, ?) RETURNING id",
                               (hashlib.sha256(v.encode()).digest(), v)).fetchone()[0]
    rnd = random.Random()
    tenant_bytes = uuid.UUID(tenant).bytes
    # Pseudonyms (a keyed hash of a network's prefix: many visitors share
    # one) and signatures (64 bytes), drawn from 4096 of each.
    pseudonyms = [rnd.randbytes(16) for _ in range(4096)]
    signatures = [rnd.randbytes(64) for _ in range(4096)]
    day = 86_400_000_000
    offsets = {}
    per_day = {}
    agent_numbers = [number[a] for a in agents]
    def events():
        for n in range(per):
            at = start + (stop - start) * (2 * n + 1) // (2 * per) // 1000 * 1000
            r = bytearray((at // 1000).to_bytes(6, "big") + rnd.randbytes(10))
            r[6] = 0x70 | (r[6] & 0x0F)
            r[8] = 0x80 | (r[8] & 0x3F)
            subject = hashlib.md5(f"{i}:{rnd.randrange(pool)}".encode()).digest()
            w = rnd.random() < 0.03
            ctx = rnd.choice(withdrawn if w else given)
            d = at // day
            per_day[(d, ctx)] = per_day.get((d, ctx), 0) + 1
            if w:
                yield (at, None, bytes(r), subject, tenant_bytes, number[ctx], None, None,
                       pseudonyms[rnd.randrange(4096)], None, None, None)
            else:
                # The same instant 13 months on (a month's last day at most).
                offset = offsets.get(d)
                if offset is None:
                    midnight = EPOCH + datetime.timedelta(days=d)
                    offset = offsets[d] = micros(add_months(midnight, 13)) - micros(midnight)
                yield (at, at + offset, bytes(r), subject, tenant_bytes, number[ctx], rnd.choice(agent_numbers),
                       number[page], pseudonyms[rnd.randrange(4096)], None, signatures[rnd.randrange(4096)], None)
    db.executemany("INSERT INTO consent_events (at, expires_at, id, subject_id, tenant_id, context, user_agent, page_url,"
                   " ip_pseudonym, tc_string, signature, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events())
    counts = {}
    for (d, ctx), k in per_day.items():
        date = (EPOCH + datetime.timedelta(days=d)).strftime("%Y-%m-%d")
        w = contexts[ctx]["event"] != "given"
        for purpose, accepted in json.loads(contexts[ctx]["choices"]).items():
            c = counts.setdefault((date, purpose), [0, 0, 0])
            if not w:
                c[0 if accepted else 1] += k
            elif accepted:
                c[2] += k
    db.executemany("INSERT INTO consent_daily_counts (tenant_id, day, purpose_id, accepted, refused, withdrawn)"
                   " VALUES (?, ?, ?, ?, ?, ?)",
                   [(tenant, d, p, a, r, w) for (d, p), (a, r, w) in counts.items() if a or r or w])
    db.commit()
    db.execute("ANALYZE")
    db.close()
    os.rename(draft, os.path.join(folder, f"{month}.{file_id}.db"))
    return per

jobs = [(i, slug, tenant, month) for month in months for i, (slug, tenant) in enumerate(tenants)]
with multiprocessing.Pool(2) as p:
    print(sum(p.map(one, jobs)), "events written", file=sys.stderr)
PY
  sync
}

disk_bytes() {
  if [[ $1 == postgres ]]; then
    psql "$BENCH_DATABASE_URL" -Atc "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
      WHERE c.relkind = 'r' AND (c.relname LIKE 'consent_events_%' OR c.relname = 'consent_strings')"
  else
    du -cb "$WORK"/guichet.db-consents/*/*.db | tail -1 | cut -f1
  fi
}

# measure LABEL: the figures of the store as it is, into the variables
# LABEL_post_rps, LABEL_post_p99, LABEL_get_p99, …
measure() {
  local label=$1 backend=$2
  # A warm-up first (new visitors, not measured): the server just started,
  # and after a bulk fill the disk is still settling; the figures are of a
  # service already recording.
  TENANTS="$WORK/tenants" MODE=post wrk -t2 -c"$CONNS" -d"${WARMUP_SECS}s" -s bench/consent_scale.lua "$BASE" >/dev/null
  TENANTS="$WORK/tenants" MODE=post wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/consent_scale.lua "$BASE" >"$WORK/$label.post"
  sample_subjects "$backend"
  local f
  for f in get history; do
    TENANTS="$WORK/tenants" SUBJECTS="$WORK/subjects" MODE=$f PACE=$READ_PACE_MS wrk -t2 -c"$READ_CONNS" -d"${SECS}s" --latency -s bench/consent_scale.lua "$BASE" >"$WORK/$label.$f"
    TENANTS="$WORK/tenants" SUBJECTS="$WORK/subjects" MODE=$f wrk -t2 -c"$READ_CONNS" -d"${SECS}s" --latency -s bench/consent_scale.lua "$BASE" >"$WORK/$label.${f}_most"
  done
  for f in post get history get_most history_most; do
    printf -v "${label}_${f}_rps" %s "$(wrk_field "$WORK/$label.$f" rps)"
    printf -v "${label}_${f}_p99" %s "$(to_ms "$(wrk_field "$WORK/$label.$f" p99)")"
    printf -v "${label}_${f}_failed" %s "$(awk '/^FAILED/ {print $2}' "$WORK/$label.$f")"
  done
  printf -v "${label}_found" %s "$(awk '/^FOUND/ {print $2}' "$WORK/$label.get")/$(awk '/^MISSING/ {print $2}' "$WORK/$label.get")"
  local s
  s=$(stats_ms)
  printf -v "${label}_stats_worst" %s "${s% *}"
  printf -v "${label}_stats_median" %s "${s#* }"
  local month rows secs before peak
  if [[ $label == empty ]]; then month=$(date -u +%Y-%m); else month=$EXPORTED; fi
  read -r rows secs before peak < <(export_month "$month")
  printf -v "${label}_export_rows" %s "$rows"
  printf -v "${label}_export_rate" %s "$(printf %.0f "$(echo "$rows / $secs" | bc -l)")"
  printf -v "${label}_export_mem" %s "$(((peak - before) / 1024))"
  printf -v "${label}_rss" %s "$((before / 1024))"
  echo "[$backend] $label: $(cat "$WORK/$label.post" | grep -E 'Requests/sec|FAILED' | tr '\n' ' ')" >&2
}

run_backend() {
  local backend=$1 rows=$2
  bench_database "$backend"
  bench_setup
  write_fill_month_sql
  plan "$rows" >"$WORK/plan"
  OLDEST=$(awk 'NR == 1 {print $1}' "$WORK/plan")
  EXPORTED=$(awk 'NR == 8 {print $1}' "$WORK/plan")
  FIRST_FILLED=$(awk 'NR == 2 {print $2}' "$WORK/plan")
  export GUICHET__DATABASE__POOL_SIZE=32
  export GUICHET__RETENTION__SCHEDULER=false
  bench_start
  prime
  login
  echo "[$backend] measuring the empty store" >&2
  measure empty "$backend"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT

  echo "[$backend] filling: $(tr '\n' ' ' <"$WORK/plan")" >&2
  local start end fill_secs
  start=$(date +%s)
  "fill_$backend" "$rows"
  end=$(date +%s)
  fill_secs=$((end - start))
  bench_start
  local stored bytes per
  stored=$(count_consents "$backend")
  bytes=$(disk_bytes "$backend")
  per=$(echo "$bytes / $stored" | bc)
  echo "[$backend] $stored consents stored in $fill_secs s; measuring the full store" >&2
  measure full "$backend"

  # The oldest month, due whole, swept
  # while visitors record consents.
  local oldest
  if [[ $backend == postgres ]]; then
    oldest=$(psql "$BENCH_DATABASE_URL" -Atc "SELECT count(*) FROM consent_events_p${OLDEST/-/_}")
  else
    oldest=0
    local f
    for f in "$WORK"/guichet.db-consents/*/"$OLDEST".*.db; do
      oldest=$((oldest + $(sqlite3 "$f" "SELECT count(*) FROM consent_events")))
    done
  fi
  TENANTS="$WORK/tenants" MODE=post wrk -t2 -c"$SWEEP_CONNS" -d4s --latency -s bench/consent_scale.lua "$BASE" >"$WORK/sweep.post" &
  local wrk_pid=$!
  sleep 1
  start=$(date +%s.%N)
  "$BIN" purge --json >"$WORK/sweep.json" 2>"$WORK/sweep.err"
  end=$(date +%s.%N)
  wait "$wrk_pid"
  local sweep_secs removed sweep_p99 sweep_max
  sweep_secs=$(echo "$end - $start" | bc -l)
  removed=$(python3 -c 'import json,sys; print(sum(t.get("consent_events", 0) for t in json.load(open(sys.argv[1]))["removed"].values()))' "$WORK/sweep.json")
  sweep_p99=$(to_ms "$(wrk_field "$WORK/sweep.post" p99)")
  sweep_max=$(to_ms "$(awk '$1 == "Latency" {print $4; exit}' "$WORK/sweep.post")")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; trap - EXIT

  local ratio
  ratio=$(echo "$full_post_rps / $empty_post_rps" | bc -l)
  results+=("| $backend | $stored | $per | $(printf %.0f "$empty_post_rps") / $(printf %.0f "$full_post_rps") | $(printf %.2f "$ratio") | $empty_post_p99 / $full_post_p99 | $empty_get_p99 / $full_get_p99 at $(printf %.0f "$full_get_rps")/s (most: $(printf %.0f "$empty_get_most_rps") / $(printf %.0f "$full_get_most_rps")/s, p99 $empty_get_most_p99 / $full_get_most_p99) | $empty_history_p99 / $full_history_p99 at $(printf %.0f "$full_history_rps")/s (most: $(printf %.0f "$empty_history_most_rps") / $(printf %.0f "$full_history_most_rps")/s, p99 $empty_history_most_p99 / $full_history_most_p99) | $empty_stats_worst / $full_stats_worst | $full_export_rows rows, $full_export_rate/s, +$full_export_mem MiB (empty: $empty_export_rows rows, +$empty_export_mem MiB) | $removed in $(printf %.2f "$sweep_secs") s, POST p99 $sweep_p99 ms (max $sweep_max) | $fill_secs |")
  yes_no() { if [[ $(echo "$1" | bc -l) == 1 ]]; then echo yes; else echo NO; fi; }
  verdicts+=("$backend ($stored consents): recording ≥ 90 % of empty: $(yes_no "$ratio >= 0.9"); POST p99 ≤ 25 ms: $(yes_no "$full_post_p99 <= 25"); current-consent p99 ≤ 10 ms at $(printf %.0f "$full_get_rps") reads/s: $(yes_no "$full_get_p99 <= 10") (found/none in force: $full_found); history p99 ≤ 10 ms at $(printf %.0f "$full_history_rps") reads/s: $(yes_no "$full_history_p99 <= 10"); a year's statistics ≤ 200 ms: $(yes_no "$full_stats_worst <= 200"); export ≥ 100 000 rows/s: $(yes_no "$full_export_rate >= 100000"); sweep of the oldest month ($oldest consents) ≤ 1 s: $(yes_no "$sweep_secs <= 1"), all of it: $([[ $removed == "$oldest" ]] && echo yes || echo NO); POST p99 during it ≤ 50 ms: $(yes_no "$sweep_p99 <= 50"); no failed request: $([[ "$empty_post_failed$full_post_failed$full_get_failed$full_history_failed$full_get_most_failed$full_history_most_failed" == 000000 ]] && echo yes || echo NO)")
  [[ $backend == postgres ]] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
  rm -rf "$WORK"
  return 0
}

for backend in ${BACKENDS:-postgres sqlite}; do
  if [[ $backend == postgres ]]; then run_backend postgres "$PG_ROWS"; else run_backend sqlite "$SQLITE_ROWS"; fi
done

table=$(
  echo "| backend | consents stored | bytes/consent | POST/s empty / full | ratio | POST p99 ms empty / full | current p99 ms empty / full, paced | history p99 ms empty / full, paced | year's stats ms (worst of 10) empty / full | month's CSV export | oldest month's sweep under load | fill s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  printf -- '- %s\n' "${verdicts[@]}"
)
echo "$table"
if [[ "${1:-}" == "--record" ]]; then
  {
    echo
    echo "## Consent at scale — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(basename "$(dirname "$BIN")") build of $(git rev-parse --short HEAD)"
    echo
    echo "\`bench/consent_scale.sh\`: the five demo tenants, thirteen months filled as the service writes them"
    echo "(from $FIRST_FILLED on, and the whole month $OLDEST before it, due: the sweep takes it);"
    echo "wrk 2 threads, ${SECS} s per figure, $CONNS connections recording (after ${WARMUP_SECS} s not measured), $READ_CONNS reading (each waiting ${READ_PACE_MS} ms between answer and question; then as fast as answered: \"most\"), $SWEEP_CONNS during the sweep;"
    echo "$SAMPLE visitors sampled over the whole period for the reads; export of $EXPORTED, all tenants."
    echo
    echo "$table"
  } | record_results
fi
