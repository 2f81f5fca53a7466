"""The real virt-admin (libvirt 9.0) administers virtd, virtlockd and virtlogd as it does
libvirt's daemons.

Every virt-admin command is run against a live daemon and judged by what an
administrator sees: the listings, the numbers that change after a `set`, a client
whose socket really closes, a log file that really fills, and libvirt's error
lines. The last part runs libvirt's own virtlogd and virtlockd (in a private mount
namespace) and replays one command script against theirs and ours: the transcripts
must be the same apart from dates, the version line, and the error details whose
wording is ours by design (libvirt's text does not carry over, its facts do).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from common import xdr
from common.admin import protocol as ap
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.rpc.client import RpcClient
from common.rpc.framing import PacketReader
from common.rpc.protocol import Header, Message, MessageStatus, MessageType, encode_packet
from common.version import VERSION
from tests.integration.conftest import virt_admin
from tests.integration.daemons import RunningDaemon
from tests.integration.libvirt_daemons import (
    LIBVIRT_DAEMONS,
    LibvirtDaemon,
    start_libvirt_daemon,
    unavailable_reason,
)

Daemon = RunningDaemon | LibvirtDaemon

REPLY_DEADLINE = 10.0
"""How long a reply that must come may take (generous: a loaded machine is no failure)."""
SILENCE = 1.0
"""How long a reply that must not come is waited for."""


# -- running virt-admin and reading what it prints ---------------------------------


def ok(daemon: Daemon, *command: str) -> str:
    done = virt_admin(daemon.admin_uri, *command)
    assert done.returncode == 0, f"virt-admin {' '.join(command)}: {done.stderr}"
    assert done.stderr == ""
    return done.stdout


def fails(daemon: Daemon, *command: str) -> list[str]:
    """virt-admin's error lines for a command that must fail."""
    done = virt_admin(daemon.admin_uri, *command)
    assert done.returncode == 1, f"virt-admin {' '.join(command)} succeeded: {done.stdout}"
    return done.stderr.splitlines()


def table(output: str) -> list[list[str]]:
    """The rows under a virt-admin table's dashed rule, split into columns."""
    lines = output.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[rule + 1:] if line.strip()]


def key_values(output: str) -> dict[str, str]:
    """`key : value` lines (threadpool, client limits, client info) as a dict."""
    pairs = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def client_ids(daemon: Daemon, server: str) -> list[int]:
    return [int(row[0]) for row in table(ok(daemon, "client-list", server))]


# -- raw connections -------------------------------------------------------------------


def list_servers_packet(serial: int = 0) -> bytes:
    """ADMIN_PROC_CONNECT_LIST_SERVERS(need_results=1): a call any socket must answer."""
    payload = bytearray()
    ap.ConnectListServersArgs.pack(ap.ConnectListServersArgs(1, 0), payload)
    header = Header(ap.ADMIN_PROGRAM, ap.ADMIN_VERSION, ap.AdminProc.CONNECT_LIST_SERVERS,
                    MessageType.CALL, serial, MessageStatus.OK)
    return encode_packet(header, payload)


def next_packet(sock: socket.socket, reader: PacketReader, timeout: float) -> Message | None:
    """The next whole packet the daemon sends within `timeout`, or None if it stays silent."""
    end = time.monotonic() + timeout
    while (msg := reader.next_message()) is None:
        left = end - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            if not reader.receive(sock):
                raise EOFError("the daemon closed the connection")
        except socket.timeout:
            return None
    return msg


