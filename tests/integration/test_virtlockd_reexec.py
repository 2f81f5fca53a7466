"""virtlockd re-executing itself (SIGUSR1) without letting go of a single lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.admin.client import AdminClient
from daemons.virtlockd.admin_cli import list_leases
from daemons.virtlockd.client import indirect_name
from daemons.virtlockd.protocol import AcquireFlags
from tests.integration.lock_client import OwnerProcess

RIVAL = """
import fcntl, json, os, select, struct, sys
fds = {path: os.open(path, os.O_RDWR) for path in sys.argv[1:]}
lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0)
unlock = struct.pack("hhqqi4x", fcntl.F_UNLCK, os.SEEK_SET, 0, 1, 0)
attempts, won = 0, []
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    for path, fd in fds.items():
        attempts += 1
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
        except BlockingIOError:
            continue
        won.append(path)
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, unlock)
print(json.dumps({"attempts": attempts, "won": won}), flush=True)
"""


def wait_for_log(log: Path, text: str, count: int = 1, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while log.read_text().count(text) < count:
        if time.monotonic() > end:
            raise AssertionError(f"{text!r} not logged {count} time(s) within {deadline}s")
        time.sleep(0.02)


def test_reexec_keeps_every_lease_while_a_rival_tries_to_take_them(run_daemon, tmp_path):
    leases = tmp_path / "leases"
    lockd = run_daemon("virtlockd", f'file_lockspace_dir = "{leases}"\n', ("--verbose",))
    images = []
    for name in ("system.img", "shared.img", "data.img"):
        images.append(tmp_path / name)
        images[-1].write_bytes(b"")
    system, shared, data = (str(p) for p in images)
    owners = [OwnerProcess(lockd.socket(), f"vm-{n}", n + 1) for n in range(3)]
    vm_a, vm_b, vm_c = owners
    rival = None
    try:
        vm_a.acquire("", system)
        vm_a.acquire(str(leases), indirect_name(data), int(AcquireFlags.AUTOCREATE))
        vm_b.acquire("", shared, int(AcquireFlags.SHARED))
        vm_c.acquire("", shared, int(AcquireFlags.SHARED))
        with AdminClient(str(lockd.admin_socket)) as conn:
            before = sorted(tuple(sorted(r.to_json().items())) for r in list_leases(conn))

        locked_files = [system, shared, str(leases / indirect_name(data))]
        rival = subprocess.Popen([sys.executable, "-c", RIVAL, *locked_files],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert rival.stdout is not None and rival.stdin is not None
        assert rival.stdout.readline().strip() == "ready"
        os.kill(lockd.proc.pid, signal.SIGUSR1)
        wait_for_log(lockd.log_file, "virtlockd re-executed")
        wait_for_log(lockd.log_file, "virtlockd started", count=2)
        with AdminClient(str(lockd.admin_socket)) as conn:
            after = sorted(tuple(sorted(r.to_json().items())) for r in list_leases(conn))
        rival.stdin.close()
        result = json.loads(rival.stdout.readline())
        assert result["won"] == []
        assert result["attempts"] > 100
        assert after == before
        assert lockd.proc.poll() is None

        # The owners' connections and registrations came along: they release as before,
        # the shared holders are still watched, and a dropped connection still counts.
        vm_a.release("", system)
        vm_b.kill(signal.SIGKILL)
        with AdminClient(str(lockd.admin_socket)) as conn:
            wait_until_leases(conn,
                              lambda rows: {r.owner_pid for r in rows} == {vm_a.pid, vm_c.pid})
        vm_c.disconnect()
        assert vm_c.proc.wait(5) == -signal.SIGTERM
    finally:
        if rival is not None and rival.poll() is None:
            rival.kill()
            rival.wait()
        for owner in owners:
            owner.close()


def wait_until_leases(conn: AdminClient, ok, deadline: float = 2.0) -> None:
    end = time.monotonic() + deadline
    while not ok(list_leases(conn)):
        if time.monotonic() > end:
            raise AssertionError(f"leases now: {list_leases(conn)}")
        time.sleep(0.01)
