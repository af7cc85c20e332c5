#!/usr/bin/env bash
# Chaos: under a live producer, FAULTS faults one after another (default 100) — SIGKILL of the
# job while it reads live, while it replays its archive after a restart and while it writes a
# snapshot, of one process of a supervised cluster and of every process at once, restarts of
# the broker and of HDFS — then the job's count must equal the sequential fold, and so must a
# replay of its archive. The job alternates between one process and a two-process cluster.
#
#   scripts/chaos.sh [FAULTS] [SEED]
#
# It is tests/chaos.rs run longer (the suite runs 10 faults); SEED repeats a run's order and
# timing (each run prints its seed). Starts Kafka and HDFS if they are not running, and stops
# what it started, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

faults=${1:-100}
seed=${2:-}
[[ $faults =~ ^[0-9]+$ ]] || { echo "usage: $0 [FAULTS] [SEED]" >&2; exit 2; }
[[ -z $seed || $seed =~ ^[0-9]+$ ]] || { echo "usage: $0 [FAULTS] [SEED]" >&2; exit 2; }

started=()
cleanup() {
    local status=$? service
    for service in "${started[@]}"; do scripts/"$service".sh stop || true; done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for service in kafka hdfs; do
    if ! scripts/"$service".sh status > /dev/null 2>&1; then
        scripts/"$service".sh start
        started+=("$service")
    fi
done

TALLY_CHAOS_FAULTS=$faults TALLY_CHAOS_SEED=$seed TALLY_REQUIRE_SERVICES=1 \
    cargo test --test chaos -- --nocapture
