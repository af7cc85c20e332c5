#!/usr/bin/env bash
# HTTP under load (a benchmark, not a test): oha (crates.io; installed by this script into
# TALLY_CACHE) requests /api/results and every chart, one route at a time for SECONDS each over
# CONNECTIONS connections, while a live job ingests RATE records/s from Kafka (the broker of
# scripts/kafka.sh, started if down). Per route: requests/s, p50/p99 response time and the share
# answered 200. Then the job's end-to-end ingest latency over the whole loaded run, beside the
# same job's without HTTP load. Prints a Markdown report.
#   scripts/bench-http.sh [SECONDS (10)] [RATE (100000)] [CONNECTIONS (64)]
# TALLY_BIN: a tally binary to measure instead of building this checkout's (for comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
seconds=${1:-10}
rate=${2:-100000}
connections=${3:-64}
bootstrap=127.0.0.1:${KAFKA_PORT:-9092}
tally=$(tally_binary)
oha_version=1.16.0
oha_root=${TALLY_CACHE:-$HOME/.cache/tally}/oha-$oha_version
oha=$oha_root/bin/oha
if [ ! -x "$oha" ]; then
    echo "bench-http.sh: installing oha $oha_version into $oha_root" >&2
    cargo install oha --version "$oha_version" --locked --root "$oha_root" -q
fi
start_if_down kafka

work=$(mktemp -d)
topics=()
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    # Topics of a bench at 100k/s hold GBs: never leave them behind.
    for topic in "${topics[@]}"; do scripts/kafka.sh delete-topic "$topic" > /dev/null 2>&1 || true; done
    rm -rf "$work"
    stop_started
}
trap cleanup EXIT

# Starts the producer at RATE and a job that joins it at the latest offsets; sets base.
start_stream() {
    local topic=bench-http-$1-$$
    topics+=("$topic")
    scripts/kafka.sh create-topic "$topic" 8 > /dev/null 2>&1
    TALLY_LOG=warn $tally generate --rate "$rate" --seed 7 --to "kafka://$bootstrap/$topic" > /dev/null &
    pids+=($!)
    sleep 3
    TALLY_LOG=warn $tally run --source "kafka://$bootstrap/$topic" --storage none --start latest \
        --listen 127.0.0.1:0 --workers 2 > /dev/null 2> "$work/job-$1.log" &
    pids+=($!)
    base=""
    for _ in $(seq 1 100); do
        base=$(sed -n 's/.*dashboard at \(http[^ ]*\)\/$/\1/p' "$work/job-$1.log" | head -n 1)
        [ -n "$base" ] && break
        sleep 0.1
    done
    [ -n "$base" ] || { echo "bench-http.sh: the job did not start" >&2; cat "$work/job-$1.log" >&2; exit 1; }
}

# Records the job has counted (votes plus rejects).
counted() { curl -sf "$base/api/results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["votes"] + sum(r["rejected"].values()))'; }

# The job's ingest latency quantile Q, in ms.
latency() {
    curl -sf "$base/metrics" | awk -v q="$1" '$1 == "tally_end_to_end_latency_quantile_seconds{q=\""q"\"}" { printf "%.0f", $2 * 1000 }'
}

stop_stream() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    pids=()
}

echo "## HTTP under load: $connections connections, ${seconds} s per route, job ingesting $rate records/s from Kafka"
echo
# The job alone, for comparison: the same stream for as long as the loaded run, no HTTP load.
routes=(/api/results /charts/candidates.svg /charts/gender.svg /charts/age.svg /charts/states.svg /charts/electoral.svg)
start_stream quiet
sleep $((seconds * ${#routes[@]}))
quiet_p50=$(latency 0.5); quiet_p99=$(latency 0.99)
stop_stream

start_stream loaded
echo "| route | requests/s | p50 | p99 | answered 200 | job ingest during it (records/s) |"
echo "|---|---|---|---|---|---|"
for route in "${routes[@]}"; do
    before=$(counted); t0=$(now)
    "$oha" -z "${seconds}s" -c "$connections" --no-tui --output-format json "$base$route" > "$work/oha.json"
    after=$(counted); t1=$(now)
    ingest=$(echo "($after - $before) / ($t1 - $t0)" | bc -l)
    python3 - "$work/oha.json" "$route" "$ingest" <<'PY'
import json, sys
report, route, ingest = json.load(open(sys.argv[1])), sys.argv[2], float(sys.argv[3])
summary, percentiles = report["summary"], report["latencyPercentiles"]
statuses = report.get("statusCodeDistribution", {})
total = sum(statuses.values()) or 1
print(f"| `{route}` | {summary['requestsPerSec']:,.0f} | {percentiles['p50'] * 1000:.1f} ms "
      f"| {percentiles['p99'] * 1000:.1f} ms | {100 * statuses.get('200', 0) / total:.2f}% | {ingest:,.0f} |")
PY
done
echo
echo "| job ingest latency (Kafka timestamp → epoch published) | p50 | p99 |"
echo "|---|---|---|"
echo "| without HTTP load | $quiet_p50 ms | $quiet_p99 ms |"
echo "| under the HTTP load above | $(latency 0.5) ms | $(latency 0.99) ms |"
stop_stream
