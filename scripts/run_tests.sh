#!/usr/bin/env bash
# Install everything the test suite needs, then run it. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  # Debian's Chromium for the end-to-end browser tests (Playwright's own download is not used).
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q -r requirements-dev.txt
python3 -m pytest -q "$@"
