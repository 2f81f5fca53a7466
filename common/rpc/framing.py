"""Turning a byte stream with attached FDs into whole messages, and back.

FDs travel after a message's bytes, one per sendmsg() with a single 0x00 data
byte (reference §1.6). We always read with recvmsg() and queue the FDs that
arrive; a *_WITH_FDS message is complete once its dummy bytes are buffered,
by which time its FDs have been queued too.
"""

from __future__ import annotations

import array
import os
import socket
from collections import deque

from common.rpc.protocol import (
    HEADER_SIZE,
    LEN_SIZE,
    NUM_FDS_MAX,
    FramingError,
    Message,
    decode_fd_count,
    decode_header,
    decode_length,
)

READ_SIZE = 256 * 1024
_ANC_SIZE = socket.CMSG_SPACE(NUM_FDS_MAX * 4)


class PacketReader:
    """Accumulates received bytes and FDs and yields complete messages."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._fds: deque[int] = deque()

    def receive(self, sock: socket.socket) -> bool:
        """One recvmsg() into the buffer. False at EOF; BlockingIOError propagates."""
        data, ancdata, _flags, _addr = sock.recvmsg(READ_SIZE, _ANC_SIZE, socket.MSG_CMSG_CLOEXEC)
        for level, kind, raw in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(raw[: len(raw) - (len(raw) % fds.itemsize)])
                self._fds.extend(fds)
        if not data:
            return False
        self._buf += data
        return True

    def next_message(self) -> Message | None:
        """The next complete message, or None if more bytes are needed."""
        buf = self._buf
        if len(buf) < LEN_SIZE:
            return None
        body = decode_length(buf)
        end = LEN_SIZE + body
        if len(buf) < end:
            return None
        header = decode_header(buf, LEN_SIZE)
        pos = LEN_SIZE + HEADER_SIZE
        nfds = 0
        if header.carries_fds:
            nfds = decode_fd_count(buf, pos, end)
            pos += 4
        if len(buf) < end + nfds:
            return None
        if len(self._fds) < nfds:
            raise FramingError(f"message announced {nfds} FDs but {len(self._fds)} arrived")
        payload = bytes(buf[pos:end])
        fds = [self._fds.popleft() for _ in range(nfds)]
        del buf[: end + nfds]
        return Message(header, payload, fds)

    def take_buffered(self) -> bytes:
        """Hand over the bytes received but not yet consumed (for a re-exec)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def prefill(self, data: bytes) -> None:
        """Start with bytes a previous image had received but not consumed."""
        self._buf[:0] = data

    def close(self) -> None:
        """Close FDs that arrived but were never claimed by a message."""
        while self._fds:
            os.close(self._fds.popleft())


def send_fd(sock: socket.socket, fd: int) -> None:
    """Send one FD the libvirt way: one 0x00 byte carrying one SCM_RIGHTS fd."""
    socket.send_fds(sock, [b"\0"], [fd])
