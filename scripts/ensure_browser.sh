#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (no browser download from Playwright).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests..."
  (apt-get update -qq || true) >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "No /usr/bin/chromium: install Debian's 'chromium' package (sudo apt-get install chromium) for the browser tests." >&2
  exit 1
fi
