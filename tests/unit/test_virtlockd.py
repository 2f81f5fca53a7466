"""virtlockd's parts that need no daemon: lockspaces on real files, wire layout, disk naming."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import struct
from pathlib import Path
from uuid import UUID

import pytest

from common.errors import VirtError
from daemons.virtlockd import ofd
from daemons.virtlockd import protocol as p
from daemons.virtlockd.client import LeaseRequest, LockspaceDirs, disk_lease, indirect_name
from daemons.virtlockd.lockspace import Holding, Lockspace, Owner
from daemons.virtlockd.persistence import fdstore_name
from daemons.virtlockd.protocol import AcquireFlags

OWNER_A = Owner(101, 1, "vm-a", UUID(int=1))
OWNER_B = Owner(102, 2, "vm-b", UUID(int=2))


def hold(owner: Owner) -> Holding:
    return Holding(owner, 0.0)


def request(lockspace: str, name: str, flags: int) -> LeaseRequest:
    return LeaseRequest(lockspace, name, AcquireFlags(flags))


def error_of(call) -> tuple[int, int, str]:
    with pytest.raises(VirtError) as info:
        call()
    return info.value.code, info.value.domain, info.value.message


def other_process_could_lock(path: Path, shared: bool = False) -> bool:
    """What another open of the file (as another process or host would do) sees."""
    fd = os.open(path, os.O_RDWR)
    try:
        return ofd.try_lock(fd, shared)
    finally:
        os.close(fd)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(b"")
    return path


def test_an_exclusive_lease_locks_the_file_and_refuses_a_second_holder(image):
    space = Lockspace(None)
    space.acquire(str(image), hold(OWNER_A), shared=False, autocreate=False)
    assert not other_process_could_lock(image, shared=True)
    assert error_of(lambda: space.acquire(str(image), hold(OWNER_B), shared=False,
                                          autocreate=False)) == (
        87, 51, f"resource busy: Lockspace resource '{image}' is locked")
    space.release(str(image), OWNER_A.pid)
    assert other_process_could_lock(image)
    assert image.exists(), "a direct lease never removes the disk image"


def test_shared_holders_join_one_lock_until_the_last_leaves(image):
    space = Lockspace(None)
    first = space.acquire(str(image), hold(OWNER_A), shared=True, autocreate=False)
    second = space.acquire(str(image), hold(OWNER_B), shared=True, autocreate=False)
    assert first is second and first.pids() == [OWNER_A.pid, OWNER_B.pid]
    assert other_process_could_lock(image, shared=True)
    assert not other_process_could_lock(image)
    space.release(str(image), OWNER_A.pid)
    assert not other_process_could_lock(image)
    space.release(str(image), OWNER_B.pid)
    assert other_process_could_lock(image)


def test_release_errors_are_libvirts(image):
    space = Lockspace(None)
    assert error_of(lambda: space.release(str(image), 1)) == (
        87, 51, f"resource busy: Lockspace resource '{image}' is not locked")
    space.acquire(str(image), hold(OWNER_A), shared=False, autocreate=False)
    assert error_of(lambda: space.release(str(image), OWNER_B.pid)) == (
        1, 51, f"internal error: owner {OWNER_B.pid} does not hold the resource lock")


def test_an_autocreated_lease_file_is_made_0600_and_removed_on_release(tmp_path):
    space = Lockspace.create(str(tmp_path / "leases"))
    assert stat.S_IMODE((tmp_path / "leases").stat().st_mode) == 0o700
    res = space.acquire("abc", hold(OWNER_A), shared=False, autocreate=True)
    assert stat.S_IMODE(os.stat(res.path).st_mode) == 0o600
    space.release("abc", OWNER_A.pid)
    assert not os.path.exists(res.path)


def test_a_shared_lease_file_still_locked_elsewhere_is_kept(tmp_path):
    space = Lockspace.create(str(tmp_path))
    res = space.acquire("abc", hold(OWNER_A), shared=True, autocreate=True)
    elsewhere = os.open(res.path, os.O_RDWR)
    try:
        assert ofd.try_lock(elsewhere, shared=True)
        space.release("abc", OWNER_A.pid)
        assert os.path.exists(res.path)
    finally:
        os.close(elsewhere)


def test_a_missing_file_without_autocreate_is_a_system_error(tmp_path):
    missing = tmp_path / "missing.img"
    assert error_of(lambda: Lockspace(None).acquire(str(missing), hold(OWNER_A), shared=False,
                                                    autocreate=False)) == (
        38, 51, f"Unable to open resource {missing}: No such file or directory")


def test_resource_names_cannot_leave_their_lockspace(tmp_path):
    space = Lockspace.create(str(tmp_path / "leases"))
    for name in ("../escape", "a/b", "..", ""):
        assert error_of(lambda: space.acquire(name, hold(OWNER_A), shared=False,
                                              autocreate=True))[0] == 8
    assert error_of(lambda: Lockspace(None).resource_path("relative.img"))[0] == 8
    assert not (tmp_path / "escape").exists()


def test_create_and_delete_resource_refuse_a_held_one(tmp_path):
    space = Lockspace.create(str(tmp_path))
    space.create_resource("r")
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o600
    space.acquire("r", hold(OWNER_A), shared=False, autocreate=False)
    busy = (87, 51, "resource busy: Lockspace resource 'r' is locked")
    assert error_of(lambda: space.delete_resource("r")) == busy
    assert error_of(lambda: space.create_resource("r")) == busy
    space.release("r", OWNER_A.pid)
    space.delete_resource("r")
    space.delete_resource("r")
    assert not (tmp_path / "r").exists()


def test_releasing_an_owner_takes_all_its_holds_and_only_those(tmp_path):
    space = Lockspace.create(str(tmp_path))
    space.acquire("mine", hold(OWNER_A), shared=False, autocreate=True)
    space.acquire("ours", hold(OWNER_A), shared=True, autocreate=True)
    space.acquire("ours", hold(OWNER_B), shared=True, autocreate=True)
    released = space.release_owner(OWNER_A.pid)
    assert sorted(res.name for res, _ in released) == ["mine", "ours"]
    assert list(space.resources) == ["ours"]
    assert space.resources["ours"].pids() == [OWNER_B.pid]


def test_the_lease_byte_is_not_one_of_qemus(image):
    """QEMU's file-posix locks bytes 100+ and 200+; the lease is byte 0 only."""
    space = Lockspace(None)
    space.acquire(str(image), hold(OWNER_A), shared=False, autocreate=False)
    fd = os.open(image, os.O_RDWR)
    try:
        for qemu_byte in (100, 101, 104, 200, 201, 204):
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK,
                        struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, qemu_byte, 1, 0))
    finally:
        os.close(fd)


