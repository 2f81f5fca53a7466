#!/usr/bin/env bash
# Sets up (apt packages, .venv) and runs the whole test suite: unit, integration, system.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
status=$?
# pytest's 5 means "no tests collected": that is a failure of the suite, never a pass.
exit $status
