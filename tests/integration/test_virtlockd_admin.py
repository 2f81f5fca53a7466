"""Lease administration through virtlockd's admin socket: listing and forced release."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pytest

from common.admin import cli
from common.admin.client import AdminClient
from common.errors import VirtError
from daemons.virtlockd.admin_cli import lease_commands, list_leases, release_lease
from daemons.virtlockd.client import indirect_name
from daemons.virtlockd.protocol import AcquireFlags
from tests.integration.daemons import RunningDaemon

SHARED = int(AcquireFlags.SHARED)
AUTOCREATE = int(AcquireFlags.AUTOCREATE)


@pytest.fixture
def lockd(run_daemon: Callable[..., RunningDaemon], tmp_path: Path) -> RunningDaemon:
    return run_daemon("virtlockd", f'file_lockspace_dir = "{tmp_path / "leases"}"\n',
                      ("--verbose",))


def disk(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(b"")
    return str(path)


def test_lease_list_shows_every_hold_with_its_owner(lockd, owner, tmp_path):
    leases = str(tmp_path / "leases")
    system, data, shared = (disk(tmp_path, n) for n in ("system.img", "data.img", "shared.img"))
    vm_a, vm_b = owner("vm-a"), owner("vm-b")
    before = time.time()
    vm_a.acquire("", system)
    vm_a.acquire(leases, indirect_name(data), AUTOCREATE)
    vm_a.acquire("", shared, SHARED)
    vm_b.acquire("", shared, SHARED)
    with AdminClient(str(lockd.admin_socket)) as conn:
        rows = list_leases(conn)
    seen = {(r.lockspace, r.resource, r.path, r.mode, r.owner_name, r.owner_pid, r.owner_uuid)
            for r in rows}
    assert seen == {
        ("", system, system, "exclusive", "vm-a", vm_a.pid, vm_a.uuid),
        (leases, indirect_name(data), os.path.join(leases, indirect_name(data)), "exclusive",
         "vm-a", vm_a.pid, vm_a.uuid),
        ("", shared, shared, "shared", "vm-a", vm_a.pid, vm_a.uuid),
        ("", shared, shared, "shared", "vm-b", vm_b.pid, vm_b.uuid),
    }
    assert len(rows) == 4
    assert all(before <= r.since <= time.time() for r in rows)


def test_forced_release_frees_the_lease_leaves_the_owner_running_and_is_audited(lockd, owner,
                                                                               tmp_path):
    image = disk(tmp_path, "disk.img")
    stuck, successor = owner("stuck"), owner("successor")
    stuck.acquire("", image)
    with AdminClient(str(lockd.admin_socket)) as conn:
        assert release_lease(conn, "", image) == 1
        assert list_leases(conn) == []
    successor.acquire("", image)
    assert stuck.proc.poll() is None
    log = lockd.log_file.read_text()
    assert (f"lease on {image} of stuck (pid {stuck.pid}) released by force by pid "
            f"{os.getpid()} (uid {os.getuid()}) through admin client") in log


def test_forced_release_from_one_of_the_shared_holders(lockd, owner, tmp_path):
    image = disk(tmp_path, "shared.img")
    vm_a, vm_b = owner("vm-a"), owner("vm-b")
    vm_a.acquire("", image, SHARED)
    vm_b.acquire("", image, SHARED)
    with AdminClient(str(lockd.admin_socket)) as conn:
        assert release_lease(conn, "", image, vm_a.pid) == 1
        assert [r.owner_name for r in list_leases(conn)] == ["vm-b"]


def test_forced_release_of_what_is_not_held_says_so(lockd, owner, tmp_path):
    image = disk(tmp_path, "disk.img")
    owner("vm").acquire("", image)
    with AdminClient(str(lockd.admin_socket)) as conn:
        with pytest.raises(VirtError) as info:
            release_lease(conn, "", disk(tmp_path, "other.img"))
        assert info.value.message == (
            f"resource busy: Lockspace resource '{tmp_path / 'other.img'}' is not locked")
        with pytest.raises(VirtError) as info:
            release_lease(conn, "", image, 1)
        assert info.value.message == "internal error: owner 1 does not hold the resource lock"
        with pytest.raises(VirtError) as info:
            release_lease(conn, "/no/lockspace", "x")
        assert info.value.message == ("internal error: Lockspace for path /no/lockspace does "
                                      "not exist")
        assert len(list_leases(conn)) == 1


def virtd_admin(lockd: RunningDaemon, *words: str) -> cli.Output:
    """Run one lease command as virtd-admin parses and runs it."""
    command = {c.name: c for c in lease_commands()}[words[0]]
    args, _ = cli.parse_command_args(command, words[1:])
    with AdminClient(str(lockd.admin_socket)) as conn:
        return command.run(cli.Session(lockd.admin_uri, conn, quiet=False), args)


def test_virtd_admin_lease_commands(lockd, owner, tmp_path):
    image = disk(tmp_path, "disk.img")
    vm = owner("vm")
    vm.acquire("", image)
    listed = virtd_admin(lockd, "lease-list")
    header, dashes, row = listed.text.splitlines()
    assert header.split() == ["Owner", "Pid", "Mode", "Since", "Lockspace", "Resource", "Path"]
    assert set(dashes.strip()) == {"-"}
    assert row.split()[:3] == ["vm", str(vm.pid), "exclusive"]
    assert row.split()[-3:] == ["-", image, image]
    assert [(r["owner_name"], r["resource"]) for r in listed.data] == [("vm", image)]

    with pytest.raises(cli.CommandError) as info:
        virtd_admin(lockd, "lease-release", "-", image, "--pid", "1")
    assert info.value.lines == [f"Failed to release the lease on '{image}'",
                                "internal error: owner 1 does not hold the resource lock"]
    released = virtd_admin(lockd, "lease-release", "-", image)
    assert released.text == f"Lease on '{image}' released by force from 1 holder\n"
    assert released.data == {"released": 1}
    assert virtd_admin(lockd, "lease-list").data == []
