#!/usr/bin/env bash
# Shared by scripts/serve.sh and scripts/test.sh: make ./.venv hold exactly the given lock file.
# Re-installs only when the lock file or pyproject.toml changed since the last install.
set -euo pipefail

lock_file="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "callout needs Python 3.11 or newer; set PYTHON=/path/to/python3.11+" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtual environment in .venv" >&2
  "$python" -m venv "$venv"
fi

stamp="$venv/.installed-$(basename "$lock_file")"
wanted="$(cat "$root/$lock_file" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing dependencies from $lock_file" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/$lock_file"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$root"
  echo "$wanted" > "$stamp"
fi
