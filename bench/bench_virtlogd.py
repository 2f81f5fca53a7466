"""Throughput of a domain log: bytes through a pipe into a rotating file, ours against libvirt's.

For each daemon a writer process floods the pipe virtlogd handed out with
MiB-sized writes of text lines; the time runs from the writer's start until
the daemon has written everything and closed the log (it saw the pipe's EOF).
The limit is the same bytes written straight to a file by one process;
"straight, rotating" writes them through the same rotation in one process,
which shows what the rotation itself costs. Ours
runs in session mode under a temporary directory; libvirt's C virtlogd runs
in a private mount namespace (tests/integration/libvirt_daemons.py).

    .venv/bin/python bench/bench_virtlogd.py [--mib 1024] [--max-size 2097152] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import VirtError  # noqa: E402
from daemons.virtlogd.client import LogClient  # noqa: E402
from daemons.virtlogd.rotation import RotatingWriter  # noqa: E402
from tests.integration.daemons import start_daemon  # noqa: E402
from tests.integration.libvirt_daemons import libvirt_daemon, unavailable_reason  # noqa: E402
from tests.integration.test_virtlogd import WRITER  # noqa: E402

MiB = 1 << 20
LINE_BLOCK = b"".join(b"%015d\n" % i for i in range(MiB // 16))


def through_daemon(socket_path: Path, log_path: Path, mib: int) -> float:
    """Seconds for `mib` MiB to go from a writer process through the daemon into the log."""
    with LogClient(str(socket_path)) as client:
        fd, _ = client.open_log_file("qemu", uuid4(), "bench", str(log_path), truncate=True)
    started = time.monotonic()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(fd), "flood", str(mib)],
                              pass_fds=(fd,), stdout=subprocess.DEVNULL)
    os.close(fd)
    if writer.wait() != 0:
        raise RuntimeError("the writer failed")
    with LogClient(str(socket_path)) as client:
        while True:
            try:
                client.get_log_file_position(str(log_path))
            except VirtError:
                return time.monotonic() - started
            time.sleep(0.002)


def straight_to_file(log_path: Path, mib: int) -> float:
    """The limit: one process appending the same blocks to a file."""
    started = time.monotonic()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    try:
        for _ in range(mib):
            os.write(fd, LINE_BLOCK)
    finally:
        os.close(fd)
    return time.monotonic() - started


def straight_to_rotating_files(log_path: Path, mib: int, max_size: int, backups: int) -> float:
    """The same, through the rotation virtlogd does (no pipe, no daemon): its own cost."""
    started = time.monotonic()
    writer = RotatingWriter(str(log_path), max_size, backups)
    writer.open()
    try:
        for _ in range(mib):
            writer.append(LINE_BLOCK)
    finally:
        writer.close()
    return time.monotonic() - started


def best_of(runs: int, measure: Callable[[], float]) -> tuple[float, float]:
    """(best, median) seconds over `runs` measurements."""
    times = [measure() for _ in range(runs)]
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB to push per run")
    parser.add_argument("--max-size", type=int, default=2097152, help="max_size of both daemons")
    parser.add_argument("--backups", type=int, default=3, help="max_backups of both daemons")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    config = f"max_size = {args.max_size}\nmax_backups = {args.backups}\n"
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-virtlogd-") as tmp:
        work = Path(tmp)
        results["straight to a file"] = best_of(
            args.runs, lambda: straight_to_file(work / "straight.log", args.mib))
        (work / "straight.log").unlink()
        rotating = work / "rotating"
        rotating.mkdir()
        results["straight, rotating"] = best_of(
            args.runs, lambda: straight_to_rotating_files(rotating / "bench.log", args.mib,
                                                          args.max_size, args.backups))

        logs = work / "ours-logs"
        ours = start_daemon("virtlogd", work / "ours", config + f'log_root = "{logs}"\n')
        try:
            results["our virtlogd"] = best_of(
                args.runs, lambda: through_daemon(ours.socket(), logs / "bench.log", args.mib))
        finally:
            ours.stop()

        reason = unavailable_reason("virtlogd")
        if reason is None:
            theirs_logs = work / "libvirt-logs"
            theirs_logs.mkdir()
            with libvirt_daemon("virtlogd", work / "libvirt", config) as theirs:
                results["libvirt's virtlogd"] = best_of(
                    args.runs,
                    lambda: through_daemon(theirs.socket(), theirs_logs / "bench.log", args.mib))
        else:
            print(f"libvirt's virtlogd skipped: {reason}")

    print(f"{args.mib} MiB in 1 MiB writes, max_size {args.max_size}, max_backups "
          f"{args.backups}, best (median) of {args.runs} runs:")
    for name, (best, median) in results.items():
        print(f"  {name:20s} {args.mib / best:8.0f} MiB/s  ({args.mib / median:.0f})")
    limit = args.mib / results["straight to a file"][0]
    ours_rate = args.mib / results["our virtlogd"][0]
    print(f"  ours / straight to a file: {ours_rate / limit:.2f}")
    if "libvirt's virtlogd" in results:
        theirs_rate = args.mib / results["libvirt's virtlogd"][0]
        print(f"  libvirt's / straight to a file: {theirs_rate / limit:.2f}")
        print(f"  ours / libvirt's: {ours_rate / theirs_rate:.2f}")


if __name__ == "__main__":
    main()
