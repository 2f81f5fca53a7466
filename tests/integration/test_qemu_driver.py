"""The QEMU driver with real QEMU (TCG here unless /dev/kvm is usable), through virsh."""

from __future__ import annotations

import os
import signal
import subprocess
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
