"""Lease acquire+release cycles per second, our virtlockd against libvirt's C virtlockd.

Each client process connects, registers itself (its own pid) as the owner,
and then acquires and releases a direct lease on its own image file as fast
as it can: two lock-program calls per cycle, the calls libvirt's lock driver
makes. All clients start together and run for the same time; the rate is the
sum of their cycles over that time. Both daemons are driven by the same client
code (daemons/virtlockd/client.py). Ours runs in session mode under a
temporary directory; libvirt's in a private mount namespace
(tests/integration/libvirt_daemons.py).

    .venv/bin/python bench/bench_virtlockd.py [--seconds 3] [--clients 1 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemons.virtlockd.client import LockClient  # noqa: E402
from tests.integration.daemons import start_daemon  # noqa: E402
from tests.integration.libvirt_daemons import libvirt_daemon, unavailable_reason  # noqa: E402

WARM_UP_CYCLES = 50


def client(socket: str, image: str, seconds: float, start: "multiprocessing.synchronize.Barrier",
           results: "multiprocessing.Queue[int]") -> None:
    """One owner process: register, warm up, then cycle until the time is up."""
    with LockClient(socket) as conn:
        conn.register(uuid4(), f"bench-{os.getpid()}", 1, os.getpid())
        for _ in range(WARM_UP_CYCLES):
            conn.acquire("", image)
            conn.release("", image)
        start.wait()
        cycles = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.acquire("", image)
            conn.release("", image)
            cycles += 1
    results.put(cycles)


def cycles_per_second(socket: Path, work: Path, clients: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(clients)
    results: multiprocessing.Queue[int] = ctx.Queue()
    procs = []
    for n in range(clients):
        image = work / f"disk-{n}.img"
        image.write_bytes(b"")
        procs.append(ctx.Process(target=client,
                                 args=(str(socket), str(image), seconds, start, results)))
    for proc in procs:
        proc.start()
    total = sum(results.get(timeout=seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"a client failed (exit {proc.exitcode})")
    return total / seconds


def measure(socket: Path, work: Path, args: argparse.Namespace) -> dict[int, float]:
    """Median cycles/s over the runs, per client count."""
    return {n: statistics.median(cycles_per_second(socket, work, n, args.seconds)
                                 for _ in range(args.runs))
            for n in args.clients}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one run")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8],
                        help="client process counts to measure")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-virtlockd-") as tmp:
        work = Path(tmp)
        ours = start_daemon("virtlockd", work / "ours")
        try:
            mine = measure(ours.socket(), work, args)
        finally:
            ours.stop()
        reason = unavailable_reason("virtlockd")
        theirs: dict[int, float] = {}
        if reason is None:
            with libvirt_daemon("virtlockd", work / "libvirt") as daemon:
                theirs = measure(daemon.socket(), work, args)
        else:
            print(f"libvirt's virtlockd skipped: {reason}")

    print(f"lease acquire+release cycles per second, median of {args.runs} runs of "
          f"{args.seconds:g} s ({os.cpu_count()} CPUs):")
    for n in args.clients:
        line = f"  {n} client{'s' if n > 1 else ' '}: ours {mine[n]:8.0f}"
        if n in theirs:
            line += f"   libvirt's {theirs[n]:8.0f}   ours / libvirt's {mine[n] / theirs[n]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
