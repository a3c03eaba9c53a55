#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver for the web widget's browser tests
# (tests/test_web_widget.py). Selenium is told to use exactly these two binaries,
# so that it never downloads a browser of its own. Does nothing when both are there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: /usr/bin/chromium or /usr/bin/chromedriver is missing and installing them needs root:" >&2
  echo "       run 'sudo apt-get install -y chromium chromium-driver' (or this script as root)." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: /usr/bin/chromium or /usr/bin/chromedriver is missing and there is no apt-get here:" >&2
  echo "       install Chromium and its chromedriver so that they are at those two paths." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
for binary in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$binary" ]; then
    echo "error: apt-get installed chromium but $binary is still missing" >&2
    exit 1
  fi
done
echo "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
