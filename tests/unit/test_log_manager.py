"""The live logging configuration of a daemon, observed through real outputs.

Records go through the stdlib loggers our modules use, into real files, a real
syslog datagram socket, and real child processes' stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import queue
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log import LogConfig, LogManager, startup_config

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: (?P<pid>\d+): (?P<level>\w+) : "
    r"(?P<module>[\w.]+) : (?P<message>.*)"
)

server_log = logging.getLogger("virtd.rpc.server")
util_log = logging.getLogger("virtd.util.json")


@pytest.fixture
def make_manager(tmp_path):
    made: list[LogManager] = []

    def make(**options) -> LogManager:
        options.setdefault("journal_socket", str(tmp_path / "no-journald-here"))
        manager = LogManager("virtd", **options)
        manager.install()
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


def messages(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [LINE.fullmatch(line).group("message") for line in path.read_text().splitlines()]


# --- the text line ---------------------------------------------------------


def test_file_line_has_libvirt_layout(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_outputs(f"2:file:{log_file}")
    server_log.warning("client %d refused", 7)
    line = log_file.read_text()
    assert line.endswith("\n")
    fields = LINE.fullmatch(line.rstrip("\n")).groupdict()
    assert fields == {
        "pid": str(os.getpid()),
        "level": "warning",
        "module": "rpc.server",
        "message": "client 7 refused",
    }


def test_records_of_other_libraries_keep_their_logger_name(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    make_manager().set_outputs(f"3:file:{log_file}")
    logging.getLogger("asyncio").error("task exploded")
    assert LINE.fullmatch(log_file.read_text().rstrip("\n"))["module"] == "asyncio"


def test_virt_error_is_logged_without_traceback_other_errors_with(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    make_manager().set_outputs(f"4:file:{log_file}")
    try:
        raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE, "bad flags")
    except VirtError:
        server_log.exception("call failed")
    try:
        {}["missing"]
    except KeyError:
        server_log.exception("handler crashed")
    text = log_file.read_text()
    first, rest = text.split("\n", 1)
    assert LINE.fullmatch(first)["message"] == "call failed"
    assert "Traceback" not in first and "VirtError" not in text
    assert rest.splitlines()[0].endswith(": error : rpc.server : handler crashed")
    assert "Traceback (most recent call last):" in rest and "KeyError: 'missing'" in rest


# --- filters and levels, through a real file --------------------------------


def test_debug_record_reaches_a_debug_file_output(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_level(1)
    manager.set_outputs(f"1:file:{log_file}")
    server_log.debug("dispatching call 3")
    assert messages(log_file) == ["dispatching call 3"]


def test_filter_suppresses_a_module(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_level(1)
    manager.set_outputs(f"1:file:{log_file}")
    manager.set_filters("4:rpc")
    server_log.debug("dispatching call 3")
    server_log.warning("queue almost full")
    util_log.debug("parsed reply")
    server_log.error("client gone")
    assert messages(log_file) == ["parsed reply", "client gone"]


@pytest.mark.parametrize(
    ("filters", "shown"),
    [("4:rpc 1:rpc.server", False), ("1:rpc.server 4:rpc", True), ("1:server 4:rpc", True)],
)
def test_first_matching_filter_wins(make_manager, tmp_path, filters, shown):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_outputs(f"1:file:{log_file}")
    manager.set_filters(filters)
    server_log.debug("dispatching call 3")
    assert messages(log_file) == (["dispatching call 3"] if shown else [])


def test_filter_raises_the_threshold_of_one_module_only(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()  # global level stays 3
    manager.set_outputs(f"1:file:{log_file}")
    manager.set_filters("4:util")
    server_log.debug("dispatching call 3")
    util_log.debug("parsed reply")
    util_log.warning("reply truncated")
    util_log.error("reply lost")
    assert messages(log_file) == ["dispatching call 3", "reply lost"]


def test_a_debug_output_gets_debug_records_without_lowering_the_level(make_manager, tmp_path):
    verbose, normal = tmp_path / "debug.log", tmp_path / "normal.log"
    manager = make_manager()  # global level stays 3
    manager.set_outputs(f"1:file:{verbose} 3:file:{normal}")
    server_log.debug("dispatching call 3")
    server_log.warning("client slow")
    assert messages(verbose) == ["dispatching call 3", "client slow"]
    assert messages(normal) == ["client slow"]


def test_each_output_applies_its_own_priority(make_manager, tmp_path):
    verbose, quiet = tmp_path / "debug.log", tmp_path / "errors.log"
    manager = make_manager()
    manager.set_level(1)
    manager.set_outputs(f"1:file:{verbose} 4:file:{quiet}")
    server_log.info("client connected")
    server_log.error("client crashed")
    assert messages(verbose) == ["client connected", "client crashed"]
    assert messages(quiet) == ["client crashed"]


def test_global_level_change_applies_to_modules_already_seen(make_manager, tmp_path):
    manager = make_manager()  # default output, which follows the level
    records = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    server_log.addHandler(handler)
    try:
        server_log.info("before")
        manager.set_level(2)
        server_log.info("after")
    finally:
        server_log.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["after"]


def test_clearing_filters(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_outputs(f"1:file:{log_file}")
    manager.set_filters("4:rpc")
    assert manager.get_filters() == ("4:*rpc* ", 1)
    server_log.debug("silenced by the filter")
    manager.set_filters("")
    assert manager.get_filters() == (None, 0)
    server_log.debug("dispatching call 3")
    manager.set_filters("4:rpc")
    manager.set_filters(None)
    assert manager.get_filters() == (None, 0)
    assert messages(log_file) == ["dispatching call 3"]


# --- admin read-back --------------------------------------------------------


def test_get_filters_and_outputs_read_back_like_libvirt(make_manager, tmp_path):
    manager = make_manager()
    manager.set_filters("1:util  4:+rpc")
    manager.set_outputs(f"1:stderr 3:file:{tmp_path}/a.log 2:stderr")
    assert manager.get_filters() == ("1:*util* 4:*rpc* ", 2)
    assert manager.get_outputs() == (f"3:file:{tmp_path}/a.log 2:stderr", 2)


def test_empty_outputs_restore_the_default_which_follows_the_level(make_manager, tmp_path):
    manager = make_manager()
    assert manager.get_outputs() == ("3:stderr", 1)
    manager.set_outputs(f"1:file:{tmp_path}/a.log")
    manager.set_outputs("")
    assert manager.get_outputs() == ("3:stderr", 1)
    manager.set_level(1)
    assert manager.get_outputs() == ("1:stderr", 1)
    manager.set_outputs("4:stderr")
    manager.set_level(2)
    assert manager.get_outputs() == ("4:stderr", 1)  # configured outputs keep their priority
    manager.set_outputs(None)
    assert manager.get_outputs() == ("2:stderr", 1)


# --- failures leave the running configuration alone ------------------------


def test_file_in_missing_directory_is_refused_and_nothing_changes(make_manager, tmp_path):
    good = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_outputs(f"3:file:{good}")
    with pytest.raises(VirtError) as caught:
        manager.set_outputs(f"1:stderr 1:file:{tmp_path}/nope/virtd.log")
    assert (caught.value.code, caught.value.domain) == (ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE)
    assert caught.value.message == (
        f"failed to open {tmp_path}/nope/virtd.log: No such file or directory"
    )
    assert manager.get_outputs() == (f"3:file:{good}", 1)
    server_log.warning("still logging")
    assert messages(good) == ["still logging"]


def test_invalid_settings_are_refused_and_nothing_changes(make_manager):
    manager = make_manager()
    manager.set_filters("2:qemu")
    with pytest.raises(VirtError, match=r"^invalid argument: Invalid priority '7' for filter"):
        manager.set_filters("1:util 7:rpc")
    with pytest.raises(VirtError, match=r"^invalid argument: Invalid destination 'tty'"):
        manager.set_outputs("1:tty")
    with pytest.raises(VirtError) as caught:
        manager.set_level(0)
    assert caught.value.message == (
        "invalid argument: Failed to set logging priority, argument '0' is invalid"
    )
    with pytest.raises(VirtError):
        manager.apply(LogConfig(level=1, filters="1:util", outputs="1:file"))
    assert manager.level == 3
    assert manager.get_filters() == ("2:*qemu* ", 1)
    assert manager.get_outputs() == ("3:stderr", 1)


# --- file handling ----------------------------------------------------------


def open_paths() -> set[str]:
    fds = Path("/proc/self/fd")
    paths = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the directory's own fd is gone when read
            paths.add(os.readlink(fd))
    return paths


def test_changing_the_file_path_closes_the_old_file(make_manager, tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    manager = make_manager()
    manager.set_outputs(f"3:file:{first}")
    server_log.warning("one")
    manager.set_outputs(f"3:file:{second}")
    server_log.warning("two")
    assert messages(first) == ["one"]
    assert messages(second) == ["two"]
    assert str(first) not in open_paths()
    assert str(second) in open_paths()
    assert oct(second.stat().st_mode & 0o777) == "0o600"


def test_file_is_appended_to_not_truncated(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    log_file.write_text("2024-01-01 10:00:00.000+0000: 1: info : old : from last run\n")
    make_manager().set_outputs(f"3:file:{log_file}")
    server_log.warning("new run")
    assert messages(log_file) == ["from last run", "new run"]


def test_close_detaches_and_closes_files(tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = LogManager("virtd", journal_socket=str(tmp_path / "none"))
    manager.install()
    manager.set_outputs(f"3:file:{log_file}")
    manager.close()
    server_log.error("after close")
    assert messages(log_file) == []
    assert str(log_file) not in open_paths()


# --- live changes while other threads log -----------------------------------


def test_change_made_in_one_thread_applies_at_once_in_another(make_manager, tmp_path):
    log_file = tmp_path / "virtd.log"
    manager = make_manager()
    manager.set_outputs(f"1:file:{log_file}")
    requests: queue.Queue[str | None] = queue.Queue()
    done: queue.Queue[str] = queue.Queue()

    def worker() -> None:
        while (text := requests.get()) is not None:
            server_log.debug(text)
            done.put(text)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        manager.set_filters("4:rpc")
        requests.put("before the change")
        assert done.get(timeout=10) == "before the change"
        manager.set_filters("1:rpc.server")
        requests.put("after the change")
        assert done.get(timeout=10) == "after the change"
        manager.set_filters("4:rpc")
        requests.put("after the second change")
        assert done.get(timeout=10) == "after the second change"
    finally:
        requests.put(None)
        thread.join()
    assert messages(log_file) == ["after the change"]


def test_no_record_is_lost_or_torn_while_outputs_are_switched(make_manager, tmp_path):
    files = [tmp_path / "a.log", tmp_path / "b.log"]
    manager = make_manager()
    manager.set_outputs(f"4:file:{files[0]}")
    threads, per_thread = 4, 400
    start = threading.Barrier(threads + 1)

    def worker(number: int) -> None:
        start.wait()
        for index in range(per_thread):
            server_log.error("worker %d record %d", number, index)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    switches = 0
    while any(thread.is_alive() for thread in workers):
        manager.set_outputs(f"4:file:{files[switches % 2]}")
        switches += 1
    for thread in workers:
        thread.join()
    logged = messages(files[0]) + messages(files[1])
    expected = {f"worker {n} record {i}" for n in range(threads) for i in range(per_thread)}
    assert sorted(logged) == sorted(expected)


# --- syslog -----------------------------------------------------------------


def test_syslog_output_sends_datagrams_with_ident(make_manager, tmp_path):
    address = str(tmp_path / "dev-log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslogd:
        syslogd.bind(address)
        syslogd.settimeout(10)
        manager = make_manager(syslog_socket=address)
        manager.set_outputs("2:syslog:virtd-test")
        assert manager.get_outputs() == ("2:syslog:virtd-test", 1)
        server_log.warning("disk almost full")
        datagram = syslogd.recv(4096)
    # facility daemon (3) * 8 + warning (4)
    assert (
        datagram
        == f"<28>virtd-test[{os.getpid()}]: warning : rpc.server : disk almost full\x00".encode()
    )


def test_syslog_output_without_syslog_daemon_is_refused(make_manager, tmp_path):
    missing = str(tmp_path / "dev-log")
    manager = make_manager(syslog_socket=missing)
    with pytest.raises(VirtError) as caught:
        manager.set_outputs("2:syslog:virtd")
    assert caught.value.code == ErrorCode.SYSTEM_ERROR
    assert caught.value.message == (
        f"cannot connect to syslog socket {missing}: No such file or directory"
    )
    assert manager.get_outputs() == ("3:stderr", 1)


# --- startup precedence -----------------------------------------------------


def test_environment_overrides_config_file():
    config = LogConfig(level=4, filters="1:qemu", outputs="3:stderr")
    environ = {
        "VIRTD_DEBUG": "info",
        "VIRTD_LOG_FILTERS": "1:rpc",
        "VIRTD_LOG_OUTPUTS": "1:journald",
    }
    assert startup_config(config, environ, verbose=False) == LogConfig(2, "1:rpc", "1:journald")


def test_empty_environment_variables_count_as_unset():
    config = LogConfig(level=4, filters="1:qemu", outputs="3:stderr")
    environ = {"VIRTD_DEBUG": "", "VIRTD_LOG_FILTERS": "", "VIRTD_LOG_OUTPUTS": ""}
    assert startup_config(config, environ, verbose=False) == config


@pytest.mark.parametrize(
    ("configured", "environ", "level"),
    [
        (4, {}, 2),
        (3, {}, 2),
        (2, {}, 2),
        (1, {}, 1),
        (4, {"VIRTD_DEBUG": "1"}, 1),
        (1, {"VIRTD_DEBUG": "4"}, 2),
    ],
)
def test_verbose_raises_to_info_but_never_lowers(configured, environ, level):
    assert startup_config(LogConfig(level=configured), environ, verbose=True).level == level


def test_bad_environment_level_is_a_clear_error():
    with pytest.raises(VirtError) as caught:
        startup_config(LogConfig(), {"VIRTD_DEBUG": "chatty"}, verbose=False)
    assert caught.value.message == (
        "invalid argument: Failed to set logging priority, argument 'chatty' is invalid"
    )


# --- default output, decided by the real process's stdin and socket ----------

_PROBE = """
import logging, sys
from common.log import LogConfig, LogManager
manager = LogManager("virtd", journal_socket=sys.argv[1])
manager.apply(LogConfig(level=int(sys.argv[2])))
manager.install()
print(manager.get_outputs()[0], flush=True)
logging.getLogger("virtd.daemon").warning("started")
"""


def run_probe(journal_socket: str, level: int, stdin) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, journal_socket, str(level)],
        stdin=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=True,
    )


@pytest.fixture
def journald_socket(tmp_path):
    path = tmp_path / "journal-socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        yield str(path)


def test_default_is_journald_when_reachable_and_stdin_is_not_a_tty(journald_socket):
    result = run_probe(journald_socket, 3, subprocess.DEVNULL)
    assert result.stdout == "3:journald\n"
    assert result.stderr == ""


def test_default_journald_never_gets_debug(journald_socket):
    assert run_probe(journald_socket, 1, subprocess.DEVNULL).stdout == "2:journald\n"


def test_default_is_stderr_on_a_terminal(journald_socket):
    controller, terminal = pty.openpty()
    try:
        result = run_probe(journald_socket, 3, terminal)
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.stdout == "3:stderr\n"
    assert LINE.fullmatch(result.stderr.rstrip("\n"))["message"] == "started"


def test_default_is_stderr_without_journald(tmp_path):
    result = run_probe(str(tmp_path / "absent"), 1, subprocess.DEVNULL)
    assert result.stdout == "1:stderr\n"
    assert result.stderr.endswith(": warning : daemon : started\n")
