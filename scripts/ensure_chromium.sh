#!/usr/bin/env bash
# Headless Chromium for the report's browser test (Debian package `chromium`).
# Idempotent: does nothing when /usr/bin/chromium is there. Needs root and apt-get;
# without them it exits 3 and says what is missing, and the test skips.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is not installed and apt-get is not available: install the Debian/Ubuntu package 'chromium'" >&2
  exit 3
fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium is not installed and installing it needs root: run 'apt-get install chromium' as root" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
