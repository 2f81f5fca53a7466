"""The scenario from the 2016 libvirt admin talk, for real.

A `virsh define` blocks in a worker because the state directory's filesystem is
frozen (fsfreeze: a real stall of the disk, not a simulated one). With one
worker allowed, the next blocking call waits in the job queue, which
`server-threadpool-info` shows; an administrator can still disconnect clients;
raising the worker limit lets the queued call complete.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from common import xdr
from common.errors import VirtError
from common.rpc.client import RpcClient
from daemons.virtd.remote.protocol import REMOTE_PROGRAM, RemoteProc
from tests.integration.conftest import virt_admin
from tests.integration.daemons import RunningDaemon, start_daemon

DEMO = "<domain type='test'><name>{name}</name><memory>1024</memory><os><type>hvm</type></os></domain>"


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture
def frozen_state_fs(tmp_path: Path) -> Iterator[tuple[Path, Callable[[bool], None]]]:
    """An ext4 filesystem on a loop device holding the daemon's state dir, and freeze(on)."""
    image, mountpoint = tmp_path / "state.img", tmp_path / "virtd" / "state"
    mountpoint.mkdir(parents=True)
    run("truncate", "-s", "64M", str(image))
    run("mkfs.ext4", "-q", "-F", str(image))
    run("mount", "-o", "loop", str(image), str(mountpoint))
    frozen = False

    def freeze(on: bool) -> None:
        nonlocal frozen
        run("fsfreeze", "-f" if on else "-u", str(mountpoint))
        frozen = on

    try:
        yield mountpoint, freeze
    finally:
        if frozen:
            freeze(False)
        run("umount", "-l", str(mountpoint))


def threadpool(daemon: RunningDaemon) -> dict[str, int]:
    out = virt_admin(daemon.admin_uri, "server-threadpool-info", "virtd")
    assert out.returncode == 0, out.stderr
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s*: (\d+)$", out.stdout, re.M)}


def wait_for(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def virsh(daemon: RunningDaemon, *args: str) -> subprocess.Popen[str]:
    uri = f"test+unix:///default?socket={daemon.socket('sock')}"
    return subprocess.Popen(["virsh", "-c", uri, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_queued_call_completes_once_workers_are_raised(
        tmp_path: Path, frozen_state_fs: tuple[Path, Callable[[bool], None]]) -> None:
    _state, freeze = frozen_state_fs
    daemon = start_daemon("virtd", tmp_path / "virtd")
    blocked: subprocess.Popen[str] | None = None
    try:
        (tmp_path / "demo.xml").write_text(DEMO.format(name="demo"))
        (tmp_path / "other.xml").write_text(DEMO.format(name="other"))
        done = virsh(daemon, "define", str(tmp_path / "demo.xml"))
        assert done.wait(20) == 0, done.stderr.read() if done.stderr else ""

        out = virt_admin(daemon.admin_uri, "server-threadpool-set", "virtd", "--min-workers",
                         "1", "--max-workers", "1", "--priority-workers", "0")
        assert out.returncode == 0, out.stderr
        wait_for("the pool to shrink to one worker", lambda: threadpool(daemon)["nWorkers"] == 1)

        freeze(True)
        blocked = virsh(daemon, "define", str(tmp_path / "other.xml"))
        wait_for("the define to occupy the only worker",
                 lambda: threadpool(daemon)["freeWorkers"] == 0)

        queued = virsh(daemon, "start", "demo")
        wait_for("the start to wait in the job queue",
                 lambda: threadpool(daemon)["jobQueueDepth"] == 1)
        stats = threadpool(daemon)
        assert (stats["nWorkers"], stats["freeWorkers"]) == (1, 0)
        assert queued.poll() is None, "the queued call must not have been answered yet"

        # Administration still works while every worker is busy: disconnect a client.
        idle = RpcClient(str(daemon.socket("sock")), timeout=10)
        listing = virt_admin(daemon.admin_uri, "client-list", "virtd").stdout
        idle_id = max(int(line.split()[0]) for line in listing.splitlines()[2:] if line.strip())
        out = virt_admin(daemon.admin_uri, "client-disconnect", "virtd", str(idle_id))
        assert out.returncode == 0 and f"Client '{idle_id}' disconnected" in out.stdout
        with pytest.raises(VirtError):
            idle.call(REMOTE_PROGRAM, 1, RemoteProc.AUTH_LIST, xdr.Void, None, xdr.Void)
        idle.close()

        out = virt_admin(daemon.admin_uri, "server-threadpool-set", "virtd", "--max-workers", "2")
        assert out.returncode == 0, out.stderr
        assert queued.wait(15) == 0, queued.stderr.read() if queued.stderr else ""
        assert "Domain 'demo' started" in (queued.stdout.read() if queued.stdout else "")
        assert threadpool(daemon)["jobQueueDepth"] == 0
        assert blocked.poll() is None, "the define on the frozen filesystem is still blocked"

        freeze(False)
        assert blocked.wait(15) == 0
        assert "Domain 'other' defined" in (blocked.stdout.read() if blocked.stdout else "")
    finally:
        if blocked is not None and blocked.poll() is None:
            freeze(False)
            blocked.wait(15)
        daemon.stop()

