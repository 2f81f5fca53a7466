"""Our virtlogd and libvirt's (/usr/sbin/virtlogd, 9.0) answer the same calls the same way.

One scenario runs against both daemons through our client; what it observes
(positions, data, error code/domain/message, the files of a rotation chain)
must be identical. This also proves our client speaks to libvirt's daemon.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Callable

import pytest

from common.errors import VirtError
from daemons.virtlogd import protocol as p
from daemons.virtlogd.client import LogClient
from daemons.virtlogd.records import LogPosition
from tests.integration.daemons import RunningDaemon
from tests.integration.libvirt_daemons import libvirt_daemon, unavailable_reason
from tests.integration.test_virtlogd import DEMO_UUID, start_writer, wait_until

CONFIG = "max_size = 1000\nmax_backups = 3\n"


def messages() -> list[bytes]:
    """Appends of varied length, with and without newlines near the cut points."""
    rng = random.Random(7)
    out = []
    for i in range(120):
        body = b"".join(rng.choice([b"a", b"b", b" ", b"\n"]) for _ in range(rng.randrange(1, 400)))
        out.append(b"%03d:" % i + body)
    return out


def observe(socket_path: Path, logdir: Path) -> list[Any]:
    """Drive one daemon; returns what a client sees, with `logdir` written as <dir>."""
    seen: list[Any] = []
    path = str(logdir / "demo.log")

    def outcome(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except VirtError as err:
            return (err.code, err.domain, err.message.replace(str(logdir), "<dir>"))

    with LogClient(str(socket_path)) as c:
        fd, start = c.open_log_file("qemu", DEMO_UUID, "demo", path)
        seen.append(start.offset)
        assert start.inode == os.stat(path).st_ino
        held = os.dup(fd)  # virtd's copy: the log stays open after the writer exits
        writer = start_writer(fd, "copy", stdin=-1)
        output = b"QEMU 7.2 monitor\nchar device redirected to /dev/pts/3\n"
        writer.communicate(output, timeout=30)
        wait_until(lambda: c.get_log_file_position(path).offset == len(output),
                   "the writer's bytes")
        seen.append(c.read_log_file(path, start, 1000))
        seen.append(c.read_log_file(path, LogPosition(start.inode, 5), 10))
        seen.append(outcome(lambda: c.open_log_file("qemu", DEMO_UUID, "demo", path)))
        seen.append(outcome(lambda: c.get_log_file_position(path + ".other")))
        seen.append(outcome(lambda: c.read_log_file(path, start, p.STRING_MAX + 1)))
        rotated = str(logdir / "rotated.log")
        for message in messages():
            c.append_log_file("qemu", DEMO_UUID, "demo", rotated, message)
    os.close(held)
    wait_until(lambda: _closed(socket_path, path), "the log to be closed")
    seen.append(sorted(os.listdir(logdir)))
    seen.append({name: (logdir / name).read_bytes() for name in os.listdir(logdir)})
    return seen


def _closed(socket_path: Path, path: str) -> bool:
    with LogClient(str(socket_path)) as c:
        try:
            c.get_log_file_position(path)
        except VirtError:
            return True
    return False


@pytest.mark.skipif(unavailable_reason("virtlogd") is not None,
                    reason=str(unavailable_reason("virtlogd")))
def test_same_calls_get_the_same_answers_and_files_from_both_daemons(
        run_daemon: Callable[..., RunningDaemon], tmp_path: Path) -> None:
    theirs_dir = tmp_path / "libvirt-logs"
    theirs_dir.mkdir()
    with libvirt_daemon("virtlogd", tmp_path / "libvirt", CONFIG) as theirs:
        expected = observe(theirs.socket(), theirs_dir)
    ours_dir = tmp_path / "our-logs"
    ours = run_daemon("virtlogd", CONFIG + f'log_root = "{ours_dir}"\n')
    got = observe(ours.socket(), ours_dir)
    assert got[:-1] == expected[:-1]
    assert got[-1] == expected[-1], "the rotation chains differ"
    assert expected[-2] == ["demo.log", "rotated.log", "rotated.log.0", "rotated.log.1",
                            "rotated.log.2"]
