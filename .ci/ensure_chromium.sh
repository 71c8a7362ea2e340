#!/usr/bin/env bash
# Make Debian's Chromium available for the browser tests (never `playwright install`); their
# Python side, Playwright, is the [browser] extra of pyproject.toml, which `make test` installs.
# As root it installs the package when missing; otherwise it only reports, and the browser
# tests skip with a message saying what to install.
set -eu
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "note: chromium not found; browser tests will be skipped (install: apt-get install --no-install-recommends chromium)"
fi
