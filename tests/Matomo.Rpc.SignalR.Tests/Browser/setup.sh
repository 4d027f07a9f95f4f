#!/bin/sh
# Installs what BrowserOptOutTests needs on a fresh Debian machine: Chromium (apt) and the npm packages (npm ci).
set -eu
cd "$(dirname "$0")"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi

# npm ls fails when a package is missing or not the version package.json asks for.
if ! npm ls --depth=0 >/dev/null 2>&1; then
  npm ci --no-audit --no-fund
fi
