"""virtd against libvirt's C libvirtd, side by side, through the same libvirt-python client.

Both daemons serve the test driver (test:///default) and both hold the same 21
domains (`test` plus 20 defined ones). Every measurement runs in client
processes of Debian's /usr/bin/python3 with python3-libvirt, for a fixed time
window that all processes of a measurement share; it is repeated, alternating
between the daemons, and the median counts (other load on the machine hits
both alike):

  getinfo      virDomainGetInfo on one domain, back to back (1 and 8 processes)
  list         virConnectListAllDomains, all 21 domains
  connect      virConnectOpen + virConnectClose

Run from the repository root, as root (libvirtd runs as `nobody` in a private
directory, see tests/integration/libvirtd.py):

    .venv/bin/python bench/bench_virtd.py [--seconds 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import libvirt

REPO = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = "/usr/bin/python3"
EXTRA_DOMAINS = 20
START_DELAY = 1.0
"""Seconds between spawning client processes and the shared window's start: time to connect."""


# -- client side: runs under a bare /usr/bin/python3 ----------------------------------------


@dataclass(frozen=True)
class Window:
    """One measurement's time window on the wall clock, which all its processes share."""

    start_at: float
    end_at: float

    def wait_open(self) -> None:
        time.sleep(max(0.0, self.start_at - time.time()))

    def closed(self) -> bool:
        return time.time() >= self.end_at


def getinfo_loop(uri: str, window: Window) -> int:
    conn = libvirt.open(uri)
    dom = conn.lookupByName("test")
    window.wait_open()
    count = 0
    while not window.closed():
        dom.info()
        count += 1
    conn.close()
    return count


def list_loop(uri: str, window: Window) -> int:
    conn = libvirt.open(uri)
    window.wait_open()
    count = 0
    while not window.closed():
        assert len(conn.listAllDomains(0)) == EXTRA_DOMAINS + 1
        count += 1
    conn.close()
    return count


def connect_loop(uri: str, window: Window) -> int:
    window.wait_open()
    count = 0
    while not window.closed():
        libvirt.open(uri).close()
        count += 1
    return count


LOOPS: dict[str, Callable[[str, Window], int]] = {
    "getinfo": getinfo_loop, "list": list_loop, "connect": connect_loop}


def worker(loop: str, uri: str, start_at: float, seconds: float) -> None:
    """Print how many calls `loop` made inside the window."""
    print(LOOPS[loop](uri, Window(start_at, start_at + seconds)))


# -- orchestration: runs in the repository's venv -------------------------------------------


@dataclass(frozen=True)
class Measurement:
    label: str
    loop: str
    clients: int


MEASUREMENTS = (
    Measurement("GetInfo, 1 client (calls/s)", "getinfo", 1),
    Measurement("GetInfo, 8 clients (calls/s)", "getinfo", 8),
    Measurement("listAllDomains, 1 client (calls/s)", "list", 1),
    Measurement("connect+close, 1 client (per s)", "connect", 1),
)


def rate(uri: str, measurement: Measurement, seconds: float) -> float:
    """Calls per second, summed over the measurement's client processes."""
    start_at = time.time() + START_DELAY
    procs = [subprocess.Popen([DEBIAN_PYTHON, __file__, "--worker", measurement.loop, uri,
                               repr(start_at), repr(seconds)],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
             for _ in range(measurement.clients)]
    total = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=START_DELAY + seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"{measurement.loop} client failed with {proc.returncode}")
        total += int(out)
    return total / seconds


def define_extra_domains(conn: libvirt.virConnect) -> None:
    for n in range(EXTRA_DOMAINS):
        conn.defineXML(f"<domain type='test'><name>bench{n}</name><memory>65536</memory>"
                       f"<os><type>hvm</type></os></domain>")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="length of each measurement's window (default 2)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="repetitions of each measurement per daemon (default 3)")
    args = parser.parse_args()

    # Imported here, not at the top: client processes run under a bare /usr/bin/python3.
    import tempfile

    from tests.integration.daemons import start_daemon
    from tests.integration.libvirtd import running_libvirtd

    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-virtd-") as tmp, running_libvirtd() as theirs:
        ours = start_daemon("virtd", Path(tmp) / "virtd")
        try:
            uris = (f"test+unix:///default?socket={ours.socket('sock')}", theirs.uri)
            # libvirtd's test driver forgets everything when its last client leaves:
            # these connections hold both drivers (and the extra domains) open throughout.
            holders = [libvirt.open(uri) for uri in uris]
            for holder in holders:
                define_extra_domains(holder)
            for measurement in MEASUREMENTS:
                rates: tuple[list[float], list[float]] = ([], [])
                for _ in range(args.rounds):
                    for uri, found in zip(uris, rates):
                        found.append(rate(uri, measurement, args.seconds))
                results[measurement.label] = (statistics.median(rates[0]),
                                              statistics.median(rates[1]))
            for holder in holders:
                holder.close()
        finally:
            ours.stop()
    print_table(results, args.seconds, args.rounds)
    return 0


def print_table(results: dict[str, tuple[float, float]], seconds: float, rounds: int) -> None:
    version = libvirt.getVersion()
    print(f"virtd vs libvirt {version // 1_000_000}.{version // 1000 % 1000} libvirtd, "
          f"test driver; median of {rounds} x {seconds:g} s windows")
    print(f"{'measurement':<38}{'virtd':>12}{'libvirtd':>12}{'ratio':>8}")
    for label, (ours, theirs) in results.items():
        print(f"{label:<38}{ours:>12,.0f}{theirs:>12,.0f}{ours / theirs:>8.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.path.insert(0, str(REPO))
        sys.exit(main())
