"""virtlogd with real writer processes on its pipes: content, rotation, bounded disk, errors.

Each test starts our daemon in session mode; its log root is the session log
directory under the test's temporary directory. Writers are separate
processes that get the pipe's write end as QEMU would (inherited fd).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from uuid import UUID

import pytest

from common import xdr
from common.errors import VirtError
from common.rpc.client import RpcClient
from daemons.virtlogd import protocol as p
from daemons.virtlogd.client import LogClient
from daemons.virtlogd.records import LogPosition
from daemons.virtlogd.rotation import chain_paths
from tests.integration.daemons import RunningDaemon

DEMO_UUID = UUID("c7a5fdbd-edaf-9455-926a-d65c16db1809")
MiB = 1 << 20

# A stand-in for QEMU: writes to the inherited pipe fd. Modes:
#   copy             stdin to the pipe, as it comes
#   lines N [CHUNK]  lines "%015d\n" 0..N-1 in writes of CHUNK lines (pausing PAUSE s between
#                    writes); after the first MiB prints "going", at the end a JSON report
#                    with the largest write() latency
#   flood MIB        MIB one-MiB writes of text lines as fast as possible; prints a JSON report
WRITER = r"""
import json, os, sys, time
fd, mode = int(sys.argv[1]), sys.argv[2]
if mode == "copy":
    while chunk := sys.stdin.buffer.read1(65536):
        os.write(fd, chunk)
    sys.exit(0)
worst = 0.0
start = time.monotonic()
def put(data):
    global worst
    view = memoryview(data)
    while view:
        t = time.monotonic()
        n = os.write(fd, view)
        worst = max(worst, time.monotonic() - t)
        view = view[n:]
if mode == "lines":
    total, per, pause = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    announced = False
    for first in range(0, total, per):
        put(b"".join(b"%015d\n" % i for i in range(first, min(total, first + per))))
        if not announced and first * 16 >= (1 << 20):
            print("going", flush=True)
            announced = True
        if pause:
            time.sleep(pause)
elif mode == "flood":
    block = b"".join(b"%015d\n" % i for i in range(65536))
    for _ in range(int(sys.argv[3])):
        put(block)
print(json.dumps({"max_write_latency": worst, "seconds": time.monotonic() - start}), flush=True)
"""


def counter_lines(first: int, count: int) -> bytes:
    return b"".join(b"%015d\n" % i for i in range(first, first + count))


def start_writer(fd: int, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    """Run a writer on pipe end `fd` (our copy is closed: the writer owns the pipe now)."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(fd), *args], pass_fds=(fd,),
                            stdin=stdin, stdout=subprocess.PIPE)
    os.close(fd)
    return proc


def writer_report(proc: subprocess.Popen[bytes], timeout: float = 120) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0
    return dict(json.loads(out.splitlines()[-1]))


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"still waiting for {what} after {deadline}s")
        time.sleep(0.01)


def chain_content(path: Path, backups: int) -> bytes:
    return b"".join(Path(f).read_bytes() for f in chain_paths(str(path), backups)
                    if os.path.exists(f))


@dataclass
class LogDaemon:
    """Our virtlogd and where its logs go."""

    daemon: RunningDaemon

    @property
    def root(self) -> Path:
        return self.daemon.root / "state" / "virtd" / "log"

    def log(self, name: str = "demo") -> Path:
        return self.root / "qemu" / f"{name}.log"

    def client(self) -> LogClient:
        return LogClient(str(self.daemon.socket()))

    def open(self, path: Path, truncate: bool = False, name: str = "demo"
             ) -> tuple[int, LogPosition]:
        with self.client() as c:
            return c.open_log_file("qemu", DEMO_UUID, name, str(path), truncate=truncate)

    def is_open(self, path: Path) -> bool:
        with self.client() as c:
            try:
                c.get_log_file_position(str(path))
            except VirtError as err:
                assert "No open log file" in err.message
                return False
            return True

    def wait_closed(self, path: Path, deadline: float = 60.0) -> None:
        """The writer is gone: wait until the daemon has drained the pipe and closed the file."""
        wait_until(lambda: not self.is_open(path), f"{path} to be closed", deadline)


@pytest.fixture
def start_virtlogd(run_daemon: Callable[..., RunningDaemon]) -> Callable[..., LogDaemon]:
    def start(config: str = "", args: tuple[str, ...] = ()) -> LogDaemon:
        return LogDaemon(run_daemon("virtlogd", config, args))
    return start


