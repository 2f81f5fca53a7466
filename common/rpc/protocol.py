"""libvirt's RPC framing: length word, 24-byte header, FD count, error struct.

Shared by the server and the client side; see reference §1 for the facts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError

MESSAGE_MAX = 33554432
"""Largest header + payload (the length word itself not counted)."""
HEADER_SIZE = 24
LEN_SIZE = 4
NUM_FDS_MAX = 32
STRING_MAX = 4194304


class MessageType(IntEnum):
    CALL = 0
    REPLY = 1
    MESSAGE = 2
    STREAM = 3
    CALL_WITH_FDS = 4
    REPLY_WITH_FDS = 5
    STREAM_HOLE = 6


class MessageStatus(IntEnum):
    OK = 0
    ERROR = 1
    CONTINUE = 2


class ErrorLevel(IntEnum):
    NONE = 0
    WARNING = 1
    ERROR = 2


KEEPALIVE_PROGRAM = 0x6B656570
KEEPALIVE_VERSION = 1
KEEPALIVE_PROC_PING = 1
KEEPALIVE_PROC_PONG = 2

_HEADER = struct.Struct(">IIiiIi")
_LEN = struct.Struct(">I")
_LEN_HEADER = struct.Struct(">IIIiiIi")
_LEN_HEADER_NFDS = struct.Struct(">IIIiiIiI")


@dataclass(slots=True)
class Header:
    prog: int
    vers: int
    proc: int
    type: int
    serial: int
    status: int

    @property
    def carries_fds(self) -> bool:
        return self.type in (MessageType.CALL_WITH_FDS, MessageType.REPLY_WITH_FDS)


@dataclass(slots=True)
class Message:
    """A whole received packet: header, payload after the FD count, and the FDs."""

    header: Header
    payload: bytes
    fds: list[int]


class FramingError(Exception):
    """The peer broke the framing rules; the connection must be dropped silently."""


def decode_length(data: bytes | memoryview, pos: int = 0) -> int:
    """Validate the length word: returns the number of bytes that follow it."""
    (total,) = _LEN.unpack_from(data, pos)
    if total < LEN_SIZE + HEADER_SIZE:
        raise FramingError(f"packet length {total} is shorter than a header")
    if total - LEN_SIZE > MESSAGE_MAX:
        raise FramingError(f"packet of {total} bytes is too large")
    return total - LEN_SIZE


def decode_header(data: bytes | memoryview, pos: int) -> Header:
    return Header(*_HEADER.unpack_from(data, pos))


def decode_fd_count(data: bytes | memoryview, pos: int, end: int) -> int:
    if pos + 4 > end:
        raise FramingError("message with FDs is missing its FD count")
    (count,) = _LEN.unpack_from(data, pos)
    if count > NUM_FDS_MAX:
        raise FramingError(f"too many FDs ({count}) in one message")
    return count


def encode_packet(header: Header, payload: bytes | bytearray, nfds: int = 0) -> bytes:
    """A complete packet, length word included. `nfds` is written only for *_WITH_FDS types."""
    if header.carries_fds:
        total = LEN_SIZE + HEADER_SIZE + 4 + len(payload)
        head = _LEN_HEADER_NFDS.pack(
            total, header.prog, header.vers, header.proc, header.type, header.serial,
            header.status, nfds,
        )
    else:
        total = LEN_SIZE + HEADER_SIZE + len(payload)
        head = _LEN_HEADER.pack(
            total, header.prog, header.vers, header.proc, header.type, header.serial,
            header.status,
        )
    if total - LEN_SIZE > MESSAGE_MAX:
        raise VirtError(ErrorCode.RPC, ErrorDomain.RPC, f"message payload of {total} bytes is too large")
    return head + payload


NonnullString = xdr.String(STRING_MAX)
OptionalString = xdr.Optional(NonnullString)

NonnullDomain = xdr.struct_type(
    "virNetMessageNonnullDomain", name=NonnullString, uuid=xdr.FixedOpaque(16), id=xdr.Int
)
NonnullNetwork = xdr.struct_type(
    "virNetMessageNonnullNetwork", name=NonnullString, uuid=xdr.FixedOpaque(16)
)

ErrorStruct = xdr.struct_type(
    "virNetMessageError",
    code=xdr.Int,
    domain=xdr.Int,
    message=OptionalString,
    level=xdr.Int,
    dom=xdr.Optional(NonnullDomain),
    str1=OptionalString,
    str2=OptionalString,
    str3=OptionalString,
    int1=xdr.Int,
    int2=xdr.Int,
    net=xdr.Optional(NonnullNetwork),
)


def encode_error(err: VirtError) -> bytes:
    return ErrorStruct.encode(
        ErrorStruct(err.code, err.domain, err.message, ErrorLevel.ERROR,
                    None, None, None, None, 0, 0, None)
    )


def decode_error(payload: bytes) -> VirtError:
    """Rebuild the error a server sent, keeping its already formatted message."""
    try:
        raw = ErrorStruct.decode(payload)
    except xdr.XdrError as exc:
        return VirtError(ErrorCode.RPC, ErrorDomain.RPC, f"Unable to decode error reply: {exc}")
    message = raw.message if raw.message is not None else "Unknown error"
    return VirtError.formatted(raw.code, raw.domain, message)


def rpc_error(detail: str) -> VirtError:
    """An error of the RPC layer itself (code RPC, domain RPC), as libvirt's dispatcher sends."""
    return VirtError(ErrorCode.RPC, ErrorDomain.RPC, detail)
