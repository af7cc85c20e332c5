#!/usr/bin/env bash
# The whole 2020 presidential election through the real path (a benchmark, not a test):
#   1. `tally generate --scenario model/data/president_2020_by_county.csv --scale 1` writes
#      all 158,429,631 ballots, each with its county, to a new 8-partition Kafka topic
#      (ELECTION_TABLE=model/data/president_2020_by_state.csv: the same ballots without counties);
#   2. `tally run --source kafka://…/TOPIC --storage hdfs://… --stop-at-end --workers 2
#      --apportionment 2010` (archive and snapshots on HDFS) reads them to final results: timed,
#      with its peak RSS;
#   3. the final counts are checked against the table: every state × candidate exactly, no
#      rejects, 306–232.
# With --cluster PxW the job runs as scripts/cluster.sh --local P --workers W instead (peak RSS
# is then the largest process's).
# With --recovery it then measures a crash: the same job on a fresh HDFS root is killed with
# SIGKILL after about 100 M records and restarted; it reports how long the restart takes to
# serve the snapshot and to be live again (replay done), and checks the final counts again.
#   scripts/bench-election.sh [--recovery | --cluster PxW] [SCALE]      (SCALE defaults to 1)
# ELECTION_TOPIC=NAME reuses a topic an earlier run produced (same SCALE) instead of producing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
recovery=false cluster=""
while [ $# -gt 0 ]; do
    case "$1" in
        --recovery) recovery=true; shift ;;
        --cluster) cluster=${2:?--cluster needs PROCESSESxWORKERS, e.g. 2x2}; shift 2 ;;
        *) break ;;
    esac
done
if [ -n "$cluster" ] && { ! [[ $cluster =~ ^[0-9]+x[0-9]+$ ]] || $recovery; }; then
    echo "--cluster takes PROCESSESxWORKERS (e.g. 2x2), and not with --recovery" >&2; exit 2
fi
bench_args "$@"
scale=${1:-1}
bootstrap=127.0.0.1:${KAFKA_PORT:-9092}
namenode=hdfs://127.0.0.1:${HDFS_PORT:-9000}
table=${ELECTION_TABLE:-model/data/president_2020_by_county.csv}
tally=$(tally_binary)
port=18190

start_if_down kafka
start_if_down hdfs
topic=${ELECTION_TOPIC:-election-2020-$$}
root=bench-election-$$
out=$(mktemp -d)
job=""
cleanup() {
    [ -n "$job" ] && kill -9 "$job" 2>/dev/null && wait "$job" 2>/dev/null || true
    rm -rf "$out"
    scripts/hdfs.sh dfs -rm -r -f -skipTrash "/$root" > /dev/null 2>&1 || true
    # A topic this run produced (not one ELECTION_TOPIC named for reuse) goes too.
    [ -n "${ELECTION_TOPIC:-}" ] || scripts/kafka.sh delete-topic "$topic" > /dev/null 2>&1 || true
    stop_started
}
trap cleanup EXIT

# Checks results JSON ($1) against the table at SCALE; prints one line, fails on a difference.
check() {
    python3 - "$1" "$table" "$scale" <<'PY'
import csv, json, sys
results, table, scale = json.load(open(sys.argv[1])), sys.argv[2], float(sys.argv[3])
wrong, expected_total, table_votes = [], 0, {}
for row in csv.DictReader(open(table)):  # by state, or by county: summed per state x candidate
    key = (row["state_po"], row["candidate"])
    table_votes[key] = table_votes.get(key, 0) + int(row["votes"])
for (state, candidate), votes in table_votes.items():
    expected = int(votes * scale + 0.5)  # as the generator rounds (half up)
    expected_total += expected
    got = results["by_state"].get(state, {}).get(candidate, 0)
    if got != expected:
        wrong.append(f'{state} {candidate}: {got} != {expected}')
ev = {c["name"]: c["electoral_votes"] for c in results["candidates"]}
if results["votes"] != expected_total:
    wrong.append(f'votes {results["votes"]} != {expected_total}')
if any(results["rejected"].values()):
    wrong.append(f'rejected {results["rejected"]}')
if scale == 1 and (ev.get("Biden"), ev.get("Trump")) != (306, 232):
    wrong.append(f'electoral votes {ev}')
if wrong:
    print("MISMATCH:", *wrong[:20], sep="\n  ")
    sys.exit(1)
print(f'counts equal the table: {results["votes"]:,} votes, every state x candidate; '
      f'Biden {ev.get("Biden")} - Trump {ev.get("Trump")}')
PY
}

