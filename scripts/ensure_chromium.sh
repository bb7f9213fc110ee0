#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the browser tests (Debian packages `chromium` and
# `chromium-driver`; tests/browser.py drives them with Selenium).
# Idempotent: does nothing when both are there. Needs root and apt-get; without them it exits 3
# and says what is missing, and the browser tests skip.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium or chromedriver is not installed and apt-get is not available: install the Debian/Ubuntu packages 'chromium' and 'chromium-driver'" >&2
  exit 3
fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium or chromedriver is not installed and installing them needs root: run 'apt-get install chromium chromium-driver' as root" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
# Two test processes may ask at once: one installs, the other waits for it.
exec 9>/tmp/tierflow-ensure-chromium.lock
flock 9
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
