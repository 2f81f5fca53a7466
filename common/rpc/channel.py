"""One connected socket on the event loop: reads messages, writes packets and FDs.

We drive the raw non-blocking socket ourselves (add_reader/add_writer) rather
than asyncio streams, because FDs must be received with recvmsg() exactly as
they arrive and sent after their message with their own sendmsg().
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import deque
from typing import Callable, Sequence

from common.rpc.framing import PacketReader, send_fd
from common.rpc.protocol import FramingError, Message


class Channel:
    """Message framing over one connected AF_UNIX stream socket."""

    def __init__(
        self,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[Message], None],
        on_close: Callable[[str | None], None],
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._on_message = on_message
        self._on_close = on_close
        self._reader = PacketReader()
        self._out: deque[bytes | memoryview | int] = deque()
        self._reading = False
        self._writing = False
        self._paused = False
        self._close_when_flushed = False
        self.closed = False

    def start(self) -> None:
        self._set_reading(True)
        self._loop.call_soon(self._drain_buffer)

    def prefill(self, data: bytes) -> None:
        self._reader.prefill(data)

    def detach_for_reexec(self, timeout: float = 5.0) -> bytes:
        """Stop serving this socket but keep it open: write out what is queued (blocking,
        bounded by `timeout`) and return the unread input bytes for the next image."""
        self._set_reading(False)
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        self.sock.settimeout(timeout)
        try:
            while self._out:
                item = self._out.popleft()
                if isinstance(item, int):
                    send_fd(self.sock, item)
                    os.close(item)
                else:
                    self.sock.sendall(item)
        except OSError:
            self._out.clear()
        self.sock.setblocking(False)
        return self._reader.take_buffered()

    def pause(self) -> None:
        """Stop taking new messages (flow control); buffered ones wait too.

        The socket stays registered until data actually arrives while paused: a call
        answered in the same loop turn (the common case) then costs no epoll changes."""
        self._paused = True

    def resume(self) -> None:
        if not self._paused or self.closed:
            return
        self._paused = False
        self._drain_buffer()
        if not self._paused and not self.closed:
            self._set_reading(True)

    def _set_reading(self, on: bool) -> None:
        if on and not self._reading:
            self._loop.add_reader(self._fd, self._on_readable)
        elif not on and self._reading:
            self._loop.remove_reader(self._fd)
        self._reading = on

    def _on_readable(self) -> None:
        if self._paused:
            self._set_reading(False)
            return
        try:
            alive = self._reader.receive(self.sock)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self.close(f"read failed: {err.strerror}")
            return
        if not alive:
            self.close(None)
            return
        self._drain_buffer()

    def _drain_buffer(self) -> None:
        while not self._paused and not self.closed:
            try:
                msg = self._reader.next_message()
            except FramingError as err:
                self.close(str(err))
                return
            if msg is None:
                return
            self._on_message(msg)

    def send(self, packet: bytes, fds: Sequence[int] = ()) -> None:
        """Queue a packet and then its FDs (which the channel now owns and closes)."""
        if self.closed:
            for fd in fds:
                os.close(fd)
            return
        if not self._out and not fds:
            # The common case: nothing queued, one packet, no fds: write it straight away.
            try:
                sent = self.sock.send(packet)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as err:
                self.close(f"write failed: {err.strerror}")
                return
            if sent == len(packet):
                if self._close_when_flushed:
                    self.close(None)
                return
            packet = packet[sent:]
        self._out.append(packet)
        self._out.extend(fds)
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        out = self._out
        try:
            while out:
                item = out[0]
                if isinstance(item, int):
                    send_fd(self.sock, item)
                    os.close(item)
                    out.popleft()
                    continue
                sent = self.sock.send(item)
                if sent < len(item):
                    out[0] = memoryview(item)[sent:]
                else:
                    out.popleft()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as err:
            self.close(f"write failed: {err.strerror}")
            return
        if out and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not out:
            if self._writing:
                self._loop.remove_writer(self._fd)
                self._writing = False
            if self._close_when_flushed:
                self.close(None)

    def close_after_flush(self) -> None:
        """Close once everything queued has been written (libvirt's delayed close)."""
        self._close_when_flushed = True
        self.pause()
        if not self._out:
            self.close(None)


    def close(self, reason: str | None) -> None:
        """Close now; `reason` is None for an orderly end."""
        if self.closed:
            return
        self.closed = True
        self._set_reading(False)
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        for item in self._out:
            if isinstance(item, int):
                os.close(item)
        self._out.clear()
        self._reader.close()
        self.sock.close()
        self._on_close(reason)
