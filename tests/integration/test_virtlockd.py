"""virtlockd's lock program with real owner processes, real files and real OFD locks."""

from __future__ import annotations

import signal
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from common.errors import VirtError
from daemons.virtlockd.client import LockClient, indirect_name
from daemons.virtlockd.protocol import AcquireFlags
from tests.integration.daemons import RunningDaemon
from tests.integration.lock_client import OwnerProcess

SHARED = int(AcquireFlags.SHARED)
AUTOCREATE = int(AcquireFlags.AUTOCREATE)


def error_of(call: Callable[[], object]) -> tuple[int, int, str]:
    with pytest.raises(VirtError) as info:
        call()
    return info.value.code, info.value.domain, info.value.message


def busy(resource: str | Path) -> tuple[int, int, str]:
    return 87, 51, f"resource busy: Lockspace resource '{resource}' is locked"


def wait_until(condition: Callable[[], bool], deadline: float = 5.0) -> float:
    """Poll `condition` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"condition not met within {deadline}s")
        time.sleep(0.01)
    return time.monotonic() - start


def can_acquire(owner: OwnerProcess, lockspace: str, resource: str, flags: int = 0) -> bool:
    try:
        owner.acquire(lockspace, resource, flags)
    except VirtError:
        return False
    return True


@pytest.fixture
def lockd(run_daemon: Callable[..., RunningDaemon]) -> RunningDaemon:
    return run_daemon("virtlockd", "", ("--verbose",))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process that connections made by the test itself register as their owner, so
    the daemon never signals the test runner."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    return image


def test_a_second_owner_of_a_disk_is_told_it_is_busy(owner, disk):
    vm_a, vm_b = owner("vm-a"), owner("vm-b")
    vm_a.acquire("", str(disk))
    assert error_of(lambda: vm_b.acquire("", str(disk))) == busy(disk)
    vm_a.release("", str(disk))
    vm_b.acquire("", str(disk))


def test_the_lease_and_qemus_own_image_locks_coexist(owner, disk):
    """A direct lease locks byte 0 of the image; QEMU locks its bytes 100+ and 200+."""
    vm, rival = owner("vm"), owner("rival")
    vm.acquire("", str(disk))
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-S", "-machine", "pc,accel=tcg",
         "-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0",
         "-qmp", "stdio", "-serial", "none"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert qemu.stdin is not None and qemu.stdout is not None
        assert '"QMP"' in qemu.stdout.readline()
        # QMP commands are served once start-up (devices, image locks) is complete.
        qemu.stdin.write('{"execute": "qmp_capabilities"}\n')
        qemu.stdin.flush()
        assert qemu.stdout.readline().strip() == '{"return": {}}'
        second_writer = subprocess.run(["qemu-io", "-f", "raw", "-c", "write 0 512", str(disk)],
                                       capture_output=True, text=True, timeout=30)
        assert second_writer.returncode == 1
        assert 'Failed to get "write" lock' in second_writer.stderr
        assert error_of(lambda: rival.acquire("", str(disk))) == busy(disk)
    finally:
        qemu.kill()
        qemu.communicate()


def test_indirect_leases_are_sha256_files_in_the_file_lockspace(run_daemon, tmp_path, disk):
    leases = tmp_path / "leases"
    lockd = run_daemon("virtlockd", f'file_lockspace_dir = "{leases}"\n')
    assert stat.S_IMODE(leases.stat().st_mode) == 0o700
    vm_a, vm_b = OwnerProcess(lockd.socket(), "vm-a"), OwnerProcess(lockd.socket(), "vm-b", 2)
    try:
        name = indirect_name(str(disk))
        assert len(name) == 64
        vm_a.acquire(str(leases), name, AUTOCREATE)
        lease_file = leases / name
        assert stat.S_IMODE(lease_file.stat().st_mode) == 0o600
        assert error_of(lambda: vm_b.acquire(str(leases), name, AUTOCREATE)) == busy(name)
        vm_a.release(str(leases), name)
        assert not lease_file.exists()
        vm_b.acquire(str(leases), name, AUTOCREATE)
    finally:
        vm_a.close()
        vm_b.close()


def test_shared_leases_coexist_and_exclude_an_exclusive_one(owner, disk):
    reader_a, reader_b, writer = owner("reader-a"), owner("reader-b"), owner("writer")
    reader_a.acquire("", str(disk), SHARED)
    reader_b.acquire("", str(disk), SHARED)
    assert error_of(lambda: writer.acquire("", str(disk))) == busy(disk)
    reader_a.release("", str(disk))
    assert error_of(lambda: writer.acquire("", str(disk))) == busy(disk)
    reader_b.release("", str(disk))
    writer.acquire("", str(disk))
    assert error_of(lambda: reader_a.acquire("", str(disk), SHARED)) == busy(disk)


def test_an_owner_killed_with_sigkill_loses_its_leases_within_a_second(owner, tmp_path):
    disks = [tmp_path / f"disk{i}.img" for i in range(3)]
    for path in disks:
        path.write_bytes(b"")
    victim, successor = owner("victim"), owner("successor")
    for path in disks:
        victim.acquire("", str(path))
    victim.kill(signal.SIGKILL)
    took = wait_until(lambda: can_acquire(successor, "", str(disks[0])), deadline=1.0)
    assert took < 1.0
    for path in disks[1:]:
        successor.acquire("", str(path))


def test_an_owner_exiting_frees_its_leases_while_the_connection_stays_open(lockd, owner, sleeper,
                                                                            disk):
    """The owner is watched by pid, not only through its connection."""
    with LockClient(str(lockd.socket())) as conn:
        conn.register(uuid.uuid4(), "vm", 7, sleeper.pid)
        conn.acquire("", str(disk))
        other = owner("other")
        assert error_of(lambda: other.acquire("", str(disk))) == busy(disk)
        sleeper.kill()
        sleeper.wait()
        wait_until(lambda: can_acquire(other, "", str(disk)), deadline=1.0)
        assert error_of(lambda: conn.release("", str(disk))) == (
            1, 51, f"internal error: owner {sleeper.pid} does not hold the resource lock")


def test_a_live_owner_dropping_its_connection_while_holding_leases_is_terminated(lockd, owner,
                                                                                   disk):
    vm, other = owner("vm"), owner("other")
    vm.acquire("", str(disk))
    vm.disconnect()
    assert vm.proc.wait(5) == -signal.SIGTERM
    other.acquire("", str(disk))
    log = lockd.log_file.read_text()
    assert f"vm (pid {vm.pid}) closed its lock connection while holding leases" in log


def test_an_owner_dropping_its_connection_without_leases_is_left_alone(lockd, owner, disk):
    vm, other = owner("vm"), owner("other")
    vm.acquire("", str(disk))
    vm.release("", str(disk))
    vm.disconnect()
    # The disconnect is logged after the close is handled, and a kill is announced before.
    wait_until(lambda: "client 1 disconnected from server virtlockd" in lockd.log_file.read_text())
    assert "closed its lock connection" not in lockd.log_file.read_text()
    other.acquire("", str(disk))
    assert vm.proc.poll() is None


def test_lockspace_and_resource_procedures(lockd, sleeper, tmp_path):
    space = tmp_path / "space" / "nested"
    with LockClient(str(lockd.socket())) as conn:
        conn.register(uuid.uuid4(), "vm", 1, sleeper.pid)
        conn.new_lockspace(str(space))
        assert stat.S_IMODE(space.stat().st_mode) == 0o700
        conn.create_lockspace(str(space))
        conn.create_resource(str(space), "res")
        assert stat.S_IMODE((space / "res").stat().st_mode) == 0o600
        conn.acquire(str(space), "res")
        assert error_of(lambda: conn.delete_resource(str(space), "res")) == busy("res")
        assert error_of(lambda: conn.create_resource(str(space), "res")) == busy("res")
        conn.release(str(space), "res")
        assert (space / "res").exists(), "a resource created by CREATE_RESOURCE stays"
        conn.delete_resource(str(space), "res")
        assert not (space / "res").exists()
        conn.delete_resource(str(space), "res")


def test_bad_input_gets_libvirts_errors(lockd, sleeper, tmp_path, disk):
    not_registered = (55, 7, "Requested operation is not valid: lock owner details have not "
                             "been registered")
    restricted = (29, 7, "operation forbidden: lock manager connection has been restricted")
    owner_uuid = uuid.uuid4()
    with LockClient(str(lockd.socket())) as conn:
        for call in (lambda: conn.acquire("", str(disk)), lambda: conn.release("", str(disk)),
                     lambda: conn.new_lockspace(str(tmp_path / "x")), conn.restrict,
                     lambda: conn.create_resource("", str(disk)),
                     lambda: conn.delete_resource("", str(disk)),
                     lambda: conn.register(owner_uuid, "vm", 0, sleeper.pid)):
            assert error_of(call) == not_registered
        conn.create_lockspace(str(tmp_path / "made-unregistered"))
        assert error_of(lambda: conn.register(owner_uuid, "vm", 1, sleeper.pid, 1)) == (
            8, 7, "unsupported flags (0x1) in function virLockSpaceProtocolDispatchRegister")
        conn.register(owner_uuid, "vm", 1, sleeper.pid)
        assert error_of(lambda: conn.acquire("/no/such/lockspace", "r")) == (
            1, 7, "internal error: Lockspace for path /no/such/lockspace does not exist")
        assert error_of(lambda: conn.acquire("", str(disk), 4)) == (
            8, 7, "unsupported flags (0x4) in function "
                  "virLockSpaceProtocolDispatchAcquireResource")
        assert error_of(lambda: conn.release("", str(disk), SHARED)) == (
            8, 7, "unsupported flags (0x1) in function "
                  "virLockSpaceProtocolDispatchReleaseResource")
        assert error_of(lambda: conn.new_lockspace("")) == (
            55, 7, "Requested operation is not valid: the default lockspace already exists")
        assert error_of(lambda: conn.new_lockspace(str(tmp_path / "made-unregistered"))) == (
            1, 7, f"internal error: Lockspace for path {tmp_path / 'made-unregistered'} "
                  "already exists")
        assert error_of(lambda: conn.acquire("", str(tmp_path / "missing"))) == (
            38, 51, f"Unable to open resource {tmp_path / 'missing'}: No such file or directory")
        assert error_of(lambda: conn.release("", str(disk))) == (
            87, 51, f"resource busy: Lockspace resource '{disk}' is not locked")
        conn.restrict()
        for call in (lambda: conn.acquire("", str(disk)), conn.restrict,
                     lambda: conn.register(owner_uuid, "vm", 1, sleeper.pid),
                     lambda: conn.create_lockspace(str(tmp_path))):
            assert error_of(call) == restricted


def test_releasing_a_lease_held_by_another_owner_is_refused(owner, disk):
    vm_a, vm_b = owner("vm-a"), owner("vm-b")
    vm_a.acquire("", str(disk), SHARED)
    assert error_of(lambda: vm_b.release("", str(disk))) == (
        1, 51, f"internal error: owner {vm_b.pid} does not hold the resource lock")
