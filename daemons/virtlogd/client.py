"""A blocking client of the log program, for virtd (and tests, and the benchmark).

It speaks libvirt's wire format, so it also works against libvirt's own
virtlogd. As libvirt's client does, it uses a fresh connection per task and
no keepalive; a pipe handed out by `open_log_file` outlives the connection.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.paths import Paths
from common.rpc.client import RpcClient
from daemons.virtlogd import protocol as p
from daemons.virtlogd.protocol import LogProc
from daemons.virtlogd.records import LogPosition

SOCKET_NAME = "virtlogd-sock"


def default_socket(paths: Paths) -> str:
    """Where virtlogd listens for this mode (system or session) unless unix_sock_dir moves it."""
    return os.path.join(paths.runtime_dir, SOCKET_NAME)


class LogClient:
    """One connection to virtlogd's log socket."""

    def __init__(self, socket_path: str, *, timeout: float | None = 30.0) -> None:
        self._rpc = RpcClient(socket_path, timeout=timeout)

    def __enter__(self) -> "LogClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._rpc.close()

    def open_log_file(self, driver: str, uuid: UUID, name: str, path: str, *,
                      truncate: bool = False) -> tuple[int, LogPosition]:
        """Open `path` for domain `name`; returns the pipe's write end (yours to close)
        and the position where its first byte will land."""
        flags = p.OPEN_LOG_FILE_TRUNCATE if truncate else 0
        ret, fds = self._call(LogProc.DOMAIN_OPEN_LOG_FILE, p.OpenArgs,
                              p.OpenArgs(driver, p.Domain(uuid.bytes, name), path, flags),
                              p.PositionRet)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.LOGGING,
                            f"Expected exactly one FD from logger but got {len(fds)}")
        return fds[0], LogPosition(ret.pos.inode, ret.pos.offset)

    def get_log_file_position(self, path: str) -> LogPosition:
        """Where the next byte of an open log will land (after what its pipe holds now)."""
        ret, _ = self._call(LogProc.DOMAIN_GET_LOG_FILE_POSITION, p.GetPositionArgs,
                            p.GetPositionArgs(path, 0), p.PositionRet)
        return LogPosition(ret.pos.inode, ret.pos.offset)

    def read_log_file(self, path: str, position: LogPosition, maxlen: int) -> bytes:
        """Up to `maxlen` bytes of the log from `position`, across rotated files."""
        ret, _ = self._call(LogProc.DOMAIN_READ_LOG_FILE, p.ReadArgs,
                            p.ReadArgs(path, p.Position(position.inode, position.offset),
                                       maxlen, 0), p.ReadRet)
        return ret.data

    def append_log_file(self, driver: str, uuid: UUID, name: str, path: str,
                        message: bytes | str) -> None:
        raw = message.encode() if isinstance(message, str) else message
        self._call(LogProc.DOMAIN_APPEND_LOG_FILE, p.AppendArgs,
                   p.AppendArgs(driver, p.Domain(uuid.bytes, name), path, raw, 0), p.AppendRet)

    def _call(self, proc: LogProc, args_type: Any, args: Any, ret_type: Any
              ) -> tuple[Any, list[int]]:
        return self._rpc.call(p.LOG_PROGRAM, p.LOG_VERSION, proc, args_type, args, ret_type)
