#!/usr/bin/env bash
# Voter-state memory (a benchmark, not a test): the whole job on the in-process generator, as
# fast as it goes, over VOTERS voters (default 158,429,631: the 2020 turnout), sampling the
# process's resident memory every 0.2 s. Prints the peak RSS, the peak per voter, the largest
# rise between two samples (a table that doubles at once would show it here) and the wall time.
# Medians of RUNS runs (default 1: one full run takes a minute or two and ~3.5 GB).
#   scripts/bench-memory.sh [VOTERS] [RUNS] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
voters=${1:-158429631}
runs=${2:-1}
workers=${3:-2}
tally=$(tally_binary)

peaks=() steps=() seconds=()
for _ in $(seq "$runs"); do
    start=$(now)
    TALLY_LOG=warn $tally run --count "$voters" --rate 0 --stop-at-end --workers "$workers" \
        --listen 127.0.0.1:0 > /dev/null 2>&1 &
    pid=$!
    peak=0 step=0 last=0
    while kill -0 "$pid" 2> /dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2> /dev/null || echo 0)
        rss=${rss:-0}
        ((rss > peak)) && peak=$rss
        ((last > 0 && rss - last > step)) && step=$((rss - last))
        last=$rss
        sleep 0.2
    done
    wait "$pid"
    # The kernel's own high-water mark is not readable after exit; the 0.2 s samples are, and
    # growth is smooth (see the largest step), so they are within a step of it.
    peaks+=("$peak") steps+=("$step") seconds+=("$(echo "$(now) - $start" | bc)")
done
peak=$(printf '%s\n' "${peaks[@]}" | median)
step=$(printf '%s\n' "${steps[@]}" | median)
secs=$(printf '%s\n' "${seconds[@]}" | median)
echo "| voters | workers | peak RSS (GiB) | bytes per voter | largest 0.2 s rise | wall time |"
echo "|---|---|---|---|---|---|"
printf '| %s | %s | %.2f | %.1f | %.0f MB | %.0f s |\n' "$voters" "$workers" \
    "$(echo "$peak / 1048576" | bc -l)" "$(echo "$peak * 1024 / $voters" | bc -l)" \
    "$(echo "$step / 1000" | bc -l)" "$secs"
