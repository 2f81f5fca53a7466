"""virtlogd under a real systemd (booted in a systemd-nspawn container), with the shipped units.

* kill -9 of virtlogd mid-stream: the pipe's read end waits in systemd's fd
  store, so the writer neither blocks nor dies; systemd restarts the daemon,
  which adopts the pipe and writes what was sent meanwhile: no byte is lost.
* mirror_to_journal = 1: `journalctl VIRTD_DOMAIN_NAME=<name>` shows the guest's lines.
* each rotation is a journal record with MESSAGE_ID LOG_ROTATED.

It lives with the integration tests of virtlogd but boots its own container
(marked `system`, like tests/system).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.log.message_ids import MessageId
from tests.integration.test_virtlogd import DEMO_UUID, WRITER, counter_lines, wait_until
from tests.system.harness import BootedSystem

pytestmark = pytest.mark.system

SOCKET = "/run/virtd/virtlogd-sock"
CONFIG = "/etc/virtd/virtlogd.conf"

# In the guest: open a log, hand the pipe to a detached writer (WRITER's "lines" mode) whose
# final report goes to a file, and return at once, as virtd does after starting QEMU.
OPEN_AND_WRITE = """
import subprocess, sys, uuid
from daemons.virtlogd.client import LogClient
sock, path, name, report, *writer_args = sys.argv[1:]
with LogClient(sock) as client:
    fd, _ = client.open_log_file("qemu", uuid.UUID(%r), name, path, truncate=True)
with open(report, "wb") as out:
    subprocess.Popen([sys.executable, "-c", %r, str(fd), *writer_args], pass_fds=(fd,),
                     stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
""" % (str(DEMO_UUID), WRITER)

IS_OPEN = """
import sys
from common.errors import VirtError
from daemons.virtlogd.client import LogClient
with LogClient(sys.argv[1]) as client:
    try:
        client.get_log_file_position(sys.argv[2])
    except VirtError:
        print("closed")
    else:
        print("open")
"""




def start_virtlogd(guest: BootedSystem, config: str) -> None:
    guest.run(["systemctl", "stop", "virtlogd.service", "virtlogd.socket",
               "virtlogd-admin.socket"])
    guest.write_file(CONFIG, config)
    guest.run(["systemctl", "start", "virtlogd.socket", "virtlogd-admin.socket"])


def python(guest: BootedSystem, script: str, *args: str) -> str:
    return guest.run([str(guest.venv / "bin" / "python"), "-c", script, *args]).stdout


def show(guest: BootedSystem, prop: str) -> str:
    return guest.run(["systemctl", "show", "--value", "-p", prop, "virtlogd.service"]
                     ).stdout.strip()


def host_path(guest: BootedSystem, path: str) -> Path:
    """A guest file as the host sees it."""
    return Path(f"/proc/{guest.leader_pid}/root{path}")


def test_kill_9_neither_blocks_nor_kills_the_writer_and_loses_no_byte(guest: BootedSystem) -> None:
    start_virtlogd(guest, "max_size = 0\n")
    name = guest.unique_name("crash")
    path = f"/var/log/virtd/qemu/{name}.log"
    report = f"/tmp/{name}.json"
    lines = 40_000  # 640 kB in 1 kB writes every 5 ms: well within the pipe during a restart
    python(guest, OPEN_AND_WRITE, SOCKET, path, name, report, "lines", str(lines), "64", "0.005")
    assert "pipes: 1" in show(guest, "StatusText")
    wait_until(lambda: host_path(guest, path).stat().st_size > 16 * 1000, "the first lines")

    first_pid = show(guest, "MainPID")
    guest.run(["systemctl", "kill", "--signal=KILL", "virtlogd.service"])
    wait_until(lambda: show(guest, "MainPID") not in ("0", first_pid)
             and show(guest, "ActiveState") == "active", "systemd to restart virtlogd")
    assert int(show(guest, "NRestarts")) >= 1

    wait_until(lambda: host_path(guest, report).read_text().endswith("}\n"), "the writer to finish")
    outcome = json.loads(host_path(guest, report).read_text())
    wait_until(lambda: python(guest, IS_OPEN, SOCKET, path) == "closed\n", "the log to close")
    print(f"\nlongest write() while virtlogd was killed and restarted: "
          f"{outcome['max_write_latency'] * 1000:.1f} ms")
    assert outcome["max_write_latency"] < 0.5  # the restart itself takes longer than this
    assert host_path(guest, path).read_bytes() == counter_lines(0, lines)


def test_mirror_to_journal_shows_a_guests_lines_under_its_name(guest: BootedSystem) -> None:
    start_virtlogd(guest, "mirror_to_journal = 1\njournal_rate_limit = 5\n")
    name = guest.unique_name("console")
    path = f"/var/log/virtd/qemu/{name}.log"
    report = f"/tmp/{name}.json"
    python(guest, OPEN_AND_WRITE, SOCKET, path, name, report, "lines", "3", "1", "0")
    wait_until(lambda: python(guest, IS_OPEN, SOCKET, path) == "closed\n", "the log to close")
    records = guest.journal(VIRTD_DOMAIN_NAME=name, SYSLOG_IDENTIFIER=f"qemu-{name}")
    assert [r["MESSAGE"] for r in records] == ["%015d" % i for i in range(3)]
    assert {r["VIRTD_DOMAIN_UUID"] for r in records} == {str(DEMO_UUID)}

    flood = guest.unique_name("flood")
    path = f"/var/log/virtd/qemu/{flood}.log"
    python(guest, OPEN_AND_WRITE, SOCKET, path, flood, f"/tmp/{flood}.json", "lines", "1000",
           "1000", "0")
    wait_until(lambda: python(guest, IS_OPEN, SOCKET, path) == "closed\n", "the log to close")
    assert len(guest.journal(VIRTD_DOMAIN_NAME=flood, SYSLOG_IDENTIFIER=f"qemu-{flood}")) == 5
    assert host_path(guest, path).read_bytes() == counter_lines(0, 1000)


def test_each_rotation_is_a_journal_record_with_its_message_id(guest: BootedSystem) -> None:
    start_virtlogd(guest, "max_size = 4096\nmax_backups = 2\n")
    name = guest.unique_name("rotating")
    path = f"/var/log/virtd/qemu/{name}.log"
    python(guest, OPEN_AND_WRITE, SOCKET, path, name, f"/tmp/{name}.json", "lines", "1000",
           "64", "0")
    wait_until(lambda: python(guest, IS_OPEN, SOCKET, path) == "closed\n", "the log to close")
    records = guest.journal(MESSAGE_ID=MessageId.LOG_ROTATED, VIRTD_DOMAIN_NAME=name)
    assert len(records) == 16_000 // 4096
    assert {r["VIRTD_LOG_PATH"] for r in records} == {path}
    assert sorted(p.name for p in host_path(guest, path).parent.glob(f"{name}.log*")) == \
        [f"{name}.log", f"{name}.log.0", f"{name}.log.1"]