@pytest.fixture
def virtlogd(start_virtlogd: Callable[..., LogDaemon]) -> LogDaemon:
    return start_virtlogd("max_size = 65536\nmax_backups = 3\n")


# -- content ------------------------------------------------------------------------------


def test_a_writer_process_output_arrives_byte_for_byte(virtlogd: LogDaemon) -> None:
    path = virtlogd.log()
    fd, pos = virtlogd.open(path)
    assert pos.offset == 0 and pos.inode == path.stat().st_ino
    data = bytes(range(256)) * 64 + "unicode: é ✓\n".encode() + b"\0\xff no newline at the end"
    writer = start_writer(fd, "copy", stdin=subprocess.PIPE)
    writer.communicate(data, timeout=30)
    virtlogd.wait_closed(path)
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o600


def test_position_and_read_report_what_the_pipe_has_delivered(virtlogd: LogDaemon) -> None:
    path = virtlogd.log()
    fd, start = virtlogd.open(path)
    os.write(fd, b"first line\n")
    with virtlogd.client() as c:
        # GET_POSITION drains the pipe first: the line we wrote counts.
        middle = c.get_log_file_position(str(path))
        assert middle == LogPosition(start.inode, 11)
        os.write(fd, b"second line\n")
        assert c.read_log_file(str(path), middle, 1000) == b"second line\n"
        assert c.read_log_file(str(path), start, 1000) == b"first line\nsecond line\n"
        assert c.read_log_file(str(path), start, 5) == b"first"
    os.close(fd)


def test_read_returns_the_tail_after_a_position_across_a_rotation(virtlogd: LogDaemon) -> None:
    path = virtlogd.log()
    fd, _ = virtlogd.open(path)
    os.write(fd, counter_lines(0, 1000))
    with virtlogd.client() as c:
        mark = c.get_log_file_position(str(path))
        os.write(fd, counter_lines(1000, 5000))  # 80 000 bytes: past max_size, so it rotates
        tail = c.read_log_file(str(path), mark, 4 * MiB)
        assert mark.inode != c.get_log_file_position(str(path)).inode
    assert Path(f"{path}.0").exists()
    assert tail == counter_lines(1000, 5000)
    os.close(fd)


def test_position_calls_return_while_a_writer_floods_the_pipe(virtlogd: LogDaemon) -> None:
    """GET_POSITION writes out what the pipe holds, but only what it held when asked."""
    path = virtlogd.log()
    fd, _ = virtlogd.open(path)
    writer = start_writer(fd, "flood", "256", stdin=subprocess.DEVNULL)
    with LogClient(str(virtlogd.daemon.socket()), timeout=10) as c:
        while writer.poll() is None:
            assert c.get_log_file_position(str(path)).offset <= 65536
    writer_report(writer)
    virtlogd.wait_closed(path)


def test_append_adds_a_message_in_order_with_what_the_pipe_delivered(virtlogd: LogDaemon) -> None:
    path = virtlogd.log()
    fd, _ = virtlogd.open(path)
    os.write(fd, b"qemu says hello\n")
    with virtlogd.client() as c:
        c.append_log_file("qemu", DEMO_UUID, "demo", str(path), "virtd: shutting down\n")
    os.write(fd, b"qemu says bye\n")
    os.close(fd)
    virtlogd.wait_closed(path)
    assert path.read_bytes() == b"qemu says hello\nvirtd: shutting down\nqemu says bye\n"


def test_append_to_a_log_nobody_has_open_creates_it(virtlogd: LogDaemon) -> None:
    path = virtlogd.log("stopped")
    with virtlogd.client() as c:
        c.append_log_file("qemu", DEMO_UUID, "stopped", str(path), "2024-01-01 shutting down\n")
        c.append_log_file("qemu", DEMO_UUID, "stopped", str(path), b"again\n")
    assert path.read_bytes() == b"2024-01-01 shutting down\nagain\n"
    assert not virtlogd.is_open(path)


def test_truncate_starts_the_log_afresh_and_drops_its_backups(virtlogd: LogDaemon) -> None:
    path = virtlogd.log()
    path.parent.mkdir(parents=True)
    for name in (path, f"{path}.0", f"{path}.2"):
        Path(name).write_bytes(b"from the last boot\n")
    fd, pos = virtlogd.open(path)
    assert pos.offset == len(b"from the last boot\n")
    os.close(fd)
    virtlogd.wait_closed(path)
    fd, pos = virtlogd.open(path, truncate=True)
    assert pos.offset == 0
    assert sorted(os.listdir(path.parent)) == ["demo.log"]
    os.close(fd)


