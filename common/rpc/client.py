"""A blocking client connection: used by virtd-admin, tests and daemon-to-daemon calls.

Speaks the same framing as the server, answers keepalive PINGs, hands events
(MESSAGE packets) to a callback, and raises VirtError for error replies.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, Sequence

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.rpc.framing import PacketReader, send_fd
from common.rpc.protocol import (
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROC_PONG,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_VERSION,
    FramingError,
    Header,
    Message,
    MessageStatus,
    MessageType,
    decode_error,
    encode_packet,
)

EventHandler = Callable[[Message], None]


class RpcClient:
    """One connection to one of our (or libvirt's) daemons' sockets."""

    def __init__(self, path: str, *, timeout: float | None = None,
                 on_event: EventHandler | None = None) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as err:
            self.sock.close()
            raise VirtError.from_os_error(
                ErrorDomain.RPC, f"Failed to connect socket to '{path}'", err
            ) from None
        self._reader = PacketReader()
        self._serial = 0
        self._on_event = on_event

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(
        self,
        prog: int,
        vers: int,
        proc: int,
        args_type: xdr.XdrType,
        args: Any,
        ret_type: xdr.XdrType,
        fds: Sequence[int] = (),
    ) -> tuple[Any, list[int]]:
        """Make one call and wait for its reply; returns (ret, received fds)."""
        serial = self._serial
        self._serial += 1
        payload = bytearray()
        args_type.pack(args, payload)
        kind = MessageType.CALL_WITH_FDS if fds else MessageType.CALL
        header = Header(prog, vers, proc, kind, serial, MessageStatus.OK)
        try:
            self.sock.sendall(encode_packet(header, payload, len(fds)))
            for fd in fds:
                send_fd(self.sock, fd)
        except OSError as err:
            raise self._io_error(err) from None
        reply = self._wait_reply(prog, vers, serial)
        if reply.header.proc != proc:
            raise VirtError(ErrorCode.RPC, ErrorDomain.RPC, "Unexpected message proc")
        if reply.header.status == MessageStatus.ERROR:
            raise decode_error(reply.payload)
        try:
            return ret_type.decode(reply.payload), reply.fds
        except xdr.XdrError as exc:
            raise VirtError(ErrorCode.RPC, ErrorDomain.RPC,
                            f"Unable to decode message payload: {exc}") from None

    def _wait_reply(self, prog: int, vers: int, serial: int) -> Message:
        while True:
            msg = self._read_message()
            h = msg.header
            if self._handle_keepalive(msg):
                continue
            if h.type == MessageType.MESSAGE:
                if self._on_event is not None:
                    self._on_event(msg)
                continue
            if h.type in (MessageType.REPLY, MessageType.REPLY_WITH_FDS) and (
                h.prog, h.vers, h.serial) == (prog, vers, serial):
                return msg
            for fd in msg.fds:
                os.close(fd)
            raise VirtError(ErrorCode.RPC, ErrorDomain.RPC,
                            f"Unexpected message type {h.type} serial {h.serial}")

    def _handle_keepalive(self, msg: Message) -> bool:
        h = msg.header
        if h.prog != KEEPALIVE_PROGRAM or h.vers != KEEPALIVE_VERSION or h.type != MessageType.MESSAGE:
            return False
        if h.proc == KEEPALIVE_PROC_PING:
            pong = Header(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PONG,
                          MessageType.MESSAGE, 0, MessageStatus.OK)
            self.sock.sendall(encode_packet(pong, b""))
        return True

    def _read_message(self) -> Message:
        while True:
            try:
                msg = self._reader.next_message()
            except FramingError as exc:
                raise VirtError(ErrorCode.RPC, ErrorDomain.RPC, str(exc)) from None
            if msg is not None:
                return msg
            try:
                alive = self._reader.receive(self.sock)
            except OSError as err:
                raise self._io_error(err) from None
            if not alive:
                raise VirtError(ErrorCode.RPC, ErrorDomain.RPC, "End of file while reading data")

    def _io_error(self, err: OSError) -> VirtError:
        if isinstance(err, socket.timeout):
            return VirtError(ErrorCode.RPC, ErrorDomain.RPC, f"timed out talking to '{self.path}'")
        return VirtError.from_os_error(ErrorDomain.RPC, "Cannot talk to the daemon", err)
