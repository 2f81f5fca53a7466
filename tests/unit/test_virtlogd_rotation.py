"""Rotating log files: libvirt's cut rule and file names, bounded size, reading across rotations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.errors import ErrorCode, VirtError
from daemons.virtlogd.rotation import RotatingWriter, chain_paths, delete_chain, read_chain


def lines(first: int, count: int) -> bytes:
    """Ten-byte lines "line NNNN\\n"."""
    return b"".join(b"line %04d\n" % i for i in range(first, first + count))


def chain_bytes(path: Path, backups: int) -> bytes:
    return b"".join(Path(p).read_bytes() for p in chain_paths(str(path), backups)
                    if os.path.exists(p))


def writer(path: Path, max_size: int, backups: int) -> RotatingWriter:
    w = RotatingWriter(str(path), max_size, backups)
    w.open()
    return w


def test_backups_are_named_path_dot_0_newest_to_path_dot_n_minus_1_oldest(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 100, 3)
    for i in range(10):
        w.append(lines(i * 10, 10))
    w.close()
    assert sorted(os.listdir(tmp_path)) == ["demo.log", "demo.log.0", "demo.log.1", "demo.log.2"]
    # The newest backup holds the lines just before the live file's.
    assert log.read_bytes() == lines(90, 10)
    assert (tmp_path / "demo.log.0").read_bytes() == lines(80, 10)
    assert (tmp_path / "demo.log.2").read_bytes() == lines(60, 10)


def test_a_cut_moves_back_to_just_after_a_newline_in_the_last_80_bytes(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 1000, 2)
    w.append(lines(0, 150))
    w.close()
    # 1000 bytes would split line 100; the newline ending line 99 is within 80 bytes of the limit.
    assert (tmp_path / "demo.log.0").read_bytes() == lines(0, 100)
    assert log.read_bytes() == lines(100, 50)


def test_a_cut_with_no_newline_in_the_last_80_bytes_is_exactly_at_the_limit(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 1000, 2)
    data = b"x" * 950 + b"\n" + b"y" * 500
    w.append(data)
    w.close()
    # The only newline is 49 bytes before the limit: within 80, so the cut comes after it.
    assert (tmp_path / "demo.log.0").read_bytes() == data[:951]
    w = writer(tmp_path / "other.log", 1000, 2)
    w.append(b"z" * 2500)
    w.close()
    assert [os.path.getsize(tmp_path / n) for n in ("other.log.1", "other.log.0", "other.log")] \
        == [1000, 1000, 500]


def test_no_file_ever_exceeds_max_size_and_nothing_is_lost_within_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 333, 4)
    written = lines(0, 300)
    for start in range(0, len(written), 77):
        w.append(written[start:start + 77])
    w.close()
    for path in chain_paths(str(log), 4):
        assert os.path.getsize(path) <= 333
    kept = chain_bytes(log, 4)
    assert written.endswith(kept) and len(kept) > 3 * 333 - 80 * 4


def test_without_backups_a_full_file_is_deleted_and_started_afresh(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 100, 0)
    w.append(lines(0, 25))
    w.close()
    assert os.listdir(tmp_path) == ["demo.log"]
    assert log.read_bytes() == lines(20, 5)


def test_max_size_0_never_rotates(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 0, 3)
    w.append(lines(0, 10000))
    w.close()
    assert os.listdir(tmp_path) == ["demo.log"]
    assert log.stat().st_size == 100000


def test_a_file_already_over_the_limit_is_rolled_over_before_writing(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    log.write_bytes(b"old\n" * 100)
    w = writer(log, 100, 1)
    assert w.offset == 400
    w.append(b"new\n")
    w.close()
    assert (tmp_path / "demo.log.0").read_bytes() == b"old\n" * 100
    assert log.read_bytes() == b"new\n"


def test_position_is_the_inode_and_size_of_the_live_file(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    log.write_bytes(b"12345")
    w = writer(log, 0, 3)
    assert (w.inode, w.offset) == (log.stat().st_ino, 5)
    w.append(b"678")
    assert w.offset == 8
    w.close()


def test_a_symlink_as_the_log_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo.log").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(VirtError) as err:
        writer(tmp_path / "demo.log", 0, 3)
    assert err.value.code == ErrorCode.SYSTEM_ERROR
    assert err.value.message == (f"Unable to open file: {tmp_path / 'demo.log'}: "
                                 "Too many levels of symbolic links")
    assert not (tmp_path / "elsewhere").exists()


def test_more_than_32_backups_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VirtError, match="Max backup 33 must be less than or equal to 32"):
        RotatingWriter(str(tmp_path / "demo.log"), 100, 33)


def test_delete_chain_removes_the_live_file_and_every_backup(tmp_path: Path) -> None:
    for name in ("demo.log", "demo.log.0", "demo.log.2", "other.log"):
        (tmp_path / name).write_bytes(b"x")
    delete_chain(str(tmp_path / "demo.log"), 3)
    assert os.listdir(tmp_path) == ["other.log"]


def test_read_from_a_position_continues_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 1000, 3)
    w.append(lines(0, 60))
    start = (w.inode, w.offset)
    w.append(lines(60, 100))  # rotates: the position's file is now demo.log.0
    w.close()
    assert os.path.exists(tmp_path / "demo.log.0")
    assert read_chain(str(log), 3, *start, 1 << 20) == lines(60, 100)
    assert read_chain(str(log), 3, *start, 25) == lines(60, 100)[:25]


def test_read_from_a_file_no_longer_there_starts_at_the_oldest_kept_byte(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    w = writer(log, 100, 1)
    w.append(lines(0, 40))
    w.close()
    # Inode 0 is never a file's (a real rotated-away inode may be reused by a newer file).
    assert read_chain(str(log), 1, 0, 5, 1 << 20) == lines(20, 20)


def test_read_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert read_chain(str(tmp_path / "none.log"), 3, 0, 0, 100) == b""