def sees_eof(sock: socket.socket, timeout: float) -> bool:
    """Whether the daemon closes this connection within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def admin_call(daemon: Daemon, proc: ap.AdminProc, args_type: xdr.XdrType, args: Any,
               ret_type: xdr.XdrType = xdr.Void) -> Any:
    with RpcClient(str(daemon.admin_socket), timeout=REPLY_DEADLINE) as client:
        ret, _fds = client.call(ap.ADMIN_PROGRAM, ap.ADMIN_VERSION, proc, args_type, args,
                                ret_type)
        return ret


@pytest.fixture
def held() -> Iterator[Callable[[Path], RpcClient]]:
    """Open long-lived raw connections to a socket; all are closed after the test."""
    clients: list[RpcClient] = []

    def connect(path: Path) -> RpcClient:
        client = RpcClient(str(path), timeout=REPLY_DEADLINE)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = REPLY_DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- uri, version, server-list -----------------------------------------------------------


def test_uri_prints_the_uri_it_was_given(any_daemon: RunningDaemon) -> None:
    assert ok(any_daemon, "uri").strip() == any_daemon.admin_uri


def test_version_reports_our_daemon_release(any_daemon: RunningDaemon) -> None:
    lines = ok(any_daemon, "version").splitlines()
    assert lines[0] == "Compiled against library: libvirt 9.0.0"
    assert f"Running against daemon: {VERSION}" in lines


def test_server_list_shows_the_daemon_and_admin_servers_with_ids(
        any_daemon: RunningDaemon) -> None:
    output = ok(any_daemon, "server-list")
    assert output.splitlines()[0].split() == ["Id", "Name"]
    assert table(output) == [["0", any_daemon.name], ["1", "admin"]]


# -- thread pools ----------------------------------------------------------------------


def pool(daemon: Daemon, server: str) -> dict[str, int]:
    info = key_values(ok(daemon, "server-threadpool-info", server))
    assert list(info) == ["minWorkers", "maxWorkers", "nWorkers", "freeWorkers", "prioWorkers",
                          "jobQueueDepth"]
    return {key: int(value) for key, value in info.items()}


def test_threadpool_info_shows_the_configured_pool(run_daemon: Callable[..., RunningDaemon]
                                                   ) -> None:
    daemon = run_daemon("virtd", "min_workers = 2\nmax_workers = 6\nprio_workers = 1\n")
    # A new worker counts as free once it is waiting for a job.
    wait_for(lambda: pool(daemon, "virtd")["freeWorkers"] == 2, "the workers to be idle")
    assert pool(daemon, "virtd") == {"minWorkers": 2, "maxWorkers": 6, "nWorkers": 2,
                                     "freeWorkers": 2, "prioWorkers": 1, "jobQueueDepth": 0}


@pytest.mark.parametrize("name", ["virtlockd", "virtlogd"])
def test_lock_and_log_daemons_serve_without_worker_threads(
        run_daemon: Callable[..., RunningDaemon], name: str) -> None:
    daemon = run_daemon(name)
    for server in (name, "admin"):
        assert set(pool(daemon, server).values()) == {0}


def test_threadpool_set_changes_what_info_shows(run_daemon: Callable[..., RunningDaemon]) -> None:
    daemon = run_daemon("virtd", "min_workers = 2\nmax_workers = 6\nprio_workers = 1\n")
    assert ok(daemon, "server-threadpool-set", "virtd", "--min-workers", "8",
              "--max-workers", "10", "--priority-workers", "3").strip() == ""
    raised = pool(daemon, "virtd")
    assert (raised["minWorkers"], raised["maxWorkers"], raised["nWorkers"],
            raised["prioWorkers"]) == (8, 10, 8, 3)

    ok(daemon, "server-threadpool-set", "virtd", "--min-workers", "1", "--max-workers", "2")
    wait_for(lambda: pool(daemon, "virtd")["nWorkers"] == 2, "surplus workers to exit")
    lowered = pool(daemon, "virtd")
    assert (lowered["minWorkers"], lowered["maxWorkers"], lowered["prioWorkers"]) == (1, 2, 3)


def test_threadpool_set_keeps_values_it_was_not_given(run_daemon: Callable[..., RunningDaemon]
                                                      ) -> None:
    daemon = run_daemon("virtd", "min_workers = 2\nmax_workers = 6\nprio_workers = 1\n")
    ok(daemon, "server-threadpool-set", "admin", "--max-workers", "7")
    admin = pool(daemon, "admin")
    assert admin["maxWorkers"] == 7 and admin["prioWorkers"] == 0
    assert pool(daemon, "virtd")["maxWorkers"] == 6


def test_threadpool_set_rejects_min_above_max(run_daemon: Callable[..., RunningDaemon]) -> None:
    daemon = run_daemon("virtd", "min_workers = 2\nmax_workers = 6\nprio_workers = 1\n")
    before = pool(daemon, "virtd")
    assert fails(daemon, "server-threadpool-set", "virtd", "--min-workers", "7") == [
        "error: Unable to change server workerpool parameters",
        "error: invalid argument: minWorkers cannot be larger than maxWorkers",
    ]
    assert pool(daemon, "virtd") == before


@pytest.mark.parametrize("name", ["virtlockd", "virtlogd"])
def test_workerless_pools_cannot_get_workers(run_daemon: Callable[..., RunningDaemon],
                                             name: str) -> None:
    daemon = run_daemon(name)
    for server in (name, "admin"):
        assert fails(daemon, "server-threadpool-set", server, "--max-workers", "4") == [
            "error: Unable to change server workerpool parameters",
            "error: invalid argument: maxWorkers must not be switched from zero to non-zero "
            "and vice versa",
        ]
        assert pool(daemon, server)["maxWorkers"] == 0


def test_a_pool_with_workers_cannot_drop_to_none(run_daemon: Callable[..., RunningDaemon]
                                                 ) -> None:
    daemon = run_daemon("virtd")
    assert fails(daemon, "server-threadpool-set", "virtd", "--min-workers", "0",
                 "--max-workers", "0")[-1] == (
        "error: invalid argument: maxWorkers must not be switched from zero to non-zero "
        "and vice versa")


# -- client limits ---------------------------------------------------------------------


def limits(daemon: Daemon, server: str) -> dict[str, int]:
    info = key_values(ok(daemon, "server-clients-info", server))
    assert list(info) == ["nclients_max", "nclients", "nclients_unauth_max", "nclients_unauth"]
    return {key: int(value) for key, value in info.items()}


@pytest.mark.parametrize("name, main_max, main_unauth", [
    ("virtd", 5000, 20), ("virtlockd", 1024, 1024), ("virtlogd", 1024, 1024)])
def test_clients_info_shows_libvirts_default_limits(
        run_daemon: Callable[..., RunningDaemon], name: str, main_max: int,
        main_unauth: int) -> None:
    daemon = run_daemon(name)
    assert limits(daemon, name) == {"nclients_max": main_max, "nclients": 0,
                                    "nclients_unauth_max": main_unauth, "nclients_unauth": 0}
    # The admin server counts virt-admin's own connection.
    admin_unauth = 0 if name == "virtd" else 5000
    assert limits(daemon, "admin") == {"nclients_max": 5000, "nclients": 1,
                                       "nclients_unauth_max": admin_unauth,
                                       "nclients_unauth": 0}


def test_clients_set_at_the_current_count_leaves_the_next_client_waiting(
        any_daemon: RunningDaemon, held: Callable[[Path], RpcClient]) -> None:
    daemon, server = any_daemon, any_daemon.name
    held(daemon.socket())
    ok(daemon, "server-clients-set", server, "--max-clients", "1", "--max-unauth-clients", "1")
    assert limits(daemon, server)["nclients_max"] == 1

    # The kernel still completes the connection (it waits in the listen backlog), but the
    # daemon does not accept it, so its call goes unanswered.
    waiting = held(daemon.socket())
    waiting.send_raw(list_servers_packet())
    reader = PacketReader()
    assert next_packet(waiting.sock, reader, SILENCE) is None
    assert limits(daemon, server)["nclients"] == 1

    ok(daemon, "server-clients-set", server, "--max-clients", "5")
    reply = next_packet(waiting.sock, reader, REPLY_DEADLINE)
    assert reply is not None and reply.header.type == MessageType.REPLY
    assert limits(daemon, server)["nclients"] == 2


def test_clients_set_refuses_an_unauth_limit_above_the_overall_one(
        run_daemon: Callable[..., RunningDaemon]) -> None:
    daemon = run_daemon("virtlogd")
    errors = fails(daemon, "server-clients-set", "virtlogd", "--max-clients", "10")
    assert errors[0] == "error: Unable to change server's client-related configuration limits"
    assert errors[1].startswith("error: invalid argument: ")
    assert limits(daemon, "virtlogd")["nclients_max"] == 1024


# -- clients: list, info, disconnect -------------------------------------------------------


def assert_is_this_process(info: dict[str, str], *, readonly: bool) -> None:
    assert info["transport"] == "unix"
    assert info["readonly"] == ("yes" if readonly else "no")
    assert int(info["unix_user_id"]) == os.getuid()
    assert info["unix_user_name"] == pwd.getpwuid(os.getuid()).pw_name
    assert int(info["unix_group_id"]) == os.getgid()
    assert info["unix_group_name"] == grp.getgrgid(os.getgid()).gr_name
    assert int(info["unix_process_id"]) == os.getpid()


def connection_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S%z").timestamp()


def test_client_list_and_info_describe_a_client_we_hold(
        any_daemon: RunningDaemon, held: Callable[[Path], RpcClient]) -> None:
    daemon, server = any_daemon, any_daemon.name
    before = int(time.time())
    held(daemon.socket())
    output = ok(daemon, "client-list", server)
    after = time.time()  # the daemon accepted us by the time it listed us
    assert output.splitlines()[0].split() == ["Id", "Transport", "Connected", "since"]
    [[client_id, transport, since]] = table(output)
    assert transport == "unix"
    assert before <= connection_time(since) <= after

    info = key_values(ok(daemon, "client-info", server, client_id))
    assert list(info)[:4] == ["id", "connection_time", "transport", "readonly"]
    assert info["id"] == client_id and info["connection_time"] == since
    assert_is_this_process(info, readonly=False)


def test_client_info_marks_clients_of_the_read_only_socket(
        run_daemon: Callable[..., RunningDaemon], held: Callable[[Path], RpcClient]) -> None:
    daemon = run_daemon("virtd")
    held(daemon.socket("sock"))
    held(daemon.socket("sock-ro"))
    rw_id, ro_id = client_ids(daemon, "virtd")
    assert_is_this_process(key_values(ok(daemon, "client-info", "virtd", str(rw_id))),
                           readonly=False)
    assert_is_this_process(key_values(ok(daemon, "client-info", "virtd", str(ro_id))),
                           readonly=True)


def test_admin_server_lists_a_held_admin_client_beside_virt_admin(
        any_daemon: RunningDaemon, held: Callable[[Path], RpcClient]) -> None:
    held(any_daemon.admin_socket)
    ours, virt_admins_own = client_ids(any_daemon, "admin")
    assert virt_admins_own > ours
    assert_is_this_process(key_values(ok(any_daemon, "client-info", "admin", str(ours))),
                           readonly=False)


@pytest.mark.parametrize("which", ["main", "admin"])
def test_client_disconnect_closes_that_clients_socket(
        any_daemon: RunningDaemon, held: Callable[[Path], RpcClient], which: str) -> None:
    daemon = any_daemon
    server = daemon.name if which == "main" else "admin"
    victim = held(daemon.socket() if which == "main" else daemon.admin_socket)
    bystander = held(daemon.socket() if which == "main" else daemon.admin_socket)
    victim_id, bystander_id = client_ids(daemon, server)[:2]

    assert ok(daemon, "client-disconnect", server, str(victim_id)) == (
        f"Client '{victim_id}' disconnected\n")
    assert sees_eof(victim.sock, REPLY_DEADLINE)
    assert not sees_eof(bystander.sock, 0.05)
    assert victim_id not in client_ids(daemon, server)
    assert bystander_id in client_ids(daemon, server)
    assert fails(daemon, "client-disconnect", server, str(victim_id)) == [
        f"error: Client not found: No client with matching ID '{victim_id}'"]


# -- logging -------------------------------------------------------------------------------


def log_filters(daemon: Daemon) -> str:
    output = ok(daemon, "daemon-log-filters")
    prefix = " Logging filters: "
    assert output.startswith(prefix) and output.endswith("\n\n")
    return output[len(prefix):-2]


def log_outputs(daemon: Daemon) -> str:
    output = ok(daemon, "daemon-log-outputs")
    prefix = " Logging outputs: "
    assert output.startswith(prefix) and output.endswith("\n\n")
    return output[len(prefix):-2]


def test_log_filters_read_back_in_libvirts_format(any_daemon: RunningDaemon) -> None:
    assert log_filters(any_daemon) == ""
    ok(any_daemon, "daemon-log-filters", "--filters", "1:util 4:rpc")
    assert log_filters(any_daemon) == "1:*util* 4:*rpc* "
    ok(any_daemon, "daemon-log-filters", "--filters", "")
    assert log_filters(any_daemon) == ""


@pytest.mark.parametrize("filters, detail", [
    ("bad", "Malformed format for filter 'bad'"),
    ("7:x", "Invalid priority '7' for filter '7:x'"),
])
def test_bad_log_filters_are_refused_and_change_nothing(
        any_daemon: RunningDaemon, filters: str, detail: str) -> None:
    ok(any_daemon, "daemon-log-filters", "--filters", "2:rpc")
    assert fails(any_daemon, "daemon-log-filters", "--filters", filters) == [
        "error: Unable to change daemon logging settings", f"error: invalid argument: {detail}"]
    assert log_filters(any_daemon) == "2:*rpc* "


@pytest.mark.parametrize("outputs, mentions", [
    ("bad", "'bad'"),
    ("1:nowhere", "'nowhere'"),
    ("1:file", "does not meet the format requirements"),
    ("1:stderr:extra", "does not meet the format requirements"),
])
def test_bad_log_outputs_are_refused_and_change_nothing(
        any_daemon: RunningDaemon, outputs: str, mentions: str) -> None:
    default = log_outputs(any_daemon)
    errors = fails(any_daemon, "daemon-log-outputs", "--outputs", outputs)
    assert errors[0] == "error: Unable to change daemon logging settings"
    assert errors[1].startswith("error: invalid argument: ") and mentions in errors[1]
    assert log_outputs(any_daemon) == default


def test_log_output_to_a_file_takes_effect_at_once(any_daemon: RunningDaemon,
                                                   tmp_path: Path) -> None:
    log_file = tmp_path / "admin-set.log"
    default = log_outputs(any_daemon)
    ok(any_daemon, "daemon-log-outputs", "--outputs", f"1:file:{log_file}")
    assert log_outputs(any_daemon) == f"1:file:{log_file}"

    # A debug output gets debug and info records at once, without touching log_level.
    fails(any_daemon, "server-update-tls", any_daemon.name)
    wait_for(lambda: "no tls service found" in log_file.read_text(), "the error record")
    with RpcClient(str(any_daemon.socket())):
        [new_id] = client_ids(any_daemon, any_daemon.name)
    wait_for(lambda: re.search(rf"client {new_id} connected", log_file.read_text()) is not None,
             f"a record of client {new_id} connecting")

    ok(any_daemon, "daemon-log-outputs", "--outputs", "")
    assert log_outputs(any_daemon) == default


# -- TLS, timeout, unknown names ---------------------------------------------------------


def test_update_tls_without_a_tls_listener(any_daemon: RunningDaemon) -> None:
    for server in (any_daemon.name, "admin"):
        assert fails(any_daemon, "server-update-tls", server) == [
            "error: Unable to update server's tls related files.",
            "error: internal error: no tls service found, unable to update tls files",
        ]


def test_daemon_timeout_is_accepted(any_daemon: RunningDaemon) -> None:
    assert ok(any_daemon, "daemon-timeout", "--timeout", "5").strip() == ""
    assert ok(any_daemon, "daemon-timeout", "--timeout", "0").strip() == ""
    assert any_daemon.proc.poll() is None


SERVER_COMMANDS = [
    ("server-threadpool-info", "nope"),
    ("server-threadpool-set", "nope", "--min-workers", "0"),
    ("server-clients-info", "nope"),
    ("server-clients-set", "nope", "--max-clients", "5"),
    ("client-list", "nope"),
    ("client-info", "nope", "1"),
    ("client-disconnect", "nope", "1"),
    ("server-update-tls", "nope"),
]


def test_unknown_server_names_give_libvirts_message(any_daemon: RunningDaemon) -> None:
    for command in SERVER_COMMANDS:
        assert fails(any_daemon, *command) == ["error: Server not found: No server named 'nope'"]


def test_unknown_client_ids_give_libvirts_message(any_daemon: RunningDaemon) -> None:
    for command in ("client-info", "client-disconnect"):
        assert fails(any_daemon, command, "admin", "4711") == [
            "error: Client not found: No client with matching ID '4711'"]


def unknown_name_errors(daemon: Daemon) -> list[tuple[int, int, str]]:
    """What the procedures whose wording differs answer for an unknown server or client.

    virt-admin always looks the server and client up first, so only a raw client
    reaches these paths.
    """
    nope, admin = ap.Server("nope"), ap.Server("admin")
    calls = [
        (ap.AdminProc.CONNECT_LOOKUP_SERVER, ap.ConnectLookupServerArgs,
         ap.ConnectLookupServerArgs("nope", 0)),
        (ap.AdminProc.SERVER_GET_THREADPOOL_PARAMETERS, ap.ServerFlagsArgs,
         ap.ServerFlagsArgs(nope, 0)),
        (ap.AdminProc.SERVER_SET_THREADPOOL_PARAMETERS, ap.ServerSetThreadpoolArgs,
         ap.ServerSetThreadpoolArgs(nope, [], 0)),
        (ap.AdminProc.SERVER_SET_CLIENT_LIMITS, ap.ServerSetClientLimitsArgs,
         ap.ServerSetClientLimitsArgs(nope, [], 0)),
        (ap.AdminProc.CLIENT_GET_INFO, ap.ClientFlagsArgs,
         ap.ClientFlagsArgs(ap.Client(nope, 1, 0, 0), 0)),
        (ap.AdminProc.SERVER_LOOKUP_CLIENT, ap.ServerLookupClientArgs,
         ap.ServerLookupClientArgs(admin, 4711, 0)),
        (ap.AdminProc.CLIENT_GET_INFO, ap.ClientFlagsArgs,
         ap.ClientFlagsArgs(ap.Client(admin, 4711, 0, 0), 0)),
        (ap.AdminProc.CLIENT_CLOSE, ap.ClientFlagsArgs,
         ap.ClientFlagsArgs(ap.Client(admin, 4711, 0, 0), 0)),
    ]
    errors = []
    for proc, args_type, args in calls:
        with pytest.raises(VirtError) as caught:
            admin_call(daemon, proc, args_type, args)
        errors.append((caught.value.code, caught.value.domain, caught.value.message))
    return errors


def test_unknown_names_are_worded_per_procedure_as_libvirt_does(any_daemon: RunningDaemon
                                                                ) -> None:
    no_server = (ErrorCode.NO_SERVER, ErrorDomain.RPC, "Server not found: No server named 'nope'")
    no_server_admin = (ErrorCode.NO_SERVER, ErrorDomain.ADMIN,
                       "Server not found: no server with matching name 'nope' found")
    no_client = (ErrorCode.NO_CLIENT, ErrorDomain.RPC,
                 "Client not found: No client with matching ID '4711'")
    no_client_admin = (ErrorCode.NO_CLIENT, ErrorDomain.ADMIN,
                       "Client not found: no client with matching id '4711' found")
    assert unknown_name_errors(any_daemon) == [
        no_server, no_server, no_server_admin, no_server_admin, no_server_admin,
        no_client, no_client_admin, no_client,
    ]


# -- side by side with libvirt's own daemons -----------------------------------------------


@pytest.fixture(params=LIBVIRT_DAEMONS)
def libvirt_and_ours(request: pytest.FixtureRequest, tmp_path: Path,
                     run_daemon: Callable[..., RunningDaemon]
                     ) -> Iterator[tuple[LibvirtDaemon, RunningDaemon]]:
    """libvirt's daemon and ours of the same name, both fresh."""
    name = request.param
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(reason)
    # Both log to stderr from the start: their default output depends on whether each
    # sees a journald socket, and libvirt's sees none in its private /run.
    config = 'log_outputs = "3:stderr"\n'
    theirs = start_libvirt_daemon(name, tmp_path / f"libvirt-{name}", config)
    try:
        yield theirs, run_daemon(name, config)
    finally:
        theirs.stop()


