#!/usr/bin/env bash
# Every test tally has: formatting, lints, then all test suites against real services.
# It installs what the tests need (kcat, Chromium, Schemathesis, elex), starts a real Kafka broker (scripts/kafka.sh) and a
# real HDFS (scripts/hdfs.sh), and stops both on exit, whether the tests pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

log=$(mktemp)
# Where tests that cannot run list themselves (tests/common/mod.rs, SKIPPED_LOG).
skipped_log=target/tmp/skipped-tests.log
rm -f "$skipped_log"
cleanup() {
    local status=$?
    step "stopping services"
    scripts/kafka.sh stop || true
    scripts/hdfs.sh stop || true
    # One closing line over every suite (cargo's own last line is only the last suite's). A
    # test that could not run (a service or tool missing) returns early, which cargo counts as
    # passed; it lists itself in the skipped log, and is counted here as skipped instead.
    if grep -q '^test result:' "$log"; then
        local skipped=0
        if [ -f "$skipped_log" ]; then
            skipped=$(wc -l < "$skipped_log")
            printf '\nskipped (cannot run here):\n'
            sed 's/^/  /' "$skipped_log"
        fi
        awk -v s="$skipped" '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\ntally: %d passed, %d failed, %d skipped\n", p - s, f, i + s }' "$log"
    fi
    rm -f "$log"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "installing test tools"
if ! command -v kcat > /dev/null; then
    # A third-party Kafka client, to show records from any producer count.
    { apt-get update -qq && apt-get install -y -qq kcat; } > /dev/null
fi
if ! command -v promtool > /dev/null; then
    # Prometheus's own linter, which /metrics must pass (the package's server is not started).
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } > /dev/null
    # Only promtool is wanted: a server the package may have started is not left running.
    pkill -x prometheus || true
fi
# The OpenAPI fuzzer the HTTP tests run against a live job, and the browser the dashboard test
# drives.
TALLY_SCHEMATHESIS=$(scripts/schemathesis.sh)
export TALLY_SCHEMATHESIS
# The AP Elections API client newsrooms run, read against tally's AP-compatible feed.
TALLY_ELEX=$(scripts/elex.sh)
export TALLY_ELEX
if [ ! -x /usr/bin/chromium ]; then
    { apt-get update -qq && apt-get install -y -qq chromium; } > /dev/null
fi

step "building"
cargo test --workspace --no-run

step "starting Kafka and HDFS"
scripts/kafka.sh start
scripts/hdfs.sh start

step "cargo test"
# Tests that need a service fail (rather than skip) when it is missing.
export TALLY_REQUIRE_SERVICES=1
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
