"""A real QEMU VM under the system virtd lives in its own machine scope (systemd-machined).

`machinectl` lists it, its processes are in machine-qemu-….scope under machine.slice,
restarting virtd leaves it running and virtd takes it back, and destroying it ends
the scope. QEMU runs with TCG here unless the guest sees a usable /dev/kvm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.system.harness import BootedSystem

pytestmark = pytest.mark.system

T = TypeVar("T")
VM = "scopedemo"
VIRSH = ["virsh", "-c", "qemu+unix:///system?socket=/run/virtd/virtd-sock"]
SOCKETS = ("virtlogd.socket", "virtlogd-admin.socket", "virtlockd.socket",
           "virtlockd-admin.socket", "virtd.socket", "virtd-ro.socket", "virtd-admin.socket")
DOMAIN = f"""<domain type='qemu'>
  <name>{VM}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <resource><partition>/machine</partition></resource>
</domain>
"""


def wait_for(condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return result


def machines(guest: BootedSystem) -> dict[str, str]:
    """machinectl's machines: name -> class."""
    out = guest.run(["machinectl", "list", "--no-legend", "--no-pager"]).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


@pytest.fixture
def host(guest: BootedSystem) -> Iterator[BootedSystem]:
    guest.run(["systemctl", "start", "systemd-machined.service", *SOCKETS])
    guest.write_file("/run/scopedemo.xml", DOMAIN)
    try:
        yield guest
    finally:
        guest.run([*VIRSH, "destroy", VM], check=False)
        guest.run([*VIRSH, "undefine", VM], check=False)
        guest.run(["systemctl", "stop", "virtd.service", "virtlockd.service",
                   "virtlogd.service", *SOCKETS], check=False)


def test_a_vm_runs_in_its_own_machine_scope_and_outlives_virtd(host: BootedSystem) -> None:
    host.run([*VIRSH, "define", "/run/scopedemo.xml"])
    host.run([*VIRSH, "start", VM])

    [machine] = wait_for(lambda: [m for m, kind in machines(host).items()
                                  if m.endswith(f"-{VM}") and kind == "vm"], "the machine")
    assert machine.startswith("qemu-")
    leader = host.run(["machinectl", "show", "--value", "-p", "Leader", machine]).stdout.strip()
    unit = host.run(["machinectl", "show", "--value", "-p", "Unit", machine]).stdout.strip()
    assert unit == f"machine-{machine.replace('-', chr(92) + 'x2d')}.scope"
    cgroup = host.run(["cat", f"/proc/{leader}/cgroup"]).stdout
    assert f"/machine.slice/{unit}" in cgroup
    assert "qemu-system" in host.run(["cat", f"/proc/{leader}/comm"]).stdout + \
        host.run(["cat", f"/proc/{leader}/cmdline"]).stdout

    host.run(["systemctl", "restart", "virtd.service"])
    assert machines(host).get(machine) == "vm", "restarting virtd must not touch the VM"
    listing = host.run([*VIRSH, "list"]).stdout
    assert VM in listing and "running" in listing
    assert host.run(["machinectl", "show", "--value", "-p", "Leader", machine]).stdout.strip() == leader

    host.run([*VIRSH, "destroy", VM])
    wait_for(lambda: machine not in machines(host), "the machine to go away")
    records = host.journal(VIRTD_DOMAIN_NAME=VM)
    assert {"started", "stopped"} <= {str(r["MESSAGE"]).rsplit(" ", 1)[-1] for r in records}
