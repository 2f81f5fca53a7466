"""Hostile bytes on a daemon's sockets: it never dies, never hangs, keeps serving others.

A hypothesis fuzzer opens several connections to a live daemon and feeds them valid
admin calls with flipped bytes, truncated packets, huge length words, bogus FD counts
(with and without real descriptors), headers with wrong program/version/type/status,
and plain garbage. After every example the daemon must still run, a separate
well-behaved client must get correct answers within a deadline, every byte the daemon
sent back must be a well-formed reply, and no descriptor we passed may stay open in
the daemon once its connection is gone.

Targeted cases pin down the answers libvirt gives to each kind of bad packet; they
also run against libvirt's own virtlogd, so the expectations are libvirt's, not ours.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import xdr
from common.admin import protocol as ap
from common.admin.protocol import AdminProc
from common.errors import ErrorCode, ErrorDomain
from common.rpc.client import RpcClient
from common.rpc.framing import PacketReader, send_fd
from common.rpc.keepalive import PING_PACKET, PONG_PACKET
from common.rpc.protocol import (
    KEEPALIVE_PROGRAM,
    MESSAGE_MAX,
    Header,
    Message,
    MessageStatus,
    MessageType,
    decode_error,
    encode_packet,
)
from tests.integration.daemons import RunningDaemon, start_daemon
from tests.integration.libvirt_daemons import LibvirtDaemon, start_libvirt_daemon, unavailable_reason

Daemon = RunningDaemon | LibvirtDaemon

DEADLINE = 10.0
"""The longest a daemon may take to answer or to close; only a hung daemon gets near it."""
REMOTE_PROGRAM = 0x20008086
LOCK_PROGRAM = 0xEA7BEEF
LOG_PROGRAM = 0x87539319
LARGEST_LENGTH = MESSAGE_MAX + 4


# -- packets ---------------------------------------------------------------------------


def encode_args(args_type: xdr.XdrType, args: Any) -> bytes:
    out = bytearray()
    args_type.pack(args, out)
    return bytes(out)


def admin_call(proc: int, payload: bytes, serial: int = 0, *,
               kind: MessageType = MessageType.CALL, status: int = MessageStatus.OK,
               nfds: int = 0) -> bytes:
    return encode_packet(Header(ap.ADMIN_PROGRAM, ap.ADMIN_VERSION, proc, kind, serial, status),
                         payload, nfds)


LIST_SERVERS_ARGS = encode_args(ap.ConnectListServersArgs, ap.ConnectListServersArgs(1, 0))
ADMIN_SERVER = ap.Server("admin")
ADMIN_CLIENT = ap.Client(ADMIN_SERVER, 1, 0, 0)

SAFE_CALLS: list[tuple[int, bytes]] = [
    (AdminProc.CONNECT_OPEN, encode_args(ap.FlagsArgs, ap.FlagsArgs(0))),
    (AdminProc.CONNECT_GET_LIB_VERSION, b""),
    (AdminProc.CONNECT_LIST_SERVERS, LIST_SERVERS_ARGS),
    (AdminProc.CONNECT_LOOKUP_SERVER,
     encode_args(ap.ConnectLookupServerArgs, ap.ConnectLookupServerArgs("admin", 0))),
    (AdminProc.SERVER_GET_THREADPOOL_PARAMETERS,
     encode_args(ap.ServerFlagsArgs, ap.ServerFlagsArgs(ADMIN_SERVER, 0))),
    (AdminProc.SERVER_LIST_CLIENTS,
     encode_args(ap.ServerListClientsArgs, ap.ServerListClientsArgs(ADMIN_SERVER, 1, 0))),
    (AdminProc.SERVER_LOOKUP_CLIENT,
     encode_args(ap.ServerLookupClientArgs, ap.ServerLookupClientArgs(ADMIN_SERVER, 1, 0))),
    (AdminProc.CLIENT_GET_INFO, encode_args(ap.ClientFlagsArgs, ap.ClientFlagsArgs(ADMIN_CLIENT, 0))),
    (AdminProc.SERVER_GET_CLIENT_LIMITS,
     encode_args(ap.ServerFlagsArgs, ap.ServerFlagsArgs(ADMIN_SERVER, 0))),
    (AdminProc.CONNECT_GET_LOGGING_OUTPUTS, encode_args(ap.FlagsArgs, ap.FlagsArgs(0))),
    (AdminProc.CONNECT_GET_LOGGING_FILTERS, encode_args(ap.FlagsArgs, ap.FlagsArgs(0))),
    (AdminProc.SERVER_UPDATE_TLS_FILES,
     encode_args(ap.ServerFlagsArgs, ap.ServerFlagsArgs(ADMIN_SERVER, 0))),
    (AdminProc.CONNECT_CLOSE, b""),
]
"""Admin calls that only read (or fail harmlessly): mutating them must not change the
daemon's settings under the well-behaved client."""