OWN_WORDING = "…"
"""Stands in for an error detail that we word ourselves (the code and its prefix still match)."""


def script(name: str, log_file: Path) -> list[tuple[tuple[str, ...], bool]]:
    """The commands replayed on both daemons, each with whether its error text is ours."""
    commands: list[tuple[str, ...]] = [
        ("version",), ("server-list",),
        ("server-threadpool-info", name), ("server-threadpool-info", "admin"),
        ("server-clients-info", name), ("server-clients-info", "admin"),
        ("client-list", name), ("client-list", "admin"),
        ("server-threadpool-set", name, "--max-workers", "3"),
        ("server-threadpool-set", name, "--min-workers", "3"),
        ("server-threadpool-set", "admin", "--priority-workers", "0"),
        ("server-threadpool-info", "admin"),
        ("server-clients-set", name, "--max-clients", "100", "--max-unauth-clients", "50"),
        ("server-clients-info", name),
        ("server-clients-set", "admin", "--max-unauth-clients", "100"),
        ("server-clients-set", "admin", "--max-clients", "200"),
        ("server-clients-info", "admin"),
        ("daemon-log-filters",),
        ("daemon-log-filters", "--filters", "1:util 4:rpc"), ("daemon-log-filters",),
        ("daemon-log-filters", "--filters", "bad"), ("daemon-log-filters", "--filters", "7:x"),
        ("daemon-log-filters", "--filters", ""), ("daemon-log-filters",),
        ("daemon-log-outputs",),
        ("daemon-log-outputs", "--outputs", f"4:file:{log_file}"), ("daemon-log-outputs",),
        ("daemon-log-outputs", "--outputs", "3:stderr"), ("daemon-log-outputs",),
        ("server-update-tls", name), ("server-update-tls", "admin"),
        ("client-disconnect", name, "1"), ("client-disconnect", name, "1"),
        ("client-list", name),
        ("client-info", "admin", "4711"),
        *SERVER_COMMANDS,
        ("daemon-timeout", "--timeout", "5"), ("daemon-timeout", "--timeout", "0"),
    ]
    own = [
        ("server-clients-set", name, "--max-clients", "10"),
        ("server-clients-set", "admin", "--max-clients", "50"),
        ("daemon-log-outputs", "--outputs", "bad"),
        ("daemon-log-outputs", "--outputs", "1:file"),
        ("daemon-log-outputs", "--outputs", "9:stderr"),
    ]
    return [(c, False) for c in commands] + [(c, True) for c in own]


