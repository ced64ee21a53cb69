#!/usr/bin/env bash
# Tools the test suite drives besides Python, all from Debian's archive (nothing is downloaded from
# anywhere else):
#   chromium        headless browser for the console tests (/usr/bin/chromium)
#   fonts-noto-cjk  Chinese glyphs, so the console screenshots are readable
#   systemd         systemd-analyze, to verify config/zhifa-sync.service
# Installs what is missing when we may (root with apt-get); otherwise says which tests will skip and why.
set -u
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "noto.*cjk" || missing+=(fonts-noto-cjk)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages the tests drive: ${missing[*]}…"
  for attempt in 1 2 3; do
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; then
      exit 0
    fi
    echo "apt-get failed (attempt $attempt of 3)"
    sleep $((attempt * 5))
  done
  echo "could not install ${missing[*]}: the browser / unit-file tests will be skipped with that reason"
else
  echo "not root or no apt-get: apt-get install ${missing[*]} — until then the tests that need them skip"
fi
