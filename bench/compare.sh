#!/usr/bin/env bash
# Two builds side by side in one run: the `dist` build of an earlier commit
# (REV) and that of the working tree. Each bench script runs on the earlier
# build, then at once on the current one, with the same sizes, so that the
# machine's noise of the hour touches both alike; the figures to compare are
# those of the two builds in this run, not against another day's.
#
# Usage: bench/compare.sh REV [--record]
#   SCRIPTS="consent requests retention" by default; each script's own
#   variables apply to both builds (for example ROWS for requests.sh,
#   EXPIRED and KEPT for retention.sh, SECS for consent.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/compare.sh REV [--record]}
record=${2:-}
short=$(git rev-parse --short "$rev")
head=$(git rev-parse --short HEAD)
before_dir="$PWD/target/compare/$short"

if [[ ! -x $before_dir/dist/guichet ]]; then
  echo "building $short (profile dist)" >&2
  src=$(mktemp -d)
  git archive "$rev" | tar -x -C "$src"
  CARGO_TARGET_DIR="$before_dir" cargo build --profile dist -q --manifest-path "$src/Cargo.toml"
  rm -rf "$src"
fi
echo "building the working tree (profile dist)" >&2
cargo build --profile dist -q
before="$before_dir/dist/guichet"
after="$PWD/target/dist/guichet"

out=$(mktemp -d)
for script in ${SCRIPTS:-consent requests retention}; do
  for build in before after; do
    bin=$before
    [[ $build == after ]] && bin=$after
    echo "== bench/$script.sh on the $build build" >&2
    BENCH_BIN=$bin "bench/$script.sh" >"$out/$script.$build"
  done
done

report=$(
  for script in ${SCRIPTS:-consent requests retention}; do
    echo "### \`bench/$script.sh\`"
    echo
    echo "Before ($short):"
    echo
    grep -E '^\||^- |^(Queue|Submissions)' "$out/$script.before" || true
    echo
    echo "After ($head, working tree):"
    echo
    grep -E '^\||^- |^(Queue|Submissions)' "$out/$script.after" || true
    echo
  done
)
echo "$report"
if [[ $record == --record ]]; then
  # shellcheck source=bench/lib.sh
  source bench/lib.sh
  {
    echo "## Before and after — $(date -u +%Y-%m-%d) — $(nproc) cores, $(uname -m), dist builds of $short and $head"
    echo
    echo "\`bench/compare.sh $short\`: each script run on the build of $short, then on that of $head, in one run;"
    echo "sizes: ${SCRIPTS:-consent requests retention}; SECS=${SECS:-15} ROWS=${ROWS:-1000000} EXPIRED=${EXPIRED:-1000000} KEPT=${KEPT:-1000000}."
    echo
    echo "$report"
  } | record_results
fi
