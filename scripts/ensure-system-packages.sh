#!/usr/bin/env bash
# Installs the Debian packages the test suite needs beyond Python: poppler-utils (pdftoppm renders the
# report PDFs to PNG), redis-server (the Celery broker of the worker-restart test), and chromium with a
# font (the browser tests in tests/e2e/ drive /usr/bin/chromium headless through Playwright; never
# `playwright install`). Does nothing when they are present; installs only as root with apt-get (as
# scripts/with-postgres.sh does for PostgreSQL), otherwise says what to install and carries on.
set -euo pipefail

missing=()
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "ensure-system-packages: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "ensure-system-packages: ${missing[*]} not installed (not root or no apt-get); tests that need it are skipped" >&2
fi
