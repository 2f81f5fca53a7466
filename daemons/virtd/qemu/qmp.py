"""A minimal blocking QMP client: the QEMU monitor over its UNIX socket.

Used from worker threads only. Asynchronous events that arrive between a
command and its reply are kept in `events` for whoever cares.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from common.errors import ErrorCode, ErrorDomain, VirtError


class QmpError(VirtError):
    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU, detail)


class Qmp:
    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._sock.settimeout(timeout)
        self._buf = b""
        self._serial = 0
        try:
            self._sock.connect(path)
            greeting = self._read()
            if "QMP" not in greeting:
                raise QmpError(f"unexpected QMP greeting from {path}")
            self.execute("qmp_capabilities")
        except OSError as err:
            self._sock.close()
            raise QmpError(f"cannot talk to the QEMU monitor at {path}: {err.strerror}") from None

    @classmethod
    def connect(cls, path: str, deadline: float) -> "Qmp":
        """Connect once the monitor socket accepts (QEMU creates it while starting)."""
        while True:
            try:
                return cls(path)
            except QmpError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Qmp":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise QmpError(f"QEMU closed the monitor at {self.path}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return dict(json.loads(line))

    def execute(self, command: str, **arguments: Any) -> Any:
        self._serial += 1
        request: dict[str, Any] = {"execute": command, "id": self._serial}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            while True:
                reply = self._read()
                if "event" in reply:
                    self.events.append(reply)
                    continue
                if reply.get("id") != self._serial:
                    continue
                if "error" in reply:
                    raise QmpError(f"QEMU refused {command}: {reply['error'].get('desc')}")
                return reply.get("return")
        except OSError as err:
            raise QmpError(f"QEMU monitor failed during {command}: {err.strerror}") from None
