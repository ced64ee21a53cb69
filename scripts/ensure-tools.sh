#!/usr/bin/env bash
# System tools the test suite drives (from Debian, never downloaded by a test tool):
#   chromium            — the console's browser tests (headless)
#   fonts-wqy-microhei  — Chinese glyphs in the console screenshots
#   systemd             — `systemd-analyze verify` of config/zhifa-sync.service
# Installs what is missing when we may (root with apt-get); otherwise the tests that need a tool
# skip with a visible reason.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "microhei\|wqy\|noto sans cjk" || missing+=(fonts-wqy-microhei)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing from Debian for the tests: ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
    || echo "could not install ${missing[*]}: the tests that need them will skip and say why"
else
  echo "not installed: ${missing[*]} (apt-get install them): the tests that need them will skip and say why"
fi
