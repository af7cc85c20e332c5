#!/usr/bin/env bash
# Installs elex 2.4.4 — the Associated Press Elections API client the NYT and NPR wrote, which
# newsroom graphics desks run — from PyPI into a virtualenv cached outside the repository, and
# prints the path of its `elex` command. The suite points it at tally's AP-compatible feed.
#
# elex pins pymongo 3.3 and ujson 1.35, which have no wheels for this Python (3.11); it gets
# pymongo 3.13 (the same API; elex uses it only to record responses, off by default) and a
# current ujson, with its other pins as its setup.py gives them, then elex itself without its
# pins. Env: TALLY_CACHE (~/.cache/tally).
set -euo pipefail

version=2.4.4
venv=${TALLY_CACHE:-$HOME/.cache/tally}/elex-$version
if [ ! -x "$venv/bin/elex" ]; then
    if ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
        { apt-get update -qq && apt-get install -y -qq python3-venv; } > /dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary pymongo,ujson,msgpack \
        pymongo==3.13.0 CacheControl==0.12.14 cement==2.10.2 lockfile==0.12.2 python-dateutil==2.7.5 \
        requests==2.19.1 ujson==5.10.0 >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "elex==$version" >&2
fi
echo "$venv/bin/elex"
