#!/usr/bin/env bash
# What the raw archive costs (a benchmark, not a test): N records (default 20M) from an
# 8-partition topic to final results with `tally run --stop-at-end --workers 2`, with
#   --storage none                  (no archive, no snapshots: the baseline),
#   a local directory, snappy (the default) and gzip segments,
#   HDFS (scripts/hdfs.sh), snappy, gzip and plain segments.
# The six runs take turns, RUNS rounds (default 3), so drift on a noisy machine hits all alike.
# Prints a Markdown table: median seconds, records/s, the ratio to the baseline, archive bytes.
#   scripts/bench-archive.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
records=${1:-20000000}
runs=${2:-3}
bootstrap=127.0.0.1:${KAFKA_PORT:-9092}
namenode=hdfs://127.0.0.1:${HDFS_PORT:-9000}
tally=$(tally_binary)

start_if_down kafka
start_if_down hdfs
local_root=$(mktemp -d)
hdfs_root=bench-archive-$$
cleanup() {
    rm -rf "$local_root"
    scripts/hdfs.sh dfs -rm -r -f -skipTrash "/$hdfs_root" > /dev/null 2>&1 || true
    delete_created_topics
    stop_started
}
trap cleanup EXIT

topic=archive-bench-$$
created_topic "$topic"
TALLY_LOG=warn $tally generate --count "$records" --seed 5 --partitions 8 --to "kafka://$bootstrap/$topic"

declare -A seconds
variants=(none local-snappy local-gzip hdfs-snappy hdfs-gzip hdfs-none)
for run in $(seq 1 "$runs"); do
    for variant in "${variants[@]}"; do
        case $variant in
            none) storage=(--storage none) ;;
            local-*) storage=(--storage "$local_root/$variant-$run" --archive-compression "${variant#local-}") ;;
            hdfs-*) storage=(--storage "$namenode/$hdfs_root/$variant-$run" --archive-compression "${variant#hdfs-}") ;;
        esac
        t0=$(now)
        TALLY_LOG=warn $tally run --source "kafka://$bootstrap/$topic" "${storage[@]}" --stop-at-end \
            --listen 127.0.0.1:0 --workers 2 > /dev/null
        t1=$(now)
        seconds[$variant]+="$(echo "$t1 - $t0" | bc -l) "
    done
    # Free the disk for the next round (the sizes are read from HDFS).
    rm -rf "$local_root"/local-*-"$run"
done

echo "## Archive cost ($records records, 8 partitions, 2 workers; median of $runs rounds)"
echo
echo "| storage | seconds | records/s | throughput vs none |"
echo "|---|---|---|---|"
base=$(echo "${seconds[none]}" | tr ' ' '\n' | grep . | median)
for variant in "${variants[@]}"; do
    s=$(echo "${seconds[$variant]}" | tr ' ' '\n' | grep . | median)
    printf '| %s | %.1f | %.0f | %.2f× |\n' "$variant" "$s" "$(echo "$records / $s" | bc -l)" "$(echo "$base / $s" | bc -l)"
done
echo
size() { scripts/hdfs.sh dfs -du -s "/$hdfs_root/hdfs-$1-1/raw" | awk '{print $1}'; }
plain_bytes=$(size none)
for compression in snappy gzip; do
    bytes=$(size "$compression")
    printf 'Archive size, %s: %.0f MB (plain %.0f MB, %.1f× smaller).\n' "$compression" \
        "$(echo "$bytes / 1000000" | bc -l)" "$(echo "$plain_bytes / 1000000" | bc -l)" "$(echo "$plain_bytes / $bytes" | bc -l)"
done
