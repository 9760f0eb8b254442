#!/usr/bin/env bash
# Installs Debian packages for the project's test scripts: as root, or through passwordless sudo.
#
#   scripts/debian-install.sh [--with-recommends] PACKAGE...
#
# Recommended packages are left out unless asked for (Chromium wants its fonts and sandbox helper).
# Progress goes to stderr; fails with a message saying what to install when neither is possible.
set -euo pipefail

recommends=(--no-install-recommends)
if [[ ${1:-} == --with-recommends ]]; then
    recommends=()
    shift
fi
(( $# > 0 )) || { echo "usage: scripts/debian-install.sh [--with-recommends] PACKAGE..." >&2; exit 2; }
sudo=()
if [[ $EUID -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
        echo "debian-install: installing $* needs root (apt-get install $*)" >&2
        exit 1
    fi
    sudo=(sudo -n)
fi
echo "debian-install: installing $* (Debian packages, once)…" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq "${recommends[@]}" "$@" >&2
