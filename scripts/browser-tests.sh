#!/usr/bin/env bash
# Browser tests: tests/browser/*.test.mjs (node's test runner, playwright-core) in headless
# Debian Chromium, each against a real `madoguchi serve` on a loopback port with the real encoder.
#
#   scripts/browser-tests.sh [TEST_FILE…]
#
# Installs what it needs: Debian's `chromium` and `fonts-ipafont-gothic` packages (root or
# passwordless sudo), the npm
# packages of tests/browser/package-lock.json. Trains the default catalog into
# target/browser-test-workspace (embedding cache shared with the cargo tests, so it is quick).
# Screenshots go to target/test-output/screenshots/.
#
# Environment: MADOGUCHI_BIN (default target/debug/madoguchi), CHROMIUM (default: found on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "browser-tests: $*" >&2; }

BIN=${MADOGUCHI_BIN:-target/debug/madoguchi}
[[ -x $BIN ]] || { say "no binary at $BIN (cargo build first)"; exit 1; }

# Chromium, and a Japanese font so that screenshots show Japanese text rather than boxes.
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-ipafont-gothic >/dev/null 2>&1; then
    scripts/debian-install.sh --with-recommends chromium fonts-ipafont-gothic
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium)}

if [[ ! -d tests/browser/node_modules/playwright-core || tests/browser/package-lock.json -nt tests/browser/node_modules ]]; then
    say "installing the test's npm packages…"
    (cd tests/browser && npm ci --no-audit --no-fund --silent)
    touch tests/browser/node_modules
fi

WORKSPACE=target/browser-test-workspace
ENCODER=${MADOGUCHI_ENCODER:-models/encoder/multilingual-e5-small}
if [[ ! -e $WORKSPACE/models/current ]] || [[ -n $(find intents training-data -newer "$WORKSPACE/models/current" -print -quit) ]]; then
    say "training the default catalog into $WORKSPACE…"
    mkdir -p "$WORKSPACE"
    "$BIN" train --quiet --models "$WORKSPACE/models" --encoder "$ENCODER" \
        --cache target/test-embedding-cache
fi

export MADOGUCHI_BIN=$BIN CHROMIUM MADOGUCHI_TEST_WORKSPACE=$WORKSPACE MADOGUCHI_ENCODER=$ENCODER
if [[ $# -gt 0 ]]; then
    exec node --test --test-concurrency=1 "$@"
fi
exec node --test --test-concurrency=1 tests/browser/