def test_when_every_writer_closes_the_log_is_closed(virtlogd: LogDaemon) -> None:
    path = virtlogd.log()
    fd, _ = virtlogd.open(path)
    second_writer = os.dup(fd)
    os.close(fd)
    assert virtlogd.is_open(path)
    os.close(second_writer)
    virtlogd.wait_closed(path)
    fd, _ = virtlogd.open(path)  # and it can be opened again
    os.close(fd)


def test_the_pipe_holds_a_megabyte_while_the_daemon_is_not_reading(
        start_virtlogd: Callable[..., LogDaemon]) -> None:
    """The enlarged pipe is what lets QEMU carry on through a restart of virtlogd."""
    virtlogd = start_virtlogd("max_size = 0\n")
    path = virtlogd.log()
    fd, _ = virtlogd.open(path)
    os.set_blocking(fd, False)  # a write that would block fails instead
    data = counter_lines(0, MiB // 16)
    pid = virtlogd.daemon.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:written + 65536])
    finally:
        os.kill(pid, signal.SIGCONT)
    os.close(fd)
    virtlogd.wait_closed(path)
    assert path.read_bytes() == data


# -- bounded disk use ---------------------------------------------------------------------


def disk_use(directory: Path) -> int:
    """Bytes in the files of `directory`, each file (inode) counted once even mid-rename."""
    sizes: dict[int, int] = {}
    for entry in os.scandir(directory):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        sizes[st.st_ino] = st.st_size
    return sum(sizes.values())


def test_a_gibibyte_of_output_stays_within_the_rotation_bound(
        start_virtlogd: Callable[..., LogDaemon]) -> None:
    max_size, backups = MiB, 3
    virtlogd = start_virtlogd(f"max_size = {max_size}\nmax_backups = {backups}\n")
    path = virtlogd.log()
    fd, _ = virtlogd.open(path)
    started = time.monotonic()
    writer = start_writer(fd, "flood", "1024", stdin=subprocess.DEVNULL)
    largest = 0
    while writer.poll() is None:
        largest = max(largest, disk_use(path.parent))
    report = writer_report(writer)
    virtlogd.wait_closed(path)
    elapsed = time.monotonic() - started
    largest = max(largest, disk_use(path.parent))
    print(f"\n1 GiB through virtlogd into {max_size}-byte files: {elapsed:.1f} s "
          f"({1024 / elapsed:.0f} MiB/s); writer done after {report['seconds']:.1f} s, "
          f"largest disk use {largest} bytes")
    assert largest <= (backups + 1) * max_size
    assert sorted(os.listdir(path.parent)) == ["demo.log", "demo.log.0", "demo.log.1",
                                               "demo.log.2"]
    for name in os.listdir(path.parent):
        assert (path.parent / name).stat().st_size <= max_size
    # The newest bytes are all there, in order, ending with the last line written.
    assert chain_content(path, backups).endswith(counter_lines(65536 - 1000, 1000))


# -- bad input ----------------------------------------------------------------------------


def error_of(call: Callable[[], object]) -> VirtError:
    with pytest.raises(VirtError) as err:
        call()
    return err.value


