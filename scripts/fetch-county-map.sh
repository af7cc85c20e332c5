#!/usr/bin/env bash
# Fetches the county shapes the dashboard draws (web/data/counties-albers-10m.json) from npm's
# us-atlas package again, and checks they are the ones shipped: the Census Bureau's 2017 county
# outlines, projected to Albers USA (975 x 610). Needs npm.
#   scripts/fetch-county-map.sh [VERSION]   (default 3.0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.0.1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "us-atlas@$version" > /dev/null && tar xzf us-atlas-*.tgz)
if cmp -s "$work/package/counties-albers-10m.json" web/data/counties-albers-10m.json; then
    echo "web/data/counties-albers-10m.json is us-atlas $version's, unchanged"
else
    cp "$work/package/counties-albers-10m.json" web/data/
    cp "$work/package/LICENSE" web/data/LICENSE-us-atlas
    echo "web/data/counties-albers-10m.json replaced by us-atlas $version's"
fi
