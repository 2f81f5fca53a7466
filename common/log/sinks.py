"""The text destinations: stderr, an appended file, and syslog.

Each sink writes one record as told; deciding which records reach it is the
manager's job. A sink that cannot deliver drops the record (the caller ignores
OSError), as libvirt does: a daemon must not fail because its log is gone.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import sys
from typing import Protocol

from common.errors import ErrorDomain, VirtError
from common.log.priority import Priority
from common.log.text import message_text, source_module, text_line


class Sink(Protocol):
    def emit(self, record: logging.LogRecord) -> None: ...

    def close(self) -> None: ...


class StderrSink:
    """Writes to whatever sys.stderr is at the time, so a redirected stderr is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(text_line(record))
        sys.stderr.flush()

    def close(self) -> None:
        pass


class FileSink:
    """Appends text lines to one file, opened once (mode 0600, like libvirt's log files)."""

    def __init__(self, path: str) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise VirtError.from_os_error(ErrorDomain.NONE, f"failed to open {path}", err) from None

    def emit(self, record: logging.LogRecord) -> None:
        os.write(self._fd, text_line(record).encode("utf-8", "replace"))

    def close(self) -> None:
        os.close(self._fd)


class SyslogSink(logging.handlers.SysLogHandler):
    """stdlib's syslog client with libvirt's line body (`level : module : message`)."""

    def __init__(self, ident: str, address: str) -> None:
        _check_reachable(address)
        super().__init__(address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        self.ident = f"{ident}[{os.getpid()}]: "

    def format(self, record: logging.LogRecord) -> str:
        priority = Priority.of_record_level(record.levelno)
        return f"{priority.label} : {source_module(record.name)} : {message_text(record)}"

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record silently instead of printing a traceback per lost line."""


def _check_reachable(address: str) -> None:
    """Refuse a syslog output up front when nothing listens, rather than losing every record."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(address)
    except OSError as err:
        raise VirtError.from_os_error(
            ErrorDomain.NONE, f"cannot connect to syslog socket {address}", err
        ) from None
    finally:
        probe.close()
