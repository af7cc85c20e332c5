#!/usr/bin/env bash
# Cluster benchmark (not a test): the same work on this machine as 1 process × 2 workers and as
# 2 processes × 1 worker (scripts/cluster.sh --local 2), for
#   1. Kafka: N records (default 10M) already in an 8-partition topic, to published results
#      (`tally run --stop-at-end --storage none`);
#   2. replay: the same N records as NDJSON files on local disk (`tally replay`).
# Medians of RUNS runs (default 3); checks that both shapes print the same results.
#   scripts/bench-cluster.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
records=${1:-10000000}
runs=${2:-3}
bootstrap=127.0.0.1:${KAFKA_PORT:-9092}
tally=$(tally_binary)

start_if_down kafka
files=$(mktemp -d)
logs=$(mktemp -d)
cleanup() {
    rm -rf "$files" "$logs"
    delete_created_topics
    stop_started
}
trap cleanup EXIT

topic=cluster-bench-$$
created_topic "$topic"
KAFKA_TOPIC=$topic KAFKA_PARTITIONS=8 scripts/kafka.sh start > /dev/null 2>&1
# --count is voters; 1% invalid and 1% duplicate records come on top.
voters=$((records * 100 / 102))
mix=(--count "$voters" --seed 9 --invalid-rate 0.01 --duplicate-rate 0.01)
TALLY_LOG=warn $tally generate "${mix[@]}" --to "kafka://$bootstrap/$topic"
for part in 0 1 2 3; do
    TALLY_LOG=warn $tally generate --count $((voters / 4)) --seed $((10 + part)) --invalid-rate 0.01 \
        --duplicate-rate 0.01 --out "$files/part-$part.ndjson"
done

# Runs `tally ARGS…` in SHAPE (1x2 or 2x1); prints records/s; keeps the results.
timed() {
    local shape=$1 total=$2 t0 t1; shift 2
    t0=$(now)
    if [ "$shape" = 1x2 ]; then
        TALLY_LOG=warn $tally "$@" --workers 2 > "/tmp/tally-bench-$shape.json"
    else
        TALLY_LOG=warn scripts/cluster.sh --local 2 --workers 1 --logs "$logs" -- "$@" \
            > "/tmp/tally-bench-$shape.json" 2> /dev/null
    fi
    t1=$(now)
    echo "$total / ($t1 - $t0)" | bc -l
}
same() {
    diff <(grep -v '"epoch"\|"as_of"' /tmp/tally-bench-1x2.json) <(grep -v '"epoch"\|"as_of"' /tmp/tally-bench-2x1.json) > /dev/null \
        && echo yes || echo NO
}

echo "## Cluster shapes on one 2-core machine ($records records; median of $runs)"
echo
echo "| work | 1 process × 2 workers | 2 processes × 1 worker | same results |"
echo "|---|---|---|---|"
replay_records=$(cat "$files"/*.ndjson | wc -l)
for work in kafka replay; do
    declare -A rates=()
    for shape in 1x2 2x1; do
        samples=()
        for _ in $(seq 1 "$runs"); do
            if [ $work = kafka ]; then
                samples+=("$(timed $shape "$records" run --source "kafka://$bootstrap/$topic" --storage none \
                    --stop-at-end --listen 127.0.0.1:0)")
            else
                samples+=("$(timed $shape "$replay_records" replay "$files")")
            fi
        done
        rates[$shape]=$(printf '%s\n' "${samples[@]}" | median)
    done
    printf '| %s | %.0f records/s | %.0f records/s (%.2f×) | %s |\n' "$work" "${rates[1x2]}" "${rates[2x1]}" \
        "$(echo "${rates[2x1]} / ${rates[1x2]}" | bc -l)" "$(same)"
done
