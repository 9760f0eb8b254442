#!/usr/bin/env bash
# API conformance fuzzing with Schemathesis (PyPI) against our own /openapi.json on a running
# `madoguchi serve` (temporary SQLite database, the trained model of models/current, rate limits
# off): no 5xx, every status, content type, header and body as documented.
#
# Usage: scripts/schemathesis.sh [--bin target/debug/madoguchi] [--max-examples N] [--seed N]
#                                [--max-time SECONDS]
# The venv (.cache/schemathesis-venv, git-ignored) is made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VERSION=4.32.5
VENV=.cache/schemathesis-venv
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV"
	"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi
exec "$VENV/bin/python" scripts/schemathesis_run.py --schemathesis "$VENV/bin/schemathesis" "$@"
