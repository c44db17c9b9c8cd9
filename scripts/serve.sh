#!/usr/bin/env bash
# Install callout into ./.venv (first run only) and serve the API on 127.0.0.1:8080 with SQLite in
# ./callout-data. Extra arguments go to `callout serve` (try --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh" requirements.lock
exec "$root/.venv/bin/callout" serve "$@"
