#!/usr/bin/env bash
# What a client downloads on the 2024 night (a benchmark, not a test): the default night (2024
# at 1% against 2020, NIGHT long) plays while four clients follow it to the end:
#   - polling the whole document (/api/results, gzip) every second;
#   - polling with a cursor (/api/results?since=EPOCH, gzip) every second: the changes, or a 304;
#   - the event stream, whole documents (/api/events);
#   - the event stream, changes (/api/events?changes=true).
# Prints bytes each downloaded (bodies; a 304 has none), per hour at the same pace, and the
# ratios. A played night moves faster than a real one (more states change each second), so the
# savings measured here are a floor.
#   scripts/bench-feed.sh [NIGHT (180s)]
# TALLY_BIN: a tally binary to measure instead of building this checkout's.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_args "$@"
night=${1:-180s}
tally=$(tally_binary)
port=18195
job=""
cleanup() { [ -n "$job" ] && kill "$job" 2>/dev/null && wait "$job" 2>/dev/null || true; }
trap cleanup EXIT

TALLY_LOG=warn $tally run --scenario 2024 --scale 0.01 --night --night-length "$night" --baseline 2020 \
    --listen "127.0.0.1:$port" --workers 2 > /dev/null &
job=$!
python3 - "$port" <<'PY'
import gzip, http.client, json, sys, threading, time

port = int(sys.argv[1])
totals = {}

def get(path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Accept-Encoding": "gzip", **(headers or {})})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body

def document(body):
    return json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)

def wait_for_server():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return get("/api/results")
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the job did not serve results within 60 s")

def poll(name, cursor):
    downloaded, polls, epoch, started = 0, 0, None, time.monotonic()
    while True:
        path = "/api/results" if not cursor or epoch is None else f"/api/results?since={epoch}"
        status, body = get(path)
        if status == 410:  # the cursor fell out of the kept publications: start over
            epoch = None
            continue
        polls += 1
        downloaded += len(body)
        if status == 200:
            results = document(body)
            epoch = results["epoch"]
            if results.get("complete"):
                break
        time.sleep(1)
    totals[name] = (downloaded, polls, time.monotonic() - started)

def stream(name, path):
    downloaded, events, started = 0, 0, time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path)
    response = connection.getresponse()
    data = b""
    while True:
        line = response.readline()
        if not line:
            break
        downloaded += len(line)
        if line.startswith(b"data:"):
            data = line[5:]
        elif line == b"\n" and data:
            events += 1
            if b'"complete":true' in data:
                break
            data = b""
    connection.close()
    totals[name] = (downloaded, events, time.monotonic() - started)

wait_for_server()
clients = [
    threading.Thread(target=poll, args=("poll the whole document", False)),
    threading.Thread(target=poll, args=("poll with a cursor (?since=)", True)),
    threading.Thread(target=stream, args=("events, whole documents", "/api/events")),
    threading.Thread(target=stream, args=("events, changes", "/api/events?changes=true")),
]
for client in clients:
    client.start()
for client in clients:
    client.join()
print("| client | requests or events | downloaded | per hour at this pace |")
print("|---|---|---|---|")
for name, (downloaded, count, seconds) in totals.items():
    print(f"| {name} | {count} | {downloaded / 1e6:.2f} MB | {downloaded / seconds * 3600 / 1e6:.1f} MB |")
whole, cursor = totals["poll the whole document"][0], totals["poll with a cursor (?since=)"][0]
events_whole, events_changes = totals["events, whole documents"][0], totals["events, changes"][0]
print(f"\npolling with a cursor downloads {cursor / whole:.3f}x of polling the whole document; "
      f"the changes stream {events_changes / events_whole:.3f}x of the whole-document stream")
PY
