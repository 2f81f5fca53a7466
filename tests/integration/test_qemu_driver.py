"""The QEMU driver with real QEMU (TCG here unless /dev/kvm is usable), through virsh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.integration.daemons import RunningDaemon, start_daemon

GUEST = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><serial type='file'><source path='{serial}'/></serial></devices>
</domain>
"""


def virsh(daemon: RunningDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    uri = f"qemu+unix:///session?socket={daemon.socket('sock')}"
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def qemu_pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"guest={name},"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def guest(tmp_path: Path) -> tuple[str, Path]:
    name = f"q{os.getpid()}"
    xml = tmp_path / "guest.xml"
    xml.write_text(GUEST.format(name=name, serial=tmp_path / "serial.log"))
    return name, xml


def test_lifecycle_runs_a_real_qemu(tmp_path: Path, guest: tuple[str, Path]) -> None:
    name, xml = guest
    daemon = start_daemon("virtd", tmp_path / "virtd")
    try:
        assert virsh(daemon, "define", str(xml)).returncode == 0
        started = virsh(daemon, "start", name)
        assert started.returncode == 0, started.stderr
        assert len(qemu_pids(name)) == 1
        assert "running" in virsh(daemon, "domstate", name).stdout
        assert virsh(daemon, "suspend", name).returncode == 0
        assert virsh(daemon, "domstate", "--reason", name).stdout.strip() == "paused (user)"
        assert virsh(daemon, "resume", name).returncode == 0
        assert virsh(daemon, "destroy", name).returncode == 0
        assert qemu_pids(name) == []
        assert virsh(daemon, "domstate", "--reason", name).stdout.strip() == "shut off (destroyed)"
    finally:
        for pid in qemu_pids(name):
            os.kill(pid, signal.SIGKILL)
        daemon.stop()


def test_vm_outlives_a_killed_daemon_and_is_taken_back(tmp_path: Path,
                                                       guest: tuple[str, Path]) -> None:
    name, xml = guest
    daemon = start_daemon("virtd", tmp_path / "virtd")
    try:
        assert virsh(daemon, "define", str(xml)).returncode == 0
        assert virsh(daemon, "start", name).returncode == 0
        [pid] = qemu_pids(name)
        daemon.stop(signal.SIGKILL)
        assert qemu_pids(name) == [pid], "QEMU must survive a crash of virtd"

        daemon = start_daemon("virtd", tmp_path / "virtd")
        listing = virsh(daemon, "list").stdout
        assert name in listing and "running" in listing
        os.kill(pid, signal.SIGKILL)
        wait_for("the domain to be marked crashed",
                 lambda: virsh(daemon, "domstate", "--reason", name).stdout.strip()
                 == "shut off (crashed)")
    finally:
        for pid in qemu_pids(name):
            os.kill(pid, signal.SIGKILL)
        daemon.stop()


def test_qemu_output_goes_through_virtlogd(tmp_path: Path, guest: tuple[str, Path]) -> None:
    name, xml = guest
    root = tmp_path / "host"
    logd = start_daemon("virtlogd", root)
    daemon = start_daemon("virtd", root)
    try:
        assert virsh(daemon, "define", str(xml)).returncode == 0
        assert virsh(daemon, "start", name).returncode == 0
        [pid] = qemu_pids(name)
        stdout = os.readlink(f"/proc/{pid}/fd/1")
        assert stdout.startswith("pipe:"), f"QEMU's stdout is {stdout}, not virtlogd's pipe"
        log_file = root / "state" / "virtd" / "log" / "qemu" / f"{name}.log"
        wait_for("virtlogd to write QEMU's start line",
                 lambda: log_file.exists() and "starting up" in log_file.read_text())
        assert virsh(daemon, "destroy", name).returncode == 0
    finally:
        for pid in qemu_pids(name):
            os.kill(pid, signal.SIGKILL)
        daemon.stop()
        logd.stop()


DISK_GUEST = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def lease_holders(root: Path, disk: Path) -> list[str]:
    out = subprocess.run([str(Path(sys.executable).parent / "virtd-admin"), "--json", "-c",
                          f"virtlockd:///session?socket={root}/run/virtd/virtlockd-admin-sock",
                          "lease-list"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [lease["owner_name"] for lease in json.loads(out.stdout)
            if lease["resource"] == str(disk)]


def test_a_disk_leased_by_one_vm_cannot_be_started_by_another(tmp_path: Path) -> None:
    root, disk = tmp_path / "host", tmp_path / "shared.img"
    disk.write_bytes(b"\0" * 1024 * 1024)
    names = [f"a{os.getpid()}", f"b{os.getpid()}"]
    for name in names:
        (tmp_path / f"{name}.xml").write_text(DISK_GUEST.format(name=name, disk=disk))
    lockd = start_daemon("virtlockd", root)
    daemon = start_daemon("virtd", root)
    try:
        for name in names:
            assert virsh(daemon, "define", str(tmp_path / f"{name}.xml")).returncode == 0
        first = virsh(daemon, "start", names[0])
        assert first.returncode == 0, first.stderr
        assert lease_holders(root, disk) == [names[0]]

        second = virsh(daemon, "start", names[1])
        assert second.returncode != 0
        assert f"resource busy: Lockspace resource '{disk}' is locked" in second.stderr
        assert qemu_pids(names[1]) == [], "the refused VM's QEMU must not be left running"

        daemon.stop(signal.SIGKILL)
        assert lease_holders(root, disk) == [names[0]], "QEMU, not virtd, holds the lease"
        daemon = start_daemon("virtd", root)
        assert virsh(daemon, "destroy", names[0]).returncode == 0
        wait_for("the lease to go with its QEMU", lambda: lease_holders(root, disk) == [])
        started = virsh(daemon, "start", names[1])
        assert started.returncode == 0, started.stderr
    finally:
        for name in names:
            for pid in qemu_pids(name):
                os.kill(pid, signal.SIGKILL)
        daemon.stop()
        lockd.stop()
