"""virtlockd under a real systemd (booted in a systemd-nspawn container), with the shipped units.

* kill -9 of virtlockd: every lease fd waits in systemd's fd store, so a rival
  trying to lock the disks all through the crash and restart never gets one;
  the restarted daemon adopts every lease and watches the owners again.
* an owner that dies while virtlockd is down loses its leases at adoption.
* lease events are journal records with their MESSAGE_IDs and fields.

It lives with virtlockd's integration tests but boots its own container
(marked `system`, like tests/system).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from common.log.message_ids import MessageId
from daemons.virtlockd.client import indirect_name
from tests.system.harness import BootedSystem

pytestmark = pytest.mark.system

SOCKET = "/run/virtd/virtlockd-sock"
ADMIN_SOCKET = "/run/virtd/virtlockd-admin-sock"
CONFIG = "/etc/virtd/virtlockd.conf"
LEASES = "/var/lib/virtd/lockd/files"
DROP_IN = "/etc/systemd/system/virtlockd.service.d/slow-restart.conf"

# Start a script detached from the guest command that launched it; its first output line
# says it is ready. Prints the script's pid.
DETACH = """
import os, subprocess, sys, time
out = sys.argv[1]
with open(out, "w") as sink:
    proc = subprocess.Popen([sys.executable, "-c", *sys.argv[2:]], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
while "\\n" not in open(out).read():
    if proc.poll() is not None:
        sys.exit(open(out).read())
    time.sleep(0.01)
print(proc.pid)
"""

# A lease owner, as QEMU is one: its own connection, registered with its own pid.
# Arguments: socket, name, keep|drop (the connection, once the leases are taken), then
# lockspace|resource|flags per lease.
HOLDER = """
import os, signal, sys, uuid
from daemons.virtlockd.client import LockClient
client = LockClient(sys.argv[1])
client.register(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[2]), sys.argv[2], 1, os.getpid())
for lease in sys.argv[4:]:
    lockspace, resource, flags = lease.split("|")
    client.acquire(lockspace, resource, int(flags))
print("ready", flush=True)
if sys.argv[3] == "drop":
    client.close()
signal.pause()
"""

# Tries to lock byte 0 of every file in a tight loop until the stop file appears.
RIVAL = """
import fcntl, json, os, struct, sys
stop, *paths = sys.argv[1:]
fds = [os.open(path, os.O_RDWR) for path in paths]
lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0)
attempts, won = 0, []
print("ready", flush=True)
while not os.path.exists(stop):
    for path, fd in zip(paths, fds):
        attempts += 1
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
        except BlockingIOError:
            continue
        won.append(path)
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_UNLCK, 0, 0, 1, 0))
print(json.dumps({"attempts": attempts, "won": won}), flush=True)
"""

LIST = """
import json, sys
from common.admin.client import AdminClient
from daemons.virtlockd.admin_cli import list_leases
with AdminClient(sys.argv[1]) as conn:
    print(json.dumps([r.to_json() for r in list_leases(conn)]))