def test_register_args_are_laid_out_uuid_name_id_pid():
    owner = p.Owner(bytes(range(16)), "vm", 7, 4242)
    assert p.RegisterArgs.encode(p.RegisterArgs(owner, 0)) == (
        bytes(range(16)) + b"\0\0\0\2vm\0\0" + struct.pack(">III", 7, 4242, 0))


def test_file_names_that_are_not_utf8_reach_the_file_system_unchanged():
    raw = b"/images/disk-\xff.img"
    wire = p.ResourceArgs.encode(p.ResourceArgs("", os.fsdecode(raw), 0))
    decoded = p.ResourceArgs.decode(wire)
    assert os.fsencode(decoded.name) == raw


def test_disks_are_named_as_libvirts_lock_driver_names_them(tmp_path):
    disk = "/var/lib/images/vm.qcow2"
    assert indirect_name(disk) == hashlib.sha256(disk.encode()).hexdigest()
    assert disk_lease(disk, LockspaceDirs()) == request("", disk, 0)
    assert disk_lease(disk, LockspaceDirs(), shared=True) == request("", disk, 1)
    files = str(tmp_path)
    assert disk_lease(disk, LockspaceDirs(file=files)) == request(files, indirect_name(disk), 2)
    assert disk_lease(disk, LockspaceDirs(file=files), shared=True) == request(
        files, indirect_name(disk), 3)


def test_fdstore_names_are_usable_and_distinct():
    names = {fdstore_name("", "/a"), fdstore_name("/a", ""), fdstore_name("/x", "y")}
    assert len(names) == 3
    assert all(re.fullmatch(r"lease-[0-9a-f]{64}", n) for n in names)

