"""Packet framing, byte for byte: the worked examples of the wire reference (§1.14), and
messages with file descriptors carried through a real socketpair as libvirt sends them
(the packet's bytes first, then one 0x00 byte with one SCM_RIGHTS fd per descriptor).
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import Iterator

import pytest

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.rpc.framing import PacketReader, send_fd
from common.rpc.keepalive import PING_PACKET, PONG_PACKET
from common.rpc.protocol import (
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_VERSION,
    FramingError,
    Header,
    Message,
    MessageStatus,
    MessageType,
    decode_error,
    encode_error,
    encode_packet,
)

REMOTE_PROGRAM = 0x20008086
REMOTE_PROC_AUTH_LIST = 0x42
REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME = 0x17
LOG_PROGRAM = 0x87539319
LOG_PROC_DOMAIN_OPEN_LOG_FILE = 1


def words(text: str) -> bytes:
    """The reference's notation: 4-byte units as 8 hex digits, separated by spaces."""
    return bytes.fromhex(text.replace(" ", ""))


def test_auth_list_call_bytes() -> None:
    header = Header(REMOTE_PROGRAM, 1, REMOTE_PROC_AUTH_LIST, MessageType.CALL, 0,
                    MessageStatus.OK)
    assert encode_packet(header, b"") == words(
        "0000001c 20008086 00000001 00000042 00000000 00000000 00000000")


def test_auth_list_reply_bytes() -> None:
    header = Header(REMOTE_PROGRAM, 1, REMOTE_PROC_AUTH_LIST, MessageType.REPLY, 0,
                    MessageStatus.OK)
    types_none = words("00000001 00000000")
    assert encode_packet(header, types_none) == words(
        "00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001 00000000")


def test_keepalive_ping_bytes() -> None:
    header = Header(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PING,
                    MessageType.MESSAGE, 0, MessageStatus.OK)
    ping = words("0000001c 6b656570 00000001 00000001 00000002 00000000 00000000")
    assert encode_packet(header, b"") == ping == PING_PACKET
    assert PONG_PACKET == words("0000001c 6b656570 00000001 00000002 00000002 00000000 00000000")


LOOKUP_ERROR_MESSAGE = "Domain not found: no domain with matching name 'x'"
LOOKUP_ERROR_REPLY = (
    words("00000080 20008086 00000001 00000017 00000001 00000006 00000001")
    + words("0000002a 0000000a 00000001 00000032")
    + LOOKUP_ERROR_MESSAGE.encode() + b"\0\0"
    + words("00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000")
)


def test_error_reply_bytes() -> None:
    err = VirtError(ErrorCode.NO_DOMAIN, ErrorDomain.QEMU, "no domain with matching name 'x'")
    assert err.message == LOOKUP_ERROR_MESSAGE
    header = Header(REMOTE_PROGRAM, 1, REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, MessageType.REPLY, 6,
                    MessageStatus.ERROR)
    assert encode_packet(header, encode_error(err)) == LOOKUP_ERROR_REPLY


def test_error_reply_decodes_to_the_code_domain_and_text_a_client_shows() -> None:
    got = decode_error(LOOKUP_ERROR_REPLY[28:])
    assert (got.code, got.domain, got.message) == (42, 10, LOOKUP_ERROR_MESSAGE)


def test_error_reply_without_a_message_reads_as_unknown_error() -> None:
    body = words("00000001 00000007 00000000 00000002") + bytes(28)
    assert decode_error(body).message == "Unknown error"


# -- through a real socket -------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left.settimeout(5)
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


def read_message(sock: socket.socket, reader: PacketReader) -> Message:
    """Receive until one whole message (and its descriptors) has arrived."""
    while (msg := reader.next_message()) is None:
        assert reader.receive(sock), "peer closed before a whole message arrived"
    return msg


def open_log_call(serial: int, nfds: int) -> bytes:
    header = Header(LOG_PROGRAM, 1, LOG_PROC_DOMAIN_OPEN_LOG_FILE, MessageType.CALL_WITH_FDS,
                    serial, MessageStatus.OK)
    return encode_packet(header, b"args", nfds)