def sort_server_names(text: str) -> str:
    """libvirt lists servers in hash-table order, which varies per process: keep the
    rows' id columns where they are and put the names in sorted order."""
    rows = [re.match(r"^(\s*\d+\s+)(\S+)$", line) for line in text.splitlines()]
    found = [row for row in rows if row is not None]
    names = iter(sorted(row.group(2) for row in found))
    return "".join(
        (row.group(1) + next(names) if row is not None else line) + "\n"
        for line, row in zip(text.splitlines(), rows))


def transcript(daemon: Daemon, steps: list[tuple[tuple[str, ...], bool]]) -> list[str]:
    """What virt-admin printed for each step, with what legitimately differs normalised."""
    out = []
    for command, own_wording in steps:
        done = virt_admin(daemon.admin_uri, *command)
        text = f"$ {' '.join(command)}\n[{done.returncode}]\n{done.stdout}{done.stderr}"
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}", "<date>", text)
        text = re.sub(r"(Running against daemon: ).*", r"\1<version>", text)
        if own_wording:
            text = re.sub(r"(error: invalid argument: ).*", rf"\1{OWN_WORDING}", text)
        if command == ("server-list",):
            text = sort_server_names(text)
        out.append(text)
    return out


def test_virt_admin_prints_the_same_for_libvirts_daemon_and_ours(
        libvirt_and_ours: tuple[LibvirtDaemon, RunningDaemon], tmp_path: Path) -> None:
    theirs, ours = libvirt_and_ours
    steps = script(ours.name, tmp_path / "admin-set.log")
    transcripts = []
    for daemon in (theirs, ours):
        # The same connections on both: one client of the main server, one of admin.
        with RpcClient(str(daemon.socket())), RpcClient(str(daemon.admin_socket)):
            transcripts.append(transcript(daemon, steps))
    assert transcripts[1] == transcripts[0]


def test_unknown_names_are_answered_like_libvirts_daemon(
        libvirt_and_ours: tuple[LibvirtDaemon, RunningDaemon]) -> None:
    theirs, ours = libvirt_and_ours
    assert unknown_name_errors(ours) == unknown_name_errors(theirs)


def test_server_list_payload_matches_libvirts(
        libvirt_and_ours: tuple[LibvirtDaemon, RunningDaemon]) -> None:
    theirs, ours = libvirt_and_ours
    replies = []
    for daemon in (theirs, ours):
        ret = admin_call(daemon, ap.AdminProc.CONNECT_LIST_SERVERS, ap.ConnectListServersArgs,
                         ap.ConnectListServersArgs(1, 0), ap.ConnectListServersRet)
        replies.append((sorted(s.name for s in ret.servers), ret.ret))
    assert replies[1] == replies[0] == (sorted([ours.name, "admin"]), 2)
