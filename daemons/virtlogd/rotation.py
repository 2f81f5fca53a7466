"""Size-bounded log files that roll over by renaming, named and cut the way libvirt does.

A chain is the live file PATH and its backups PATH.0 (newest) up to
PATH.<max_backups-1> (oldest). We never copy-and-truncate: a rollover renames
every file one slot older and opens a fresh PATH, so a reader holding an old
file keeps reading whole, unchanged data, and disk use stays within
(max_backups + 1) x max_size.
"""

from __future__ import annotations

import os
from typing import Callable

from common.errors import ErrorCode, ErrorDomain, VirtError

MAX_BACKUPS = 32
LINE_SEARCH = 80
"""How far back from a cut we look for a newline, so a line is not split across two files."""

FILE_MODE = 0o600

# libvirt's rotating-file helper reports with no error domain.
_DOMAIN = ErrorDomain.NONE


def backup_path(path: str, index: int) -> str:
    return f"{path}.{index}"


def chain_paths(path: str, max_backups: int) -> list[str]:
    """The chain oldest first: PATH.<max_backups-1> ... PATH.0, PATH."""
    return [backup_path(path, i) for i in reversed(range(max_backups))] + [path]


def delete_chain(path: str, max_backups: int) -> None:
    """Remove PATH and its backups (what the TRUNCATE flag of OPEN_LOG_FILE asks for)."""
    for name in [path] + [backup_path(path, i) for i in range(max_backups)]:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise VirtError.from_os_error(_DOMAIN, f"Unable to delete file {name}", err) from None


class RotatingWriter:
    """Appends to PATH, rolling the chain over whenever PATH would pass `max_size`.

    `max_size` 0 turns rollover off. `inode` and `offset` say where the next
    byte goes: clients remember them to read a log back from that point.
    """

    def __init__(self, path: str, max_size: int, max_backups: int,
                 on_rollover: Callable[[str], None] | None = None) -> None:
        if max_backups > MAX_BACKUPS:
            raise VirtError(ErrorCode.CONFIG_UNSUPPORTED, _DOMAIN,
                            f"Max backup {max_backups} must be less than or equal to {MAX_BACKUPS}")
        self.path = path
        self.max_size = max_size
        self.max_backups = max_backups
        self.inode = 0
        self.offset = 0
        self._fd: int | None = None
        self._on_rollover = on_rollover

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> None:
        """Open (creating) PATH for appending. The last component must not be a symlink."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.path, flags, FILE_MODE)
        except OSError as err:
            raise VirtError.from_os_error(_DOMAIN, f"Unable to open file: {self.path}",
                                          err) from None
        st = os.fstat(fd)
        self.close()
        self._fd = fd
        self.inode = st.st_ino
        self.offset = st.st_size

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def append(self, data: bytes | memoryview) -> None:
        """Write all of `data`, rolling over as often as the limit requires."""
        view = memoryview(data)
        if self._fd is None:
            self.open()
        limit = self.max_size
        while view:
            if limit and self.offset > limit:
                # Larger than allowed already (e.g. max_size was lowered): start afresh.
                self._rollover()
                continue
            count = len(view)
            roll_after = False
            if limit and self.offset + count > limit:
                count = limit - self.offset
                search_from = max(0, count - LINE_SEARCH)
                newline = view[search_from:count].tobytes().rfind(b"\n")
                if newline >= 0:
                    count = search_from + newline + 1
                roll_after = True
            self._write_all(view[:count])
            view = view[count:]
            if roll_after:
                self._rollover()

    def _write_all(self, view: memoryview) -> None:
        assert self._fd is not None
        while view:
            try:
                written = os.write(self._fd, view)
            except InterruptedError:
                continue
            except OSError as err:
                raise VirtError.from_os_error(_DOMAIN, f"Unable to write to file {self.path}",
                                              err) from None
            self.offset += written
            view = view[written:]

    def _rollover(self) -> None:
        """Shift every file one slot older (the oldest falls off) and open a fresh PATH."""
        self.close()
        if self.max_backups == 0:
            _remove(self.path)
        else:
            for index in reversed(range(1, self.max_backups)):
                _rename(backup_path(self.path, index - 1), backup_path(self.path, index))
            _rename(self.path, backup_path(self.path, 0))
        self.open()
        if self._on_rollover is not None:
            self._on_rollover(self.path)


def _rename(source: str, target: str) -> None:
    try:
        os.rename(source, target)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise VirtError.from_os_error(_DOMAIN, f"Unable to rename {source} to {target}",
                                      err) from None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise VirtError.from_os_error(_DOMAIN, f"Unable to remove {path}", err) from None


def read_chain(path: str, max_backups: int, inode: int, offset: int, maxlen: int) -> bytes:
    """Up to `maxlen` bytes of the chain, from `offset` in the file whose inode is `inode`.

    Reading continues from older files into newer ones, so a position taken
    before a rollover still finds its bytes (now in PATH.0). If no file has
    that inode any more, it was rotated out: we read from the start of the
    oldest file that remains (libvirt instead seeks to `offset` in the oldest
    slot, and fails when that slot does not exist).
    """
    files: list[tuple[str, int]] = []
    try:
        for name in chain_paths(path, max_backups):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise VirtError.from_os_error(_DOMAIN, f"Unable to open file: {name}",
                                              err) from None
            files.append((name, fd))
        start, position = 0, 0
        for index, (_name, fd) in enumerate(files):
            if os.fstat(fd).st_ino == inode:
                start, position = index, offset
                break
        chunks: list[bytes] = []
        remaining = maxlen
        for name, fd in files[start:]:
            while remaining > 0:
                try:
                    chunk = os.pread(fd, remaining, position)
                except OSError as err:
                    raise VirtError.from_os_error(_DOMAIN, f"Unable to read from file {name}",
                                                  err) from None
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
                position += len(chunk)
            position = 0
        return b"".join(chunks)
    finally:
        for _name, fd in files:
            os.close(fd)
