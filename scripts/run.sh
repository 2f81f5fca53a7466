#!/usr/bin/env bash
# Sets up (apt packages, .venv) and runs virtd, virtlockd and virtlogd in the foreground
# with session paths ($XDG_RUNTIME_DIR/virtd/...). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}"
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for daemon in virtlogd virtlockd virtd; do
  .venv/bin/$daemon --session --verbose "$@" &
  pids+=($!)
done
echo "sockets in $XDG_RUNTIME_DIR/virtd; try:" >&2
echo "  virt-admin -c 'virtd:///session?socket=$XDG_RUNTIME_DIR/virtd/virtd-admin-sock' server-list" >&2
wait -n "${pids[@]}"
