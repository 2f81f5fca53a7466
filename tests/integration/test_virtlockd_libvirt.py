"""Our virtlockd beside libvirt's own (Debian's /usr/sbin/virtlockd, libvirt 9.0).

The same calls get the same answers from both, byte for byte, and a lease
taken in one daemon keeps the other from taking the same disk: both lock
byte 0 of the file.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from common.errors import VirtError
from daemons.virtlockd.client import LockClient
from daemons.virtlockd.protocol import AcquireFlags
from tests.integration.libvirt_daemons import LibvirtDaemon, libvirt_daemon, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("virtlockd") is not None,
                                reason=str(unavailable_reason("virtlockd")))

AUTOCREATE = int(AcquireFlags.AUTOCREATE)
SHARED = int(AcquireFlags.SHARED)

Step = Callable[[LockClient, Path, int], object]

# Every call libvirt's lock driver makes, and the ways to get them wrong. (Two deliberate
# differences are left out: we refuse relative paths in the default lockspace and resource
# names that leave their lockspace's directory; libvirt follows them.)
SCENARIO: list[Step] = [
    lambda c, root, pid: c.acquire("", str(root / "disk.img")),
    lambda c, root, pid: c.create_lockspace(str(root / "space")),
    lambda c, root, pid: c.register(uuid.UUID(int=1), "vm", 0, pid),
    lambda c, root, pid: c.register(uuid.UUID(int=1), "vm", 1, pid, 1),
    lambda c, root, pid: c.register(uuid.UUID(int=1), "vm", 1, pid),
    lambda c, root, pid: c.acquire("", str(root / "missing.img")),
    lambda c, root, pid: c.acquire(str(root / "nowhere"), "x"),
    lambda c, root, pid: c.acquire("", str(root / "disk.img"), 4),
    lambda c, root, pid: c.acquire("", str(root / "disk.img")),
    lambda c, root, pid: c.acquire("", str(root / "disk.img"), SHARED),
    lambda c, root, pid: c.release("", str(root / "disk.img"), SHARED),
    lambda c, root, pid: c.release("", str(root / "disk.img")),
    lambda c, root, pid: c.release("", str(root / "disk.img")),
    lambda c, root, pid: c.new_lockspace(""),
    lambda c, root, pid: c.new_lockspace(str(root / "space")),
    lambda c, root, pid: c.new_lockspace(str(root / "other")),
    lambda c, root, pid: c.acquire(str(root / "other"), "lease", AUTOCREATE | SHARED),
    lambda c, root, pid: c.acquire(str(root / "other"), "lease", AUTOCREATE | SHARED),
    lambda c, root, pid: c.acquire(str(root / "other"), "lease", AUTOCREATE),
    lambda c, root, pid: c.delete_resource(str(root / "other"), "lease"),
    lambda c, root, pid: c.create_resource(str(root / "other"), "lease"),
    lambda c, root, pid: c.release(str(root / "other"), "lease"),
    lambda c, root, pid: c.release(str(root / "other"), "lease"),
    lambda c, root, pid: c.release(str(root / "other"), "lease"),
    lambda c, root, pid: c.create_resource(str(root / "other"), "made"),
    lambda c, root, pid: c.create_resource("", str(root / "no" / "dir")),
    lambda c, root, pid: c.delete_resource(str(root / "other"), "made"),
    lambda c, root, pid: c.delete_resource(str(root / "other"), "made"),
    lambda c, root, pid: c.create_resource(str(root / "other"), "made", 1),
    lambda c, root, pid: c.restrict(1),
    lambda c, root, pid: c.restrict(),
    lambda c, root, pid: c.register(uuid.UUID(int=1), "vm", 1, pid),
    lambda c, root, pid: c.create_lockspace(""),
    lambda c, root, pid: c.acquire("", str(root / "disk.img")),
]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """The owner the scenario registers: a process the daemons may watch or signal."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def libvirt_lockd(tmp_path: Path) -> Iterator[LibvirtDaemon]:
    with libvirt_daemon("virtlockd", tmp_path / "libvirt") as daemon:
        yield daemon


def run_scenario(socket: Path, root: Path, pid: int) -> list[object]:
    root.mkdir()
    (root / "disk.img").write_bytes(b"")
    outcomes: list[object] = []
    with LockClient(str(socket)) as conn:
        for step in SCENARIO:
            try:
                step(conn, root, pid)
            except VirtError as err:
                outcomes.append((err.code, err.domain, err.message.replace(str(root), "<root>")))
            else:
                outcomes.append("ok")
    return outcomes


def test_the_same_calls_get_the_same_answers_as_from_libvirts_virtlockd(
        run_daemon, libvirt_lockd, sleeper, tmp_path):
    ours = run_daemon("virtlockd")
    theirs = run_scenario(libvirt_lockd.socket(), tmp_path / "theirs", sleeper.pid)
    assert run_scenario(ours.socket(), tmp_path / "ours", sleeper.pid) == theirs
    assert theirs.count("ok") > 10


def test_a_lease_in_either_daemon_keeps_the_other_off_the_disk(run_daemon, libvirt_lockd,
                                                                sleeper, tmp_path):
    ours = run_daemon("virtlockd")
    disks = [tmp_path / "ours-first.img", tmp_path / "theirs-first.img"]
    for disk in disks:
        disk.write_bytes(b"")
    with LockClient(str(ours.socket())) as mine, LockClient(str(libvirt_lockd.socket())) as lv:
        for conn in (mine, lv):
            conn.register(uuid.uuid4(), "vm", 1, sleeper.pid)
        mine.acquire("", str(disks[0]))
        lv.acquire("", str(disks[1]))
        for conn, disk in ((lv, disks[0]), (mine, disks[1])):
            with pytest.raises(VirtError) as info:
                conn.acquire("", str(disk), SHARED)
            assert info.value.message == f"resource busy: Lockspace resource '{disk}' is locked"
        mine.release("", str(disks[0]))
        lv.acquire("", str(disks[0]))
