#!/usr/bin/env python3
"""The logs of the whole test run (every test process, every service process
a test started) must hold no e-mail address, no client address, no name
of a test citizen and no panic of the service. The same rules as
tests/api/common's checks at the end of each test, over everything, once both
suites have run."""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
logs = root / "target" / "tmp" / "test-logs"
names = [
    line.strip()
    for line in (root / "tests" / "citizen_names.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
email = re.compile(r"[A-Za-z0-9._%+-]@[A-Za-z0-9]")
# Start-up lines name the listening address and the database server, which
# are no one's personal data.
exempt = ('"listening"', '"target":"actix_server', "PostgreSQL at ")

files = sorted(logs.glob("*.log")) if logs.is_dir() else []
if not files:
    sys.exit(f"no test logs under {logs}: did the suites run?")
found, lines = [], 0
for path in files:
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        lines += 1
        if any(e in line for e in exempt):
            continue
        what = [f"name {x!r}" for x in names if x in line]
        if "127.0.0.1" in line or "::1" in line:
            what.append("client address")
        if email.search(line):
            what.append("e-mail address")
        if "panicked at" in line:
            # A test's own failure, or a handler a test mounts to panic on
            # purpose, is at tests/...; anything else is the service's.
            try:
                location = json.loads(line).get("location", "")
            except (ValueError, AttributeError):
                location = ""
            if not str(location).startswith("tests/"):
                what.append("panic")
        if what:
            found.append(f"{path.name}:{n}: {', '.join(what)}: {line[:300]}")
print(f"checked {lines} log lines in {len(files)} files")
if found:
    print("\n".join(found[:50]))
    sys.exit(f"{len(found)} log lines carry personal data or a panic")
