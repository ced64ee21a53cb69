#!/usr/bin/env bash
# The console's browser tests drive Debian's chromium (never a browser downloaded by a test tool).
# Installs it when missing and we may (root with apt); otherwise the browser tests say why they skip.
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian chromium for the console's browser tests…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: browser tests will be skipped with that reason"
else
  echo "chromium is not installed (apt-get install chromium): browser tests will be skipped"
fi
