"""Domain definitions and states survive a daemon restart, and a crash never tears one.

A restart is a new virtd process on the same directories, after SIGTERM (an
orderly stop) or SIGKILL (a crash). The crash test kills virtd for real while a
client defines big domains in a tight loop, at the moment a definition is being
written (its temp file exists), and then checks what a user would see: every
definition file is whole, every acknowledged define is there, and the torn
temp file never becomes a domain.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable, Iterator

import libvirt
import pytest

from tests.integration.daemons import RunningDaemon, start_daemon

VM_XML = """<domain type='test'>
  <name>{name}</name>
  <description>{description}</description>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <interface type='network'>
      <source network='default'/>
    </interface>
  </devices>
</domain>
"""
# Big: each definition takes a while to write and fsync, a window to crash in.
BIG_DESCRIPTION_CHARS = 2_000_000
DEFINES_BEFORE_CRASH = 2
CPU_TIME = re.compile(r"^CPU time: .*$", re.MULTILINE)


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    """The virtd processes a test starts; whichever still runs is stopped afterwards."""
    started: list[RunningDaemon] = []
    yield started
    for daemon in started:
        daemon.stop()


@pytest.fixture
def start_virtd(tmp_path: Path, daemons: list[RunningDaemon]) -> Callable[[], RunningDaemon]:
    """Start virtd on the same directories each time: the second call is a restart."""

    def start() -> RunningDaemon:
        daemon = start_daemon("virtd", tmp_path / "virtd")
        daemons.append(daemon)
        return daemon

    return start


def virsh(daemon: RunningDaemon, commands: str, cwd: Path) -> str:
    done = subprocess.run(
        ["virsh", "-c", f"test+unix:///default?socket={daemon.socket('sock')}", commands],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, timeout=30,
        stdin=subprocess.DEVNULL)
    return CPU_TIME.sub("CPU time: <wall clock>", done.stdout)


def config_dir(daemon: RunningDaemon) -> Path:
    return daemon.root / "state" / "virtd" / "test" / "domains"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_definitions_and_states_survive_a_restart(sig: signal.Signals, tmp_path: Path,
                                                   start_virtd: Callable[[], RunningDaemon]
                                                   ) -> None:
    for name in ("vm1", "vm2", "t1"):
        (tmp_path / f"{name}.xml").write_text(VM_XML.format(name=name, description=name))
    daemon = start_virtd()
    setup = virsh(daemon, "define vm1.xml; define vm2.xml; start vm1; suspend vm1; "
                          "autostart vm2; create t1.xml; destroy test", tmp_path)
    assert "error" not in setup
    # Not the reason `test` is shut off: like libvirt, virtd reloads an inactive domain
    # from its definition alone, and the reason becomes "unknown".
    look = ("list --all; dominfo vm1; dominfo vm2; dominfo t1; domstate --reason vm1; "
            "domstate --reason t1; dumpxml vm1; dumpxml --inactive vm1; dumpxml vm2; "
            "dumpxml t1")
    before = virsh(daemon, look, tmp_path)
    assert " 2    vm1    paused" in before and " 3    t1     running" in before

    assert daemon.stop(sig) == (-sig if sig == signal.SIGKILL else 0)
    daemon = start_virtd()
    assert virsh(daemon, look, tmp_path) == before
    # New ids stay clear of the ones running domains kept.
    assert virsh(daemon, "start vm2; domid vm2", tmp_path) == "Domain 'vm2' started\n\n4\n\n"


class DefineLoop:
    """A libvirt-python client defining big domains back to back until the daemon dies."""

    def __init__(self, uri: str, prefix: str) -> None:
        self.uri = uri
        self.prefix = prefix
        self.acknowledged: list[str] = []
        self.in_flight: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def description(name: str) -> str:
        return (name * (BIG_DESCRIPTION_CHARS // len(name) + 1))[:BIG_DESCRIPTION_CHARS]

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        try:
            conn = libvirt.open(self.uri)
            for n in range(10_000):
                name = f"{self.prefix}{n}"
                self.in_flight = name
                conn.defineXML(VM_XML.format(name=name, description=self.description(name)))
                self.acknowledged.append(name)
                self.in_flight = None
        except libvirt.libvirtError:
            return  # the daemon was killed under us


def temp_files(daemon: RunningDaemon) -> set[str]:
    return {entry for entry in os.listdir(config_dir(daemon)) if entry.endswith(".tmp")}


def kill_while_writing(daemon: RunningDaemon, loop: DefineLoop, deadline: float) -> set[str]:
    """SIGKILL `daemon` once a new definition temp file appears, after a few whole defines.

    Returns the new temp files the crash left behind.
    """
    before = temp_files(daemon)
    while time.monotonic() < deadline:
        if len(loop.acknowledged) >= DEFINES_BEFORE_CRASH and temp_files(daemon) - before:
            daemon.stop(signal.SIGKILL)
            return temp_files(daemon) - before
    raise AssertionError("no definition was being written before the deadline")


def whole_definition(path: Path) -> str:
    """The domain name in `path`, after checking the file is a complete definition."""
    root = ElementTree.parse(path).getroot()
    name = root.findtext("name")
    assert name is not None and path.name == f"{name}.xml"
    if name != "test":
        assert root.findtext("description") == DefineLoop.description(name)
    return name


def test_a_crash_while_defining_never_leaves_a_torn_definition(
        start_virtd: Callable[[], RunningDaemon]) -> None:
    torn: set[str] = set()
    acknowledged: set[str] = set()
    in_flight: set[str] = set()
    for attempt in range(10):
        daemon = start_virtd()
        loop = DefineLoop(f"test+unix:///default?socket={daemon.socket('sock')}",
                          f"big{attempt}-")
        loop.start()
        torn = kill_while_writing(daemon, loop, time.monotonic() + 60)
        loop.join()
        acknowledged.update(loop.acknowledged)
        in_flight.update({loop.in_flight} if loop.in_flight else set())
        on_disk = {whole_definition(path) for path in config_dir(daemon).glob("*.xml")}
        assert acknowledged <= on_disk <= acknowledged | in_flight | {"test"}
        if torn:
            break
    assert torn, "every kill landed between two writes"

    daemon = start_virtd()
    conn = libvirt.open(f"test+unix:///default?socket={daemon.socket('sock')}")
    try:
        listed = {dom.name(): dom for dom in conn.listAllDomains(0)}
        assert acknowledged <= set(listed) <= acknowledged | in_flight | {"test"}
        for name, dom in listed.items():
            if name != "test":
                description = ElementTree.fromstring(dom.XMLDesc(0)).findtext("description")
                assert description == DefineLoop.description(name)
    finally:
        conn.close()
