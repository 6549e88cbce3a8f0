#!/usr/bin/env bash
# Python peers the integration tests start (official SDKs used as protocol peers).
# Idempotent; called by scripts/install-deps.sh --test.
set -euo pipefail
py_need=()
python3 -c 'import sys' >/dev/null
# (each line: module name, PyPI package) - others append here.
check() { python3 -c "import $1" >/dev/null 2>&1 || py_need+=("$2"); }
if ((${#py_need[@]})); then
    python3 -m pip install --quiet --disable-pip-version-check "${py_need[@]}"
fi
