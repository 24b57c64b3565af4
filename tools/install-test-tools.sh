#!/usr/bin/env bash
# Install the Node-based test tools (Stoplight Prism, used as a Twilio API
# double built from Twilio's OpenAPI spec) into tools/node_modules.
#
# Idempotent: does nothing when tools/node_modules/.bin/prism already exists
# and matches the version pinned in tools/package.json. Otherwise runs
# `npm ci` against tools/package-lock.json (exact, reproducible install).
#
# Usage: tools/install-test-tools.sh        (from any directory)
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PRISM_BIN="$TOOLS_DIR/node_modules/.bin/prism"
PRISM_PKG="$TOOLS_DIR/node_modules/@stoplight/prism-cli/package.json"

die() {
    echo "install-test-tools: ERROR: $*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || die "'node' not found on PATH. Install Node.js >= 18.20.1 (e.g. 'apt-get install nodejs npm') and re-run."
command -v npm >/dev/null 2>&1 || die "'npm' not found on PATH. Install npm (e.g. 'apt-get install npm') and re-run."

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
    die "Node.js $(node --version) is too old; @stoplight/prism-cli needs >= 18.20.1."
fi

# Version pinned in package.json (exact pin, e.g. "5.14.2").
wanted="$(node -p "require('$TOOLS_DIR/package.json').dependencies['@stoplight/prism-cli']")"

if [ -x "$PRISM_BIN" ] && [ -f "$PRISM_PKG" ]; then
    have="$(node -p "require('$PRISM_PKG').version")"
    if [ "$have" = "$wanted" ]; then
        echo "install-test-tools: prism $have already installed at $PRISM_BIN"
        exit 0
    fi
    echo "install-test-tools: prism $have installed but $wanted is pinned; reinstalling"
fi

echo "install-test-tools: installing @stoplight/prism-cli@$wanted into $TOOLS_DIR/node_modules"
# --ignore-scripts: nothing in this tree needs an install script (the only one
# is an analytics ping from @scarf/scarf).
SCARF_ANALYTICS=false npm ci --prefix "$TOOLS_DIR" --ignore-scripts --no-audit --no-fund

[ -x "$PRISM_BIN" ] || die "npm ci finished but $PRISM_BIN is missing"
echo "install-test-tools: installed prism $("$PRISM_BIN" --version)"