def test_fd_count_sits_between_header_and_payload() -> None:
    packet = open_log_call(3, 2)
    assert packet == words(
        "00000024 87539319 00000001 00000001 00000004 00000003 00000000 00000002") + b"args"


def test_a_pipe_passed_with_a_call_can_be_written_through(
        pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    read_end, write_end = os.pipe()
    try:
        sender.sendall(open_log_call(7, 1))
        send_fd(sender, write_end)
        os.close(write_end)

        reader = PacketReader()
        msg = read_message(receiver, reader)
        assert msg.header == Header(LOG_PROGRAM, 1, LOG_PROC_DOMAIN_OPEN_LOG_FILE,
                                    MessageType.CALL_WITH_FDS, 7, MessageStatus.OK)
        assert msg.payload == b"args"
        [received] = msg.fds
        assert fcntl.fcntl(received, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        os.write(received, b"guest console line\n")
        os.close(received)
        assert os.read(read_end, 100) == b"guest console line\n"
    finally:
        os.close(read_end)


def test_descriptors_go_to_the_message_that_announced_them(
        pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    pipes = [os.pipe() for _ in range(3)]
    try:
        plain = Header(LOG_PROGRAM, 1, 2, MessageType.CALL, 0, MessageStatus.OK)
        sender.sendall(encode_packet(plain, b""))
        sender.sendall(open_log_call(1, 2))
        send_fd(sender, pipes[0][1])
        send_fd(sender, pipes[1][1])
        sender.sendall(open_log_call(2, 1))
        send_fd(sender, pipes[2][1])

        reader = PacketReader()
        batches = [read_message(receiver, reader) for _ in range(3)]
        assert [m.header.serial for m in batches] == [0, 1, 2]
        assert [len(m.fds) for m in batches] == [0, 2, 1]
        for fd, (read_end, _write_end) in zip(batches[1].fds + batches[2].fds, pipes):
            os.write(fd, b"x")
            os.close(fd)
            assert os.read(read_end, 1) == b"x"
    finally:
        for read_end, write_end in pipes:
            os.close(read_end)
            os.close(write_end)


def test_a_message_whose_descriptors_never_came_is_a_framing_error(
        pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    sender.sendall(open_log_call(1, 1) + b"\0")  # the dummy byte, but no SCM_RIGHTS
    reader = PacketReader()
    with pytest.raises(FramingError):
        read_message(receiver, reader)


def test_unclaimed_descriptors_are_closed(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    read_end, write_end = os.pipe()
    try:
        send_fd(sender, write_end)
        os.close(write_end)
        reader = PacketReader()
        assert reader.receive(receiver)
        assert reader.next_message() is None
        reader.close()
        # With the last write end closed, the pipe reads as EOF.
        assert os.read(read_end, 1) == b""
    finally:
        os.close(read_end)


@pytest.mark.parametrize("length", [0, 3, 27, 33554437, 0xFFFFFFFF])
def test_illegal_length_words_are_framing_errors(
        pair: tuple[socket.socket, socket.socket], length: int) -> None:
    sender, receiver = pair
    sender.sendall(struct.pack(">I", length) + bytes(24))
    with pytest.raises(FramingError):
        read_message(receiver, PacketReader())


def test_the_largest_legal_length_word_waits_for_its_bytes(
        pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    sender.sendall(struct.pack(">I", 33554436) + bytes(24))
    reader = PacketReader()
    assert reader.receive(receiver)
    assert reader.next_message() is None


def test_more_than_32_descriptors_is_a_framing_error(
        pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    sender.sendall(open_log_call(1, 33))
    with pytest.raises(FramingError):
        read_message(receiver, PacketReader())


def test_a_packet_split_into_single_bytes_still_arrives_whole(
        pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    reader = PacketReader()
    for byte in LOOKUP_ERROR_REPLY[:-1]:
        sender.sendall(bytes([byte]))
        assert reader.receive(receiver)
        assert reader.next_message() is None
    sender.sendall(LOOKUP_ERROR_REPLY[-1:])
    msg = read_message(receiver, reader)
    assert decode_error(msg.payload).message == LOOKUP_ERROR_MESSAGE
