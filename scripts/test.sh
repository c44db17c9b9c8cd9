#!/usr/bin/env bash
# Install callout with its development tools into ./.venv (first run only), then run every check:
# ruff (lint and format), mypy --strict, and the whole pytest suite on SQLite and PostgreSQL.
# Extra arguments go to pytest. PostgreSQL tests use CALLOUT_TEST_POSTGRES_URL (default: the local
# server at 127.0.0.1:5432, database test); with CI=true they must run and never skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh requirements-dev.lock
bin="$root/.venv/bin"
echo "== ruff" >&2
lint_paths=(src tests)
for extra in bench examples; do [ -d "$extra" ] && lint_paths+=("$extra"); done
"$bin/ruff" check "${lint_paths[@]}"
"$bin/ruff" format --check "${lint_paths[@]}"
echo "== mypy --strict" >&2
"$bin/mypy" src
# The console's browser tests (tests/browser) drive the system's Chromium; Playwright never downloads one.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing chromium for the browser tests" >&2
    apt-get install -y chromium >&2 || { apt-get update >&2 && apt-get install -y chromium >&2; } ||
      echo "could not install chromium: the browser tests skip (fail under CI=true)" >&2
  else
    echo "chromium is missing: the browser tests skip (fail under CI=true); install it: sudo apt-get install -y chromium" >&2
  fi
fi
echo "== pytest" >&2
# Test files run in parallel processes (CALLOUT_TEST_PROCESSES, default 4: most tests wait on
# sockets and subprocesses, not the CPU); each file stays in one process so that its module-scoped
# servers are shared. `-n 0` in the arguments runs everything in this process.
exec "$bin/pytest" -n "${CALLOUT_TEST_PROCESSES:-4}" --dist loadfile "$@"