@dataclass(frozen=True)
class Chunk:
    """Bytes to write on a connection, then `fds` real descriptors sent the libvirt way."""

    data: bytes
    fds: int = 0


u32 = st.integers(0, 0xFFFFFFFF)
i32 = st.integers(-0x80000000, 0x7FFFFFFF)


@st.composite
def valid_calls(draw: st.DrawFn) -> bytes:
    proc, payload = draw(st.sampled_from(SAFE_CALLS))
    return admin_call(proc, payload, draw(u32))


@st.composite
def mutated_calls(draw: st.DrawFn) -> Chunk:
    packet = bytearray(draw(valid_calls()))
    for _ in range(draw(st.integers(1, 4))):
        match draw(st.sampled_from(["flip", "truncate", "append", "word"])):
            case "flip" if packet:
                index = draw(st.integers(0, len(packet) - 1))
                packet[index] ^= draw(st.integers(1, 255))
            case "truncate":
                del packet[draw(st.integers(0, len(packet))):]
            case "append":
                packet += draw(st.binary(min_size=1, max_size=64))
            case "word" if len(packet) >= 4:
                index = draw(st.integers(0, len(packet) // 4 - 1)) * 4
                value = draw(st.sampled_from([0, 1, 4, 5, 33, 0x7FFFFFFF, 0xFFFFFFFF]) | u32)
                packet[index:index + 4] = struct.pack(">I", value)
    return Chunk(bytes(packet))


@st.composite
def odd_headers(draw: st.DrawFn) -> Chunk:
    prog = draw(st.sampled_from([ap.ADMIN_PROGRAM, KEEPALIVE_PROGRAM, REMOTE_PROGRAM,
                                 LOCK_PROGRAM, LOG_PROGRAM]) | u32)
    vers = draw(st.sampled_from([0, 1, 2]) | u32)
    proc = draw(st.sampled_from([-1, 0, 1, 2, 4, 19, 20, 1000]) | i32)
    kind = draw(st.sampled_from([0, 1, 2, 3, 5, 6, 7, 0x7FFFFFFF]) | i32)
    status = draw(st.sampled_from([0, 1, 2, 3]) | i32)
    payload = draw(st.binary(max_size=64))
    return Chunk(struct.pack(">IIIiiIi", 28 + len(payload), prog, vers, proc, kind,
                             draw(u32), status) + payload)


@st.composite
def bad_lengths(draw: st.DrawFn) -> Chunk:
    length = draw(st.sampled_from([0, 1, 3, 4, 27, LARGEST_LENGTH, LARGEST_LENGTH + 1,
                                   0xFFFFFFFF]) | u32)
    return Chunk(struct.pack(">I", length) + draw(st.binary(max_size=64)))


@st.composite
def fd_messages(draw: st.DrawFn) -> Chunk:
    """A packet of a *_WITH_FDS type whose FD count may lie, then 0-3 real descriptors."""
    announced = draw(st.sampled_from([0, 1, 2, 32, 33, 0xFFFFFFFF]) | st.integers(0, 40))
    kind = draw(st.sampled_from([MessageType.CALL_WITH_FDS, MessageType.REPLY_WITH_FDS]))
    proc, payload = draw(st.sampled_from(SAFE_CALLS))
    head = struct.pack(">IIIiiIiI", 32 + len(payload), ap.ADMIN_PROGRAM, ap.ADMIN_VERSION, proc,
                       kind, draw(u32), MessageStatus.OK, announced)
    return Chunk(head + payload, draw(st.integers(0, 3)))


chunks = st.one_of(
    valid_calls().map(Chunk), mutated_calls(), odd_headers(), bad_lengths(), fd_messages(),
    st.binary(min_size=1, max_size=200).map(Chunk), st.just(Chunk(PING_PACKET)),
)


@dataclass(frozen=True)
class Plan:
    socket: str
    """"admin" or "main"."""
    chunks: list[Chunk]
    ending: str
    """"drain": half-close and read everything back; "drop": close without reading."""


plans = st.builds(Plan, st.sampled_from(["admin", "main"]),
                  st.lists(chunks, min_size=1, max_size=5),
                  st.sampled_from(["drain", "drop"]))


# -- talking to the daemon ---------------------------------------------------------------


def socket_path(daemon: Daemon, which: str) -> Path:
    return daemon.admin_socket if which == "admin" else daemon.socket()


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(DEADLINE)
    sock.connect(str(path))
    return sock


def read_until_closed(sock: socket.socket) -> list[Message]:
    """Everything the daemon sends until it closes the connection (within DEADLINE)."""
    reader = PacketReader()
    received = []
    end = time.monotonic() + DEADLINE
    try:
        while True:
            while (msg := reader.next_message()) is not None:
                received.append(msg)
            sock.settimeout(max(end - time.monotonic(), 0.001))
            if not reader.receive(sock):
                break
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError(f"the daemon neither answered nor closed within {DEADLINE}s")
    finally:
        reader.close()
    return received


def replies(sock: socket.socket, count: int) -> list[Message]:
    """The next `count` packets on a connection that stays open."""
    reader = PacketReader()
    received: list[Message] = []
    while len(received) < count:
        if (msg := reader.next_message()) is not None:
            received.append(msg)
        elif not reader.receive(sock):
            raise AssertionError(f"connection closed after {len(received)} of {count} packets")
    return received


def assert_well_formed(msg: Message) -> None:
    h = msg.header
    if h.prog == KEEPALIVE_PROGRAM and h.type == MessageType.MESSAGE:
        assert encode_packet(h, msg.payload) == PONG_PACKET
        return
    assert h.type in (MessageType.REPLY, MessageType.REPLY_WITH_FDS)
    assert h.status in (MessageStatus.OK, MessageStatus.ERROR)
    if h.status == MessageStatus.ERROR:
        err = decode_error(msg.payload)
        assert not err.message.startswith("Unable to decode error reply"), err.message
    for fd in msg.fds:
        os.close(fd)


def assert_serves_others(daemon: Daemon) -> None:
    """The daemon runs and answers a fresh, well-behaved client on both sockets."""
    assert daemon.proc.poll() is None, "the daemon died"
    with RpcClient(str(daemon.admin_socket), timeout=DEADLINE) as client:
        ret, _ = client.call(ap.ADMIN_PROGRAM, ap.ADMIN_VERSION, AdminProc.CONNECT_LIST_SERVERS,
                             ap.ConnectListServersArgs, ap.ConnectListServersArgs(1, 0),
                             ap.ConnectListServersRet)
    assert sorted(s.name for s in ret.servers) == sorted([daemon.name, "admin"])
    with connect(daemon.socket()) as main:
        main.sendall(PING_PACKET)
        assert [encode_packet(m.header, m.payload) for m in replies(main, 1)] == [PONG_PACKET]


def daemon_fd_targets(daemon: Daemon) -> set[str]:
    fd_dir = f"/proc/{daemon.proc.pid}/fd"
    targets = set()
    for name in os.listdir(fd_dir):
        try:
            targets.add(os.readlink(f"{fd_dir}/{name}"))
        except FileNotFoundError:
            pass
    return targets


def wait_until_released(daemon: Daemon, pipes: list[str]) -> None:
    end = time.monotonic() + DEADLINE
    while kept := set(pipes) & daemon_fd_targets(daemon):
        if time.monotonic() > end:
            raise AssertionError(f"the daemon still holds descriptors we passed: {kept}")
        time.sleep(0.01)


def send_chunk(sock: socket.socket, chunk: Chunk, pipes: list[str]) -> bool:
    """Write one chunk and its descriptors; False once the daemon has hung up on us."""
    try:
        sock.sendall(chunk.data)
        for _ in range(chunk.fds):
            read_end, write_end = os.pipe()
            pipes.append(f"pipe:[{os.fstat(write_end).st_ino}]")
            try:
                send_fd(sock, write_end)
            finally:
                os.close(read_end)
                os.close(write_end)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["virtd", "virtlockd", "virtlogd", "libvirt-virtlogd"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Daemon]:
    """One daemon for the whole module: surviving everything in turn is the point.

    libvirt's own virtlogd runs the same cases, so every expectation here is libvirt's.
    """
    root = tmp_path_factory.mktemp(request.param)
    daemon: Daemon
    if request.param.startswith("libvirt-"):
        name = request.param.removeprefix("libvirt-")
        reason = unavailable_reason(name)
        if reason is not None:
            pytest.skip(reason)
        daemon = start_libvirt_daemon(name, root)
    else:
        daemon = start_daemon(request.param, root)
    try:
        yield daemon
        assert daemon.proc.poll() is None, "the daemon died"
    finally:
        daemon.stop()


# -- the fuzzer ------------------------------------------------------------------------------


# Ours only: libvirt 9.0's virtlogd itself fails this property. When a CALL_WITH_FDS is
# refused it sends the call's descriptors back behind the error reply, and the stray
# dummy byte breaks the client's framing.
@pytest.mark.parametrize("target", ["virtd", "virtlockd", "virtlogd"], indirect=True)
@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(st.lists(plans, min_size=1, max_size=4))
def test_hostile_connections_never_stop_the_daemon_serving_others(
        target: Daemon, connection_plans: list[Plan]) -> None:
    pipes: list[str] = []
    open_connections = []
    try:
        for plan in connection_plans:
            sock = connect(socket_path(target, plan.socket))
            open_connections.append((sock, plan))
            for chunk in plan.chunks:
                if not send_chunk(sock, chunk, pipes):
                    break
        # The hostile connections are still open (some mid-packet) while others are served.
        assert_serves_others(target)
        for sock, plan in open_connections:
            if plan.ending == "drain":
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                for msg in read_until_closed(sock):
                    assert_well_formed(msg)
            sock.close()
        wait_until_released(target, pipes)
        assert_serves_others(target)
    finally:
        for sock, _plan in open_connections:
            sock.close()


# -- targeted cases -----------------------------------------------------------------------------


def error_reply(daemon: Daemon, packet: bytes, which: str = "admin") -> tuple[Header, Any]:
    with connect(socket_path(daemon, which)) as sock:
        sock.sendall(packet)
        [reply] = replies(sock, 1)
    assert reply.header.status == MessageStatus.ERROR
    err = decode_error(reply.payload)
    return reply.header, (err.code, err.domain, err.message)


def rpc_error(message: str) -> tuple[int, int, str]:
    return (ErrorCode.RPC, ErrorDomain.RPC, message)


@pytest.mark.parametrize("length", [LARGEST_LENGTH + 1, 0xFFFFFFFF, 27, 0])
def test_an_illegal_length_word_closes_the_connection_without_a_reply(
        target: Daemon, length: int) -> None:
    with connect(target.admin_socket) as sock:
        sock.sendall(struct.pack(">I", length) + bytes(24))
        assert read_until_closed(sock) == []
    assert_serves_others(target)


def test_a_call_for_an_unknown_program_names_program_and_version(target: Daemon) -> None:
    packet = encode_packet(Header(0x12345, 3, 7, MessageType.CALL, 42, MessageStatus.OK), b"")
    for which in ("admin", "main"):
        header, err = error_reply(target, packet, which)
        assert header == Header(0x12345, 3, 7, MessageType.REPLY, 42, MessageStatus.ERROR)
        assert err == rpc_error("Cannot find program 74565 version 3")


@pytest.mark.parametrize("proc", [999, 0, -5])
def test_an_unknown_procedure_is_named(target: Daemon, proc: int) -> None:
    header, err = error_reply(target, admin_call(proc, b"", 9))
    assert (header.proc, header.serial, header.type) == (proc, 9, MessageType.REPLY)
    assert err == rpc_error(f"unknown procedure: {proc}")


@pytest.mark.parametrize("proc, payload", [
    (AdminProc.CONNECT_LIST_SERVERS, b""),
    (AdminProc.CONNECT_LIST_SERVERS, b"\0\0"),
    (AdminProc.CONNECT_LIST_SERVERS, LIST_SERVERS_ARGS[:4]),
    (AdminProc.CONNECT_LOOKUP_SERVER, b"\x7f\xff\xff\xff"),
    (AdminProc.CONNECT_LOOKUP_SERVER, struct.pack(">I", 5) + b"adm"),
    (AdminProc.SERVER_SET_CLIENT_LIMITS, encode_args(ap.Server, ADMIN_SERVER) + b"\xff" * 4),
])
def test_an_undecodable_payload_is_refused(target: Daemon, proc: int, payload: bytes) -> None:
    _header, err = error_reply(target, admin_call(proc, payload))
    assert err == rpc_error("Unable to decode message payload")


@pytest.mark.parametrize("status", [MessageStatus.ERROR, MessageStatus.CONTINUE, 7])
def test_a_call_with_a_status_is_refused(target: Daemon, status: int) -> None:
    _header, err = error_reply(target, admin_call(AdminProc.CONNECT_LIST_SERVERS,
                                                  LIST_SERVERS_ARGS, status=status))
    assert err == rpc_error(f"Unexpected message status {status}")


@pytest.mark.parametrize("kind", [MessageType.REPLY, MessageType.MESSAGE, MessageType.STREAM,
                                  MessageType.STREAM_HOLE, 9])
@pytest.mark.parametrize("prog", [ap.ADMIN_PROGRAM, 0x12345])
def test_packets_a_client_must_not_send_get_no_answer(target: Daemon, kind: int,
                                                      prog: int) -> None:
    stray = encode_packet(Header(prog, 1, AdminProc.CONNECT_LIST_SERVERS, kind, 5,
                                 MessageStatus.OK), LIST_SERVERS_ARGS)
    with connect(target.admin_socket) as sock:
        sock.sendall(stray + admin_call(AdminProc.CONNECT_LIST_SERVERS, LIST_SERVERS_ARGS, 6))
        [first] = replies(sock, 1)
    assert (first.header.serial, first.header.status) == (6, MessageStatus.OK)


def test_a_ping_is_answered_with_a_pong_on_every_socket(target: Daemon) -> None:
    for which in ("admin", "main"):
        with connect(socket_path(target, which)) as sock:
            sock.sendall(PING_PACKET)
            [pong] = replies(sock, 1)
        assert encode_packet(pong.header, pong.payload) == PONG_PACKET


def test_pipelined_calls_are_all_answered_in_order(target: Daemon) -> None:
    calls = b"".join(admin_call(AdminProc.CONNECT_LIST_SERVERS, LIST_SERVERS_ARGS, serial)
                     for serial in range(20))
    with connect(target.admin_socket) as sock:
        sock.sendall(calls)
        answers = replies(sock, 20)
    assert [m.header.serial for m in answers] == list(range(20))
    assert {m.header.status for m in answers} == {MessageStatus.OK}


def test_descriptors_sent_with_a_call_are_not_kept(target: Daemon) -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        with connect(target.admin_socket) as sock:
            sock.sendall(admin_call(AdminProc.CONNECT_LIST_SERVERS, LIST_SERVERS_ARGS, 3,
                                    kind=MessageType.CALL_WITH_FDS, nfds=1))
            send_fd(sock, write_end)
            os.close(write_end)
            [reply] = replies(sock, 1)
            assert (reply.header.serial, reply.header.status) == (3, MessageStatus.OK)
            # The daemon's copy was the last write end: the pipe now reads as end-of-file.
            assert os.read(read_end, 1) == b""
    finally:
        os.close(read_end)
