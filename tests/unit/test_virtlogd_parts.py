"""virtlogd's parts on their own: log-root confinement, journal lines, old-log cleaning."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from common.errors import ErrorCode, ErrorDomain, VirtError
from daemons.virtlogd.cleaner import sweep
from daemons.virtlogd.handler import domain_label
from daemons.virtlogd.mirror import MAX_LINE, JournalMirror
from daemons.virtlogd.records import DomainLabel
from daemons.virtlogd.roots import LogRoot

DEMO = DomainLabel("qemu", UUID("c7a5fdbd-edaf-9455-926a-d65c16db1809"), "demo")


# -- log root -----------------------------------------------------------------------


def test_a_path_below_the_root_is_accepted_in_resolved_form(tmp_path: Path) -> None:
    root = LogRoot(str(tmp_path / "logs"))
    assert root.confine(f"{tmp_path}/logs/qemu/../qemu//demo.log") == \
        f"{tmp_path}/logs/qemu/demo.log"


def test_the_root_is_created(tmp_path: Path) -> None:
    LogRoot(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize("path, code, text", [
    ("qemu/demo.log", ErrorCode.INVALID_ARG, "log file path 'qemu/demo.log' is not absolute"),
    ("/etc/passwd", ErrorCode.OPERATION_DENIED,
     "log file path '/etc/passwd' is outside the log root '{root}'"),
    ("{root}/../escape.log", ErrorCode.OPERATION_DENIED,
     "log file path '{root}/../escape.log' is outside the log root '{root}'"),
    ("{root}/", ErrorCode.INVALID_ARG, "log file path '{root}/' names the log root directory"),
])
def test_paths_outside_the_root_are_refused(tmp_path: Path, path: str, code: int,
                                            text: str) -> None:
    root = LogRoot(str(tmp_path))
    with pytest.raises(VirtError) as err:
        root.confine(path.format(root=tmp_path))
    assert err.value.code == code
    assert err.value.domain == ErrorDomain.LOGGING
    assert text.format(root=tmp_path) in err.value.message


def test_a_symlink_leading_out_of_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "qemu").symlink_to("/etc")
    root = LogRoot(str(tmp_path / "logs"))
    with pytest.raises(VirtError) as err:
        root.confine(f"{tmp_path}/logs/qemu/passwd")
    assert err.value.message == (
        f"operation forbidden: log file path '{tmp_path}/logs/qemu/passwd' leads through a "
        f"symbolic link to '/etc/passwd', outside the log root '{tmp_path}/logs'")


def test_driver_names_are_plain_words() -> None:
    assert domain_label("qemu", DEMO.uuid.bytes, "demo") == DEMO
    for bad in ("", "../qemu", "qemu driver"):
        with pytest.raises(VirtError, match="invalid argument: driver name"):
            domain_label(bad, DEMO.uuid.bytes, "demo")


# -- journal mirror ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mirror(rate: int) -> tuple[JournalMirror, list[dict[str, Any]], Clock]:
    sent: list[dict[str, Any]] = []
    clock = Clock()
    return JournalMirror(DEMO, rate, lambda **f: sent.append(f), clock), sent, clock


def test_each_line_becomes_one_record_with_the_domain_fields() -> None:
    m, sent, _ = mirror(0)
    m.feed(b"Booting from Hard Disk...\r\nSeaBIOS (vers")
    m.feed(b"ion 1.16)\n\xff\xfe\n")
    assert [r["MESSAGE"] for r in sent] == ["Booting from Hard Disk...", "SeaBIOS (version 1.16)",
                                            "\ufffd\ufffd"]
    assert sent[0]["VIRTD_DOMAIN_NAME"] == "demo"
    assert sent[0]["VIRTD_DOMAIN_UUID"] == "c7a5fdbd-edaf-9455-926a-d65c16db1809"
    assert sent[0]["SYSLOG_IDENTIFIER"] == "qemu-demo"


def test_an_unfinished_last_line_is_sent_when_the_pipe_ends() -> None:
    m, sent, _ = mirror(0)
    m.feed(b"login: ")
    assert sent == []
    m.flush()
    assert [r["MESSAGE"] for r in sent] == ["login: "]


def test_a_run_without_newline_is_sent_once_it_reaches_the_line_limit() -> None:
    m, sent, _ = mirror(0)
    m.feed(b"x" * (MAX_LINE - 1))
    assert sent == []
    m.feed(b"x" * 11)
    assert [len(r["MESSAGE"]) for r in sent] == [MAX_LINE + 10]


def test_lines_beyond_the_rate_are_counted_and_reported_in_the_next_second() -> None:
    m, sent, clock = mirror(3)
    m.feed(b"".join(b"%d\n" % i for i in range(10)))
    assert [r["MESSAGE"] for r in sent] == ["0", "1", "2"]
    clock.now += 1.0
    m.feed(b"10\n")
    assert [r["MESSAGE"] for r in sent[3:]] == [
        "7 lines of output not sent to the journal (more than 3 lines per second)", "10"]
    assert sent[3]["PRIORITY"] == "4"


# -- cleaner -----------------------------------------------------------------------------


def make(path: Path, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x\n")
    then = time.time() - age_days * 86400
    os.utime(path, (then, then))
    return path


def test_old_chains_go_recent_and_open_ones_stay(tmp_path: Path) -> None:
    old = [make(tmp_path / "qemu" / "old.log", 10), make(tmp_path / "qemu" / "old.log.0", 12)]
    mixed = [make(tmp_path / "qemu" / "mixed.log", 1), make(tmp_path / "qemu" / "mixed.log.0", 30)]
    open_old = make(tmp_path / "qemu" / "quiet.log", 40)
    top = make(tmp_path / "top.log", 9)
    deep = make(tmp_path / "a" / "b" / "deep.log", 50)
    other = make(tmp_path / "qemu" / "notes.txt", 50)
    deleted = sweep(str(tmp_path), 7, 3, {str(open_old)})
    assert sorted(deleted) == sorted(map(str, [*old, top]))
    for kept in (*mixed, open_old, deep, other):
        assert kept.exists()


def test_backups_beyond_max_backups_are_deleted(tmp_path: Path) -> None:
    live = make(tmp_path / "demo.log", 0)
    kept = make(tmp_path / "demo.log.2", 0)
    extra = make(tmp_path / "demo.log.3", 0)
    assert sweep(str(tmp_path), 7, 3, {str(live)}) == [str(extra)]
    assert live.exists() and kept.exists()


def test_symlinks_are_never_followed_or_deleted(tmp_path: Path) -> None:
    outside = make(tmp_path / "outside" / "victim.log", 100)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "link.log").symlink_to(outside)
    (tmp_path / "logs" / "linkdir").symlink_to(outside.parent)
    assert sweep(str(tmp_path / "logs"), 7, 3, set()) == []
    assert outside.exists()
