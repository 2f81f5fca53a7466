"""virtlogd re-executes itself (SIGUSR1) in the middle of a continuous write and loses nothing.

The writer is a separate process writing numbered lines; afterwards the log
chain must hold every line exactly once, in order, and no write() may have
blocked longer than the re-exec itself took.
"""

from __future__ import annotations

import signal
import time
from typing import Callable

from daemons.virtlogd.records import LogPosition
from tests.integration.test_virtlogd import (
    LogDaemon,
    chain_content,
    counter_lines,
    start_virtlogd,
    start_writer,
    wait_until,
    writer_report,
)

LINES = 1_000_000  # 16 MB of "%015d\n"
LINES_PER_WRITE = 256  # 4 KiB: one atomic pipe write, as QEMU's chardev does
PAUSE = "0.0005"  # about 8 MB/s: faster than the pipe can buffer through a re-exec

__all__ = ["start_virtlogd"]  # the fixture, shared with test_virtlogd.py


def test_sigusr1_reexec_mid_stream_loses_and_repeats_no_byte(
        start_virtlogd: Callable[..., LogDaemon]) -> None:
    virtlogd = start_virtlogd("max_size = 8388608\nmax_backups = 3\n", ("--verbose",))
    path = virtlogd.log()
    fd, start = virtlogd.open(path)
    assert start == LogPosition(path.stat().st_ino, 0)
    kept_client = virtlogd.client()
    writer = start_writer(fd, "lines", str(LINES), str(LINES_PER_WRITE), PAUSE)
    assert writer.stdout is not None
    assert writer.stdout.readline() == b"going\n"

    stderr = virtlogd.daemon.log_file
    before = stderr.read_text().count("re-executed")
    sent = time.monotonic()
    virtlogd.daemon.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: stderr.read_text().count("re-executed") > before, "the re-exec")
    with virtlogd.client() as fresh:
        fresh.get_log_file_position(str(path))
    reexec_seconds = time.monotonic() - sent
    # A connection made before the re-exec is served by the new image too.
    assert kept_client.get_log_file_position(str(path)).inode > 0
    kept_client.close()

    report = writer_report(writer)
    virtlogd.wait_closed(path)
    assert virtlogd.daemon.proc.poll() is None
    print(f"\nre-exec took {reexec_seconds * 1000:.0f} ms; the writer's longest write() "
          f"blocked {report['max_write_latency'] * 1000:.0f} ms")
    content = chain_content(path, 3)
    assert len(content) == LINES * 16
    assert content == counter_lines(0, LINES)
    assert report["max_write_latency"] <= reexec_seconds + 0.25
