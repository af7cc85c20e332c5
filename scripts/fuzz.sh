#!/usr/bin/env bash
# Decoder fuzz campaign (not a test; the test suite runs a small part of it as a property test,
# dataflow/tests/oracle.rs `hostile_records_…`): N generated hostile records (default 10M) in one
# NDJSON file: valid records cut short, fields of the wrong type, huge numbers, deep nesting,
# invalid UTF-8, NUL bytes, duplicate keys, noise, and lines over 10 MiB. `tally replay` reads
# it on 1 and on 2 workers. With --kafka, the same records also go through a live Kafka topic
# (one record per message, produced by kcat, to one partition so that offsets keep the file's
# order) that `tally run --stop-at-end` consumes. It passes when every run exits 0 (no panic),
# counts every record exactly once (votes plus rejects equal N), and all runs agree.
#   scripts/fuzz.sh [N] [SEED] [--kafka]     (--kafka: the broker of scripts/kafka.sh, running)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-10000000}
seed=${2:-1}
kafka=${3:-}
tally=target/release/tally
work=$(mktemp -d)
topic=tally-fuzz-$$
cleanup() {
    rm -rf "$work"
    # The topic holds every hostile record (GBs at 10M): never leave it behind.
    if [ -n "$kafka" ]; then scripts/kafka.sh delete-topic "$topic" > /dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ -n "$kafka" ] && ! scripts/kafka.sh status 2> /dev/null; then
    echo "fuzz.sh --kafka: no broker; start one with scripts/kafka.sh start" >&2
    exit 2
fi

cargo build --release -q
python3 - "$records" "$seed" "$work/hostile.ndjson" <<'PY'
import random, sys
n, seed, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)
valid = b'{"id":%d,"gender":"Female","age":34,"state":"Ohio","decision":"Ada"}'
wrong = [b'1e400', b'18446744073709551616', b'-0', b'7.5', b'[7]', b'{"n":7}', b'true',
         b'"\\u0000"', b'99999999999999999999999999999999', b'null']
def hostile(i):
    kind = rng.randrange(10)
    base = valid % i
    if kind == 0:
        return base[:rng.randrange(len(base))] or b'{'
    if kind == 1:
        return base.replace(b'%d' % i, rng.choice(wrong), 1)
    if kind == 2:
        depth = rng.randrange(1, 2000)
        return b'{"id":' + b'[' * depth + b'1' + b']' * depth + b',"gender":"Male","age":40,"state":"TX","decision":"B"}'
    if kind == 3:
        at = rng.randrange(len(base))
        return base[:at] + bytes([rng.choice([0, 0xff, 0xc3, 0x80, 0xfe])]) + base[at:]
    if kind == 4:
        return b'{"id":%d,"id":%d,"gender":"Male","age":40,"state":"TX","decision":"B"}' % (i, i + 1)
    if kind == 5:
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        noise = noise.replace(b'\n', b'x').replace(b'\r', b'x')
        return noise if noise.strip() else b'x'
    if kind == 6 and rng.randrange(200_000) == 0:
        return b'{"id":1,"decision":"' + b'A' * (10 << 20) + b'"}'
    # Otherwise valid, from a voter space small enough for duplicates.
    return valid % rng.randrange(n // 2 + 1)
with open(path, 'wb') as out:
    for i in range(n):
        out.write(hostile(i) + b'\n')
PY
echo "## Decoder fuzz: $records hostile records (seed $seed)"
echo
for workers in 1 2; do
    TALLY_LOG=warn $tally replay "$work/hostile.ndjson" --workers "$workers" > "$work/results-$workers.json"
done
runs=("$work/results-1.json" "$work/results-2.json")
if [ -n "$kafka" ]; then
    # Room for the 10 MiB records: topic, producer and consumer limits raised to 16 MiB.
    scripts/kafka.sh create-topic "$topic" 1 max.message.bytes=16777216
    kcat -P -b 127.0.0.1:${KAFKA_PORT:-9092} -t "$topic" -l -X message.max.bytes=16777216 \
        -X enable.idempotence=true "$work/hostile.ndjson"
    TALLY_LOG=warn $tally run --source "kafka://127.0.0.1:${KAFKA_PORT:-9092}/$topic" \
        --storage "$work/storage" --stop-at-end --listen 127.0.0.1:0 --workers 2 \
        > "$work/results-kafka.json"
    runs+=("$work/results-kafka.json")
fi
python3 - "$records" "${runs[@]}" <<'PY'
import json, sys
n = int(sys.argv[1])
runs = [json.load(open(p)) for p in sys.argv[2:]]
for r in runs:
    for k in ('epoch', 'as_of', 'lost'):
        r.pop(k, None)
one = runs[0]
counted = one['votes'] + sum(one['rejected'].values())
print("| measure | records |\n|---|---|")
print(f"| counted (votes + rejects) | {counted:,} of {n:,} |")
print(f"| votes | {one['votes']:,} |")
for reason, count in sorted(one['rejected'].items()):
    print(f"| rejected: {reason} | {count:,} |")
print(f"| 1 worker equals 2 workers | {runs[1] == one} |")
if len(runs) > 2:
    print(f"| through Kafka equals the file | {runs[2] == one} |")
if counted != n or any(r != one for r in runs):
    sys.exit("FAIL: a record was lost or counted twice, or the runs disagree")
PY
