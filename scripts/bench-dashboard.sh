#!/usr/bin/env bash
# What one open dashboard tab downloads (a benchmark, not a test): a job plays the 2024 night at
# 0.2% over 3 minutes; 20 s in, headless Chromium (Debian's) opens the dashboard at 1440×1000 and
# counts, for SECONDS, the bytes on the wire (compressed, headers included) by kind: the event
# stream, the charts, the page and API. RUNS runs; prints each run's JSON line and the median
# megabytes per hour.
#   scripts/bench-dashboard.sh [SECONDS (60)] [RUNS (3)]
# TALLY_BIN: a tally binary to measure instead of building this checkout's (for comparisons).
# Needs the Python of scripts/schemathesis.sh (websocket-client).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
seconds=${1:-60}
runs=${2:-3}
tally=$(tally_binary)
scripts/schemathesis.sh > /dev/null
python=${TALLY_CACHE:-$HOME/.cache/tally}/schemathesis-4.32.5/bin/python
port=${TALLY_BENCH_PORT:-18181}
job=
trap '[ -z "$job" ] || kill "$job" 2>/dev/null || true' EXIT
results=()
for run in $(seq "$runs"); do
    "$tally" run --scenario 2024 --scale 0.002 --night --night-length 3m --baseline 2020 \
        --listen "127.0.0.1:$port" > /dev/null 2>&1 &
    job=$!
    sleep 20
    line=$(TALLY_TRAFFIC_SECONDS=$seconds "$python" scripts/browser_check.py "http://127.0.0.1:$port" \
        /usr/bin/chromium traffic | "$python" -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["traffic"]))')
    echo "run $run: $line"
    results+=("$(echo "$line" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["megabytes_per_hour"])')")
    kill "$job" && wait "$job" 2>/dev/null || true
    job=
done
printf '%s\n' "${results[@]}" | sort -n | awk '{ v[NR] = $1 } END { print "median MB per hour per tab: " v[int((NR + 1) / 2)] }'
