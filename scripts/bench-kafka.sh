#!/usr/bin/env bash
# Kafka benchmarks (not tests), against the local broker of scripts/kafka.sh:
#   1. producer: records/s from `tally generate --to kafka://…` (N records, default 10M);
#   2. consumer: records/s from Kafka to published results (`tally run --stop-at-end`, without
#      the archive: scripts/bench-replay.sh measures its cost) over those N records, 1 and 2 workers;
#   3. end-to-end latency p50/p99 at steady 10k and 100k records/s.
# Each throughput figure is the median of RUNS runs (default 3). Prints a Markdown report.
#   scripts/bench-kafka.sh [N] [RUNS]
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
job=""
cleanup() {
    [ -n "$job" ] && kill "$job" 2>/dev/null && wait "$job" 2>/dev/null || true
    delete_created_topics
    stop_started
}
trap cleanup EXIT

topic_for() { KAFKA_TOPIC=$1 KAFKA_PARTITIONS=8 scripts/kafka.sh start > /dev/null 2>&1; created_topic "$1"; }

echo "## Kafka ($records records, 8 partitions; median of $runs)"
echo
echo "| measure | records/s |"
echo "|---|---|"
produce_rates=()
for run in $(seq 1 "$runs"); do
    topic=bench-$run-$$
    topic_for "$topic"
    t0=$(now)
    TALLY_LOG=warn $tally generate --count "$records" --seed "$run" --to "kafka://$bootstrap/$topic"
    t1=$(now)
    produce_rates+=("$(echo "$records / ($t1 - $t0)" | bc -l)")
done
printf '| produce (`tally generate --to kafka://…`) | %.0f |\n' "$(printf '%s\n' "${produce_rates[@]}" | median)"

for workers in 1 2; do
    rates=()
    for run in $(seq 1 "$runs"); do
        t0=$(now)
        TALLY_LOG=warn $tally run --source "kafka://$bootstrap/bench-1-$$" --storage none --stop-at-end --listen 127.0.0.1:0 \
            --workers "$workers" > /tmp/tally-bench-results.json
        t1=$(now)
        rates+=("$(echo "$records / ($t1 - $t0)" | bc -l)")
    done
    printf '| consume to published results, %d worker(s) (`tally run --stop-at-end`) | %.0f |\n' \
        "$workers" "$(printf '%s\n' "${rates[@]}" | median)"
done

echo
echo "## End-to-end latency at a steady rate (Kafka timestamp → epoch published)"
echo
echo "| rate | p50 | p99 | p99.9 |"
echo "|---|---|---|---|"
for rate in 10000 100000; do
    topic=latency-$rate-$$
    topic_for "$topic"
    # The producer runs first and throughout; the job joins 3 s later at the latest offsets, so
    # the producer's start-up (idempotence handshake, first connections) is not measured.
    TALLY_LOG=warn $tally generate --rate "$rate" --count $((rate * 25)) --seed 7 --to "kafka://$bootstrap/$topic" &
    producer=$!
    sleep 3
    TALLY_LOG=warn $tally run --source "kafka://$bootstrap/$topic" --storage none --start latest --listen 127.0.0.1:18089 \
        --workers 2 > /dev/null 2>&1 &
    job=$!
    wait "$producer"
    sleep 1
    metrics=$(curl -sf 127.0.0.1:18089/metrics)
    q() { echo "$metrics" | awk -v q="$1" -F'[ ]' '$1 == "tally_end_to_end_latency_quantile_seconds{q=\""q"\"}" { printf "%.0f ms", $2 * 1000 }'; }
    count=$(echo "$metrics" | awk '$1 == "tally_end_to_end_latency_seconds_count" { print $2 }')
    echo "| $rate/s ($count records) | $(q 0.5) | $(q 0.99) | $(q 0.999) |"
    kill "$job"; wait "$job" 2>/dev/null || true; job=""
done