ballots=$(python3 -c '
import csv, sys
totals = {}
for r in csv.DictReader(open(sys.argv[1])):
    totals[(r["state_po"], r["candidate"])] = totals.get((r["state_po"], r["candidate"]), 0) + int(r["votes"])
print(sum(int(v * float(sys.argv[2]) + 0.5) for v in totals.values()))' "$table" "$scale")
if [ -z "${ELECTION_TOPIC:-}" ]; then
    t0=$(now)
    TALLY_LOG=warn $tally generate --scenario "$table" --scale "$scale" --seed 2020 --partitions 8 \
        --to "kafka://$bootstrap/$topic"
    t1=$(now)
    printf 'produce %s ballots: %.0f s (%.0f records/s)\n' "$ballots" "$(echo "$t1 - $t0" | bc -l)" \
        "$(echo "$ballots / ($t1 - $t0)" | bc -l)"
fi

# The job's arguments, archiving under ROOT/$1.
# On a cluster, cluster.sh runs the binary and adds --workers, and each process listens on a
# port of its own.
job_args() {
    args=(run --source "kafka://$bootstrap/$topic" --storage "$namenode/$root/$1" --stop-at-end
        --apportionment 2010)
    if [ -n "$cluster" ]; then
        launcher=(scripts/cluster.sh --local "${cluster%x*}" --workers "${cluster#*x}" --logs "$out" --)
        args+=(--listen 127.0.0.1:0)
    else
        launcher=("$tally")
        args+=(--workers 2 --listen "127.0.0.1:$port")
    fi
}
export TALLY_BIN=$tally
job_args full
t0=$(now)
TALLY_LOG=warn /usr/bin/time -f '%M' -o "$out/rss" "${launcher[@]}" "${args[@]}" > "$out/results.json"
t1=$(now)
printf "Kafka -> final results%s, archive and snapshots on HDFS: %.0f s (%.0f records/s), peak RSS %.2f GiB\n" "${cluster:+ on a $cluster cluster}" \
    "$(echo "$t1 - $t0" | bc -l)" "$(echo "$ballots / ($t1 - $t0)" | bc -l)" "$(echo "$(tail -1 "$out/rss") / 1048576" | bc -l)"
check "$out/results.json"

$recovery || exit 0
kill_at=$(python3 -c "print(int(100e6 * $scale))")
metric() { curl -sf "127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
job_args crash
TALLY_LOG=warn "${launcher[@]}" "${args[@]}" > /dev/null 2>&1 &
job=$!
while :; do
    done_records=$(metric tally_records_total || true)
    [ -n "$done_records" ] && [ "${done_records%.*}" -ge "$kill_at" ] && break
    kill -0 "$job" 2>/dev/null || { echo "the job ended before $kill_at records" >&2; exit 1; }
    sleep 0.2
done
kill -9 "$job"; wait "$job" 2>/dev/null || true; job=""
echo "killed with SIGKILL at $done_records records"
t0=$(now)
TALLY_LOG=info "${launcher[@]}" "${args[@]}" > "$out/recovered.json" 2> "$out/recovered.err" &
job=$!
first_served="" live=""
while kill -0 "$job" 2>/dev/null; do
    body=$(curl -sf "127.0.0.1:$port/api/results" || true)
    if [ -z "$first_served" ] && [ -n "$body" ]; then first_served=$(now); fi
    if [ -n "$body" ] && ! grep -q '"recovering"' <<< "$body"; then live=$(now); break; fi
    sleep 0.1
done
wait "$job"; job=""
printf 'restart: results served after %.1f s (the snapshot, marked recovering), live after %.1f s\n' \
    "$(echo "$first_served - $t0" | bc -l)" "$(echo "${live:-$(now)} - $t0" | bc -l)"
grep -E "recovering from|recovered:" "$out/recovered.err" | cut -c1-160 || true
check "$out/recovered.json"
