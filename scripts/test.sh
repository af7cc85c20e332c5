#!/usr/bin/env bash
# Every test tally has: formatting, lints, then all test suites.
# Services that tests need are started here and stopped on exit, whether the tests pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"

# One closing line over every suite (cargo's own last line is only the last suite's).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\ntally: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
