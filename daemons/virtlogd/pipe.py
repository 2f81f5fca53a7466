"""One open domain log: the read end of its pipe, drained into a rotating writer.

The event loop reads the pipe as data arrives and appends it to the file at
once, so nothing is ever buffered in this process: whatever a crash or a
re-exec interrupts is still in the kernel's pipe buffer. That buffer is
enlarged to the system maximum so a writer keeps going, without blocking,
while virtlogd restarts.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import termios
from typing import Callable

from common.errors import VirtError
from common.log.fields import fields, log_error
from daemons.virtlogd.records import DomainLabel
from daemons.virtlogd.mirror import JournalMirror
from daemons.virtlogd.rotation import RotatingWriter

log = logging.getLogger("virtd.virtlogd.pipe")

PIPE_MAX_SIZE_FILE = "/proc/sys/fs/pipe-max-size"
MIN_PIPE_SIZE = 65536
READ_BUFFER = 1 << 20
"""One pipe's worth (pipe-max-size is 1 MiB by default): a full pipe drains in one read."""


def enlarge_pipe(fd: int) -> int:
    """Grow the pipe's buffer as far as we may (pipe-max-size); returns its size."""
    try:
        with open(PIPE_MAX_SIZE_FILE, encoding="ascii") as f:
            size = int(f.read())
    except (OSError, ValueError):
        size = 1 << 20
    while size > MIN_PIPE_SIZE:
        try:
            return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
        except PermissionError:
            # An unprivileged user over pipe-user-pages-soft: take what we can get.
            size //= 2
        except OSError:
            break
    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def _bytes_in_pipe(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


class LogPipe:
    """Reads one pipe on the event loop and appends everything to its log file.

    A failing write (disk full) drops that chunk and logs once per failure
    spell rather than closing the pipe as libvirt does, which would hand the
    guest an EPIPE for a problem on the host.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, read_fd: int, writer: RotatingWriter,
                 domain: DomainLabel, mirror: JournalMirror | None, buffer: bytearray,
                 on_eof: Callable[["LogPipe"], None]) -> None:
        self.read_fd = read_fd
        self.writer = writer
        self.domain = domain
        self.mirror = mirror
        self._loop = loop
        self._buffer = buffer
        self._on_eof = on_eof
        self._failing = False
        self.closed = False
        os.set_blocking(read_fd, False)

    @property
    def path(self) -> str:
        return self.writer.path

    def start(self) -> None:
        self._loop.add_reader(self.read_fd, self._read_once)

    def drain(self) -> None:
        """Append what the pipe holds now (before a position is reported or read).

        Only that much: a writer outpacing us must not keep the call from returning.
        """
        pending = _bytes_in_pipe(self.read_fd)
        while pending > 0 and not self.closed:
            got = self._read_once(pending)
            if got == 0:
                break
            pending -= got

    def close(self) -> None:
        """Stop reading and close both the pipe's read end and the file."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self.read_fd)
        os.close(self.read_fd)
        self.writer.close()
        if self.mirror is not None:
            self.mirror.flush()

    def _read_once(self, limit: int = READ_BUFFER) -> int:
        """One read (of at most `limit` bytes) appended to the file; returns the byte count."""
        try:
            with memoryview(self._buffer) as view:
                count = os.readv(self.read_fd, [view[:limit]])
                if count:
                    self._store(view[:count])
                    return count
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as err:
            log.error("cannot read the log pipe of %s: %s", self.path, err.strerror,
                      extra=self._fields())
        self.close()
        self._on_eof(self)
        return 0

    def _store(self, data: memoryview) -> None:
        try:
            self.writer.append(data)
        except VirtError as err:
            if not self._failing:
                log_error(log, err, **self._context())
                self._failing = True
        else:
            if self._failing:
                log.info("writing to %s works again", self.path, extra=self._fields())
                self._failing = False
        if self.mirror is not None:
            self.mirror.feed(data)

    def _context(self) -> dict[str, object]:
        return {"domain_name": self.domain.name, "domain_uuid": str(self.domain.uuid)}

    def _fields(self) -> dict[str, object]:
        return fields(**self._context())
