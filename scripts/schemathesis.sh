#!/usr/bin/env bash
# Installs the Python test tools from PyPI into a virtualenv cached outside the repository:
# Schemathesis (the OpenAPI property-based HTTP fuzzer) and websocket-client (for
# scripts/browser_check.py, which drives Chromium over the DevTools protocol). Prints the path of
# Schemathesis's `st` command; the venv's `python` is beside it.
# Env: TALLY_CACHE (~/.cache/tally).
set -euo pipefail

version=4.32.5
venv=${TALLY_CACHE:-$HOME/.cache/tally}/schemathesis-$version
if [ ! -x "$venv/bin/st" ]; then
    if ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
        { apt-get update -qq && apt-get install -y -qq python3-venv; } > /dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
fi
if ! "$venv/bin/python" -c 'import websocket' 2> /dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "websocket-client==1.9.0" >&2
fi
echo "$venv/bin/st"