"""




def wait_until(condition: Callable[[], Any], what: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_virtlockd(guest: BootedSystem) -> None:
    guest.run(["systemctl", "stop", "virtlockd.service", "virtlockd.socket",
               "virtlockd-admin.socket"])
    guest.write_file(CONFIG, f'log_level = 2\nfile_lockspace_dir = "{LEASES}"\n')
    guest.run(["systemctl", "start", "virtlockd.socket", "virtlockd-admin.socket"])


def python(guest: BootedSystem, script: str, *args: str) -> str:
    return guest.run([str(guest.venv / "bin" / "python"), "-c", script, *args]).stdout


def detach(guest: BootedSystem, output: str, script: str, *args: str) -> int:
    return int(python(guest, DETACH, output, script, *args))


def hold(guest: BootedSystem, name: str, *leases: tuple[str, str, int],
         connection: str = "keep") -> int:
    """A detached owner process holding `leases`; returns its pid."""
    return detach(guest, f"/tmp/{name}.out", HOLDER, SOCKET, name, connection,
                  *(f"{ls}|{res}|{flags}" for ls, res, flags in leases))


def leases(guest: BootedSystem) -> list[dict[str, Any]]:
    return sorted(json.loads(python(guest, LIST, ADMIN_SOCKET)),
                  key=lambda r: (r["resource"], r["owner_pid"]))


def show(guest: BootedSystem, prop: str) -> str:
    return guest.run(["systemctl", "show", "--value", "-p", prop, "virtlockd.service"]
                     ).stdout.strip()


def host_path(guest: BootedSystem, path: str) -> Path:
    return Path(f"/proc/{guest.leader_pid}/root{path}")


def images(guest: BootedSystem, *names: str) -> list[str]:
    paths = [f"/var/lib/images/{name}.img" for name in names]
    guest.run(["mkdir", "-p", "/var/lib/images"])
    guest.run(["truncate", "-s", "1M", *paths])
    return paths


def kill_and_wait_for_restart(guest: BootedSystem) -> None:
    first_pid = show(guest, "MainPID")
    guest.run(["systemctl", "kill", "--kill-whom=main", "--signal=KILL", "virtlockd.service"])
    wait_until(lambda: show(guest, "MainPID") not in ("0", first_pid)
               and show(guest, "ActiveState") == "active", "systemd to restart virtlockd")


def test_kill_9_keeps_every_lease_in_the_fd_store_and_the_new_daemon_adopts_them(guest):
    start_virtlockd(guest)
    name = guest.unique_name("crash")
    system, shared, data = images(guest, f"{name}-system", f"{name}-shared", f"{name}-data")
    vm_a = hold(guest, f"{name}-a", ("", system, 0), (LEASES, indirect_name(data), 2),
                ("", shared, 1))
    vm_b = hold(guest, f"{name}-b", ("", shared, 1))
    before = leases(guest)
    assert len(before) == 4
    assert "leases: 3" in show(guest, "StatusText")

    stop = f"/tmp/{name}.stop"
    detach(guest, f"/tmp/{name}-rival.out", RIVAL, stop, system, shared,
           f"{LEASES}/{indirect_name(data)}")
    kill_and_wait_for_restart(guest)
    after = leases(guest)
    guest.run(["touch", stop])
    rival_out = host_path(guest, f"/tmp/{name}-rival.out")
    wait_until(lambda: rival_out.read_text().count("\n") == 2, "the rival's result")
    result = json.loads(rival_out.read_text().splitlines()[1])
    assert result["won"] == []
    assert result["attempts"] > 100
    assert after == before
    assert "leases: 3" in show(guest, "StatusText")
    new_pid = show(guest, "MainPID")
    assert "adopted 3 leases kept by systemd" in [
        r["MESSAGE"] for r in guest.journal(SYSLOG_IDENTIFIER="virtlockd", _PID=new_pid)]

    # The owners are watched again: when one dies its leases go at once.
    guest.run(["kill", "-9", str(vm_a)])
    wait_until(lambda: [r["owner_pid"] for r in leases(guest)] == [vm_b], "vm-a's leases to go",
               deadline=2.0)
    guest.run(["kill", "-9", str(vm_b)])
    wait_until(lambda: leases(guest) == [], "vm-b's lease to go", deadline=2.0)


def test_an_owner_that_dies_while_virtlockd_is_down_loses_its_leases(guest):
    start_virtlockd(guest)
    guest.write_file(DROP_IN, "[Service]\nRestartSec=2s\n")
    guest.run(["systemctl", "daemon-reload"])
    try:
        name = guest.unique_name("orphan")
        mine, theirs = images(guest, f"{name}-mine", f"{name}-theirs")
        doomed = hold(guest, f"{name}-doomed", ("", mine, 0))
        survivor = hold(guest, f"{name}-survivor", ("", theirs, 0))
        first_pid = show(guest, "MainPID")
        guest.run("systemctl kill --kill-whom=main --signal=KILL virtlockd.service && "
                  f"kill -9 {doomed}")
        wait_until(lambda: show(guest, "MainPID") not in ("0", first_pid)
                   and show(guest, "ActiveState") == "active", "systemd to restart virtlockd")
        assert [(r["resource"], r["owner_pid"]) for r in leases(guest)] == [(theirs, survivor)]
        released = guest.journal(MESSAGE_ID=MessageId.LEASE_RELEASED, VIRTD_RESOURCE=mine)
        assert [r["MESSAGE"] for r in released][-1].endswith(
            "released: its owner exited while the daemon was restarting")
        guest.run(["kill", "-9", str(survivor)])
    finally:
        guest.run(["rm", "-f", DROP_IN])
        guest.run(["systemctl", "daemon-reload"])


def test_lease_events_are_journal_records_with_their_ids_and_fields(guest):
    start_virtlockd(guest)
    name = guest.unique_name("journal")
    (disk,) = images(guest, name)
    owner = hold(guest, name, ("", disk, 0))
    python(guest, "import sys\n"
                  "from common.admin.client import AdminClient\n"
                  "from daemons.virtlockd.admin_cli import release_lease\n"
                  "with AdminClient(sys.argv[1]) as conn:\n"
                  "    release_lease(conn, '', sys.argv[2])\n", ADMIN_SOCKET, disk)
    acquired = guest.journal(MESSAGE_ID=MessageId.LEASE_ACQUIRED, VIRTD_RESOURCE=disk)
    forced = guest.journal(MESSAGE_ID=MessageId.LEASE_FORCED_RELEASE, VIRTD_RESOURCE=disk)
    assert len(acquired) == len(forced) == 1
    for record in acquired + forced:
        assert record["VIRTD_DOMAIN_NAME"] == name
        assert record["VIRTD_DOMAIN_UUID"] == str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        assert record["VIRTD_LOCKSPACE"] == ""
        assert record["VIRTD_PATH"] == disk
        assert record["VIRTD_OWNER_PID"] == str(owner)
        assert record["SYSLOG_IDENTIFIER"] == "virtlockd"
    assert int(forced[0]["VIRTD_ADMIN_PID"]) > 0
    assert forced[0]["VIRTD_ADMIN_UID"] == "0"
    guest.run(["kill", "-9", str(owner)])

    dropper = hold(guest, f"{name}-dropper", ("", disk, 0), connection="drop")
    wait_until(lambda: guest.run(["kill", "-0", str(dropper)], check=False).returncode != 0,
               "the owner that dropped its connection to be terminated", deadline=5.0)
    killed = guest.journal(MESSAGE_ID=MessageId.OWNER_KILLED, VIRTD_DOMAIN_NAME=f"{name}-dropper")
    assert [r["VIRTD_OWNER_PID"] for r in killed] == [str(dropper)]
