#!/usr/bin/env bash
# Idle cost (not a test): CPU time of `tally run --listen 127.0.0.1:0` (the generator's random
# mix at 1,000 records/s) over SECONDS after a 3 s start, from /proc/PID/stat (utime + stime), as a
# percentage of one core; the median of RUNS runs, one job at a time.
#   scripts/bench-idle.sh [SECONDS (30)] [RUNS (3)]
# TALLY_BIN: a tally binary to measure instead of building this checkout's (for comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
seconds=${1:-30}
runs=${2:-3}
tally=$(tally_binary)
ticks=$(getconf CLK_TCK)
job=""
cleanup() { [ -n "$job" ] && kill "$job" 2>/dev/null && wait "$job" 2>/dev/null || true; }
trap cleanup EXIT

cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
samples=()
for _ in $(seq 1 "$runs"); do
    TALLY_LOG=warn $tally run --listen 127.0.0.1:0 > /dev/null 2>&1 &
    job=$!
    sleep 3
    before=$(cpu "$job")
    sleep "$seconds"
    after=$(cpu "$job")
    kill "$job" && wait "$job" 2>/dev/null || true
    job=""
    samples+=("$(echo "($after - $before) * 100 / $ticks / $seconds" | bc -l)")
done
printf '%s\n' "${samples[@]}" | awk '{ printf "run: %.2f%% of a core\n", $1 }'
printf 'median: %.2f%% of a core\n' "$(printf '%s\n' "${samples[@]}" | median)"
