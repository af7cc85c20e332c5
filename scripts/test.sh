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
cargo test --workspace