def test_bad_requests_get_clear_errors_and_the_daemon_keeps_serving(
        virtlogd: LogDaemon, tmp_path: Path) -> None:
    path = virtlogd.log()
    root = virtlogd.root.resolve()
    (virtlogd.root / "escape").symlink_to(tmp_path)
    fd, _ = virtlogd.open(path)
    c = virtlogd.client()

    def opening(target: str) -> Callable[[], object]:
        return lambda: c.open_log_file("qemu", DEMO_UUID, "demo", target)

    cases = [
        (opening("/etc/passwd"), 29,
         f"operation forbidden: log file path '/etc/passwd' is outside the log root '{root}'"),
        (opening("qemu/demo.log"), 8, "invalid argument: log file path 'qemu/demo.log' is not "
                                      "absolute"),
        (opening(f"{virtlogd.root}/escape/x.log"), 29,
         f"operation forbidden: log file path '{virtlogd.root}/escape/x.log' leads through a "
         f"symbolic link to '{tmp_path.resolve()}/x.log', outside the log root '{root}'"),
        (opening(str(path)), 38, f"Cannot open log file: '{path}': Device or resource busy"),
        (lambda: c.open_log_file("", DEMO_UUID, "demo", str(virtlogd.log("x"))), 8,
         "invalid argument: driver name '' is not valid"),
        (lambda: c.get_log_file_position(str(virtlogd.log("never"))), 1,
         f"internal error: No open log file {virtlogd.log('never')}"),
        (lambda: c.read_log_file(str(path), LogPosition(0, 0), p.STRING_MAX + 1), 1,
         "internal error: Requested data len 4194305 is larger than maximum 4194304"),
        (lambda: c.read_log_file("/etc/shadow", LogPosition(0, 0), 100), 29,
         f"operation forbidden: log file path '/etc/shadow' is outside the log root '{root}'"),
        (lambda: c.append_log_file("qemu", DEMO_UUID, "demo", "/etc/motd", "owned\n"), 29,
         f"operation forbidden: log file path '/etc/motd' is outside the log root '{root}'"),
    ]
    for call, code, message in cases:
        err = error_of(call)
        assert (err.code, err.message) == (code, message)
    # The same connection, and the open pipe, still work.
    os.write(fd, b"still logging\n")
    assert c.read_log_file(str(path), LogPosition(0, 0), 100) == b"still logging\n"
    c.close()
    os.close(fd)
    assert not (tmp_path / "x.log").exists()


def test_unknown_flags_are_refused_as_libvirt_does(virtlogd: LogDaemon) -> None:
    path = str(virtlogd.log())
    with RpcClient(str(virtlogd.daemon.socket())) as rpc:
        def call(proc: p.LogProc, args_type: xdr.XdrType, args: Any) -> VirtError:
            return error_of(lambda: rpc.call(p.LOG_PROGRAM, p.LOG_VERSION, proc, args_type, args,
                                             xdr.Void))
        err = call(p.LogProc.DOMAIN_GET_LOG_FILE_POSITION, p.GetPositionArgs,
                   p.GetPositionArgs(path, 4))
        assert err.message.endswith("unsupported flags (0x4) in function "
                                    "virLogHandlerDomainGetLogFilePosition")
        err = call(p.LogProc.DOMAIN_OPEN_LOG_FILE, p.OpenArgs,
                   p.OpenArgs("qemu", p.Domain(DEMO_UUID.bytes, "demo"), path, 3))
        assert err.message.endswith("unsupported flags (0x2) in function "
                                    "virLogHandlerDomainOpenLogFile")
        err = call(p.LogProc.DOMAIN_READ_LOG_FILE, p.ReadArgs,
                   p.ReadArgs(path, p.Position(0, 0), 10, 1))
        assert err.message.endswith("in function virLogHandlerDomainReadLogFile")
        err = call(99, xdr.Void, None)  # type: ignore[arg-type]
        assert err.message == "unknown procedure: 99"


# -- old logs -----------------------------------------------------------------------------


def aged(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"old\n")
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


def test_old_log_chains_are_cleaned_at_each_start_but_never_open_ones(
        start_virtlogd: Callable[..., LogDaemon], tmp_path: Path) -> None:
    root = tmp_path / "vmlogs"
    stale = [aged(root / "qemu" / "gone.log", 30), aged(root / "qemu" / "gone.log.0", 31),
             aged(root / "top.log", 8)]
    fresh = aged(root / "qemu" / "fresh.log", 1)
    virtlogd = start_virtlogd(f'log_root = "{root}"\nmax_age_days = 7\n')
    wait_until(lambda: not any(p.exists() for p in stale), "the stale chains to be deleted")
    assert fresh.exists()

    quiet = root / "qemu" / "quiet.log"
    fd, _ = virtlogd.open(quiet)
    aged(quiet, 30)
    # A re-exec starts a new image, which sweeps again with the quiet log open.
    marker = aged(root / "qemu" / "marker.log", 30)
    virtlogd.daemon.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: not marker.exists(), "the sweep after the re-exec")
    assert quiet.exists() and virtlogd.is_open(quiet)

    os.close(fd)
    virtlogd.wait_closed(quiet)
    virtlogd.daemon.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: not quiet.exists(), "the closed quiet log to be deleted")
    assert fresh.exists()
