#!/usr/bin/env bash
# Tools the test suite drives besides Python: systemd-analyze (verifies config/zhifa-sync.service).
# Installs Debian's systemd package when missing and we may (root with apt); otherwise the unit-file
# test skips and says why. Nothing is downloaded from anywhere but the distribution's archive.
set -u
if command -v systemd-analyze >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian systemd (for systemd-analyze verify of the unit file)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null) \
    || echo "could not install systemd: the unit-file test will be skipped with that reason"
else
  echo "systemd-analyze is not installed (apt-get install systemd): the unit-file test will be skipped"
fi
