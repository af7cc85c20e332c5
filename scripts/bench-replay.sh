#!/usr/bin/env bash
# Replay benchmarks (not tests): archive N records (default 10M) from Kafka to HDFS and to a
# local directory with `tally run --stop-at-end`, then time `tally replay` of each archive with
# 1 and 2 workers. Also reports the archive's cost on Kafka ingest (the same run with the
# archive on local disk versus on HDFS). Medians of RUNS runs (default 3); Markdown report.
#   scripts/bench-replay.sh [N] [RUNS]
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
start_if_down hdfs
local_root=$(mktemp -d)
cleanup() {
    rm -rf "$local_root"
    delete_created_topics
    stop_started
}
trap cleanup EXIT

topic=replay-bench-$$
created_topic "$topic"
KAFKA_TOPIC=$topic KAFKA_PARTITIONS=8 scripts/kafka.sh start > /dev/null 2>&1
# --count is voters; 1% invalid and 1% duplicate records come on top.
voters=$((records * 100 / 102))
TALLY_LOG=warn $tally generate --count "$voters" --seed 5 --invalid-rate 0.01 --duplicate-rate 0.01 \
    --to "kafka://$bootstrap/$topic"
hdfs_root=hdfs://127.0.0.1:${HDFS_PORT:-9000}/bench-$$

echo "## Replay ($records records archived, 8 partitions; median of $runs)"
echo
echo "| measure | records/s |"
echo "|---|---|"
ingest() {
    local root=$1 t0 t1
    t0=$(now)
    TALLY_LOG=warn $tally run --source "kafka://$bootstrap/$topic" --storage "$root" --stop-at-end \
        --listen 127.0.0.1:0 --workers 2 > /tmp/tally-bench-ingest.json
    t1=$(now)
    echo "$records / ($t1 - $t0)" | bc -l
}
# The first ingest of each archive creates it; the timed ones start from an empty directory.
for target in local hdfs; do
    rates=()
    for run in $(seq 1 "$runs"); do
        if [ $target = local ]; then root=$local_root/run-$run; else root=$hdfs_root/run-$run; fi
        rates+=("$(ingest "$root")")
    done
    printf '| Kafka → graph with the archive on %s (2 workers) | %.0f |\n' "$target" "$(printf '%s\n' "${rates[@]}" | median)"
done
for target in local hdfs; do
    if [ $target = local ]; then input=$local_root/run-1/raw/$topic; else input=$hdfs_root/run-1/raw/$topic; fi
    for workers in 1 2; do
        rates=()
        for run in $(seq 1 "$runs"); do
            t0=$(now)
            TALLY_LOG=warn $tally replay "$input" --workers "$workers" > /tmp/tally-bench-replay.json
            t1=$(now)
            rates+=("$(echo "$records / ($t1 - $t0)" | bc -l)")
        done
        printf '| replay from %s, %d worker(s) | %.0f |\n' "$target" "$workers" "$(printf '%s\n' "${rates[@]}" | median)"
    done
done
python3 - "$local_root/run-1" <<'PY'
import json, sys
a = json.load(open('/tmp/tally-bench-ingest.json')); b = json.load(open('/tmp/tally-bench-replay.json'))
# Timing and labels are not counts: when the document was computed, when each state was called
# (wall-clock times, which a replay sets anew), and the election's name.
for x in (a, b):
    for key in ('epoch', 'complete', 'as_of', 'election'):
        x.pop(key, None)
    for state in x.get('states', {}).values():
        state.pop('called_at', None)
print("\nreplay equals the live run:", a == b)
PY
