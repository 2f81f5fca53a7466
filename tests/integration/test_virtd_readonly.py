"""A client of virtd-sock-ro can read everything and change nothing.

The whole remote procedure table is walked: every procedure is called with
valid arguments on the read-only socket. Each one not marked read-only must be
refused with libvirt's "operation forbidden: read only access prevents
virDomainXxx" (code 29, domain 20) and change nothing; every other one must
work. libvirt's own daemon, given the same calls on a read-only connection,
proves that the table draws the line where libvirt draws it.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.rpc.client import RpcClient
from common.rpc.program import Procedure
from daemons.virtd.remote import protocol as p
from daemons.virtd.remote.connection import DriverTable
from daemons.virtd.remote.program import remote_program
from daemons.virtd.remote.protocol import RemoteProc
from tests.integration.daemons import RunningDaemon
from tests.integration.libvirtd import Libvirtd, libvirtd  # noqa: F401  (pytest fixture)

CONNECT_RO = 1
XML_SECURE = 1
TEST_DOMAIN = p.Domain("test", uuid.UUID("6695eb01-f6a4-8304-79aa-97f2502e193f").bytes, 1)
VM1_UUID = uuid.UUID("11111111-2222-3333-4444-555555555555")
VM1_XML = ("<domain type='test'><name>vm1</name><uuid>11111111-2222-3333-4444-555555555555"
           "</uuid><memory>65536</memory><os><type>hvm</type></os></domain>")
NEW_XML = ("<domain type='test'><name>ro-new</name><memory>65536</memory>"
           "<os><type>hvm</type></os></domain>")

PROCEDURES = sorted(remote_program(DriverTable({}, ())).procedures.values(),
                    key=lambda proc: proc.number)
READ = [proc for proc in PROCEDURES if proc.readonly_ok]
WRITE = [proc for proc in PROCEDURES if not proc.readonly_ok]
PROCEDURES_BY_NUMBER = {proc.number: proc for proc in PROCEDURES}
# Opening and closing bracket every session; they are called where a session needs them.
SESSION = (RemoteProc.CONNECT_OPEN, RemoteProc.CONNECT_CLOSE)


def valid_args(proc: Procedure, dom: Any, values: dict[str, Any]) -> Any:
    """Arguments a read-write client could pass to `proc` successfully, acting on `dom`."""
    if proc.args is xdr.Void:
        return None
    fields = {"dom": dom, "xml": NEW_XML, "flags": 0, "autostart": 1, "id": dom.id,
              "name": dom.name, "uuid": dom.uuid, "need_results": 1, "maxids": 16,
              "maxnames": 16, "feature": 10, "eventID": 0, **values}
    missing = [name for name, _ in proc.args.fields if name not in fields]
    assert not missing, f"{proc.name}: give the test a valid value for {missing}"
    return proc.args(**{name: fields[name] for name, _ in proc.args.fields})


def call(client: RpcClient, proc: Procedure, args: Any) -> Any:
    ret, _fds = client.call(p.REMOTE_PROGRAM, p.REMOTE_VERSION, proc.number, proc.args, args,
                            proc.ret)
    return ret


def verdict(client: RpcClient, proc: Procedure, args: Any) -> tuple[Any, ...]:
    """("ok", reply) or the error triple a call earned."""
    try:
        return ("ok", call(client, proc, args))
    except VirtError as err:
        return (err.code, err.domain, err.message)


def open_session(path: Path, flags: int = 0) -> RpcClient:
    client = RpcClient(str(path), timeout=10)
    call(client, PROCEDURES_BY_NUMBER[RemoteProc.CONNECT_OPEN],
         p.ConnectOpenArgs("test:///default", flags))
    return client


def walk(client: RpcClient, procedures: list[Procedure], dom: Any) -> Iterator[
        tuple[Procedure, tuple[Any, ...]]]:
    """Each procedure's verdict; a callback id registered on the way is used to deregister."""
    values: dict[str, Any] = {}
    for proc in procedures:
        if proc.number in SESSION:
            continue
        result = verdict(client, proc, valid_args(proc, dom, values))
        if result[0] == "ok" and hasattr(result[1], "callbackID"):
            values["callbackID"] = result[1].callbackID
        yield proc, result


def forbidden(proc: Procedure) -> tuple[Any, ...]:
    return (ErrorCode.OPERATION_DENIED, ErrorDomain.DOMAIN,
            f"operation forbidden: read only access prevents {proc.api}")


@pytest.fixture
def virtd(run_daemon: Callable[..., RunningDaemon]) -> RunningDaemon:
    """A virtd with `test` running and `vm1` defined (through the read-write socket)."""
    daemon = run_daemon("virtd")
    with open_session(daemon.socket("sock")) as client:
        call(client, PROCEDURES_BY_NUMBER[RemoteProc.DOMAIN_DEFINE_XML], p.XmlArgs(VM1_XML))
    return daemon


def domain_states(daemon: RunningDaemon) -> dict[str, tuple[int, int, int]]:
    """name -> (state, reason, autostart) of every domain, read through the read-write socket."""
    with open_session(daemon.socket("sock")) as client:
        listed = call(client, PROCEDURES_BY_NUMBER[RemoteProc.CONNECT_LIST_ALL_DOMAINS],
                      p.ListAllArgs(1, 0))
        states = {}
        for dom in listed.domains:
            state = call(client, PROCEDURES_BY_NUMBER[RemoteProc.DOMAIN_GET_STATE],
                         p.DomainFlagsArgs(dom, 0))
            autostart = call(client, PROCEDURES_BY_NUMBER[RemoteProc.DOMAIN_GET_AUTOSTART],
                             p.DomainArgs(dom))
            states[dom.name] = (state.state, state.reason, autostart.autostart)
        return states


def test_the_table_has_both_kinds() -> None:
    """Sanity for the walks below: the table holds the writes virsh's workflow uses."""
    writes = {proc.number for proc in WRITE}
    assert {RemoteProc.DOMAIN_DEFINE_XML, RemoteProc.DOMAIN_CREATE, RemoteProc.DOMAIN_DESTROY,
            RemoteProc.DOMAIN_UNDEFINE_FLAGS, RemoteProc.DOMAIN_SUSPEND} <= writes
    assert len(READ) > 20


def test_every_write_procedure_is_forbidden(virtd: RunningDaemon) -> None:
    before = domain_states(virtd)
    vm1 = p.Domain("vm1", VM1_UUID.bytes, -1)
    with open_session(virtd.socket("sock-ro")) as client:
        for dom in (TEST_DOMAIN, vm1):
            for proc, result in walk(client, WRITE, dom):
                assert result == forbidden(proc), proc.name
        # The refusals cost nothing: the connection still reads.
        info = call(client, PROCEDURES_BY_NUMBER[RemoteProc.DOMAIN_GET_STATE],
                    p.DomainFlagsArgs(TEST_DOMAIN, 0))
        assert info.state == 1
    assert domain_states(virtd) == before
    assert set(before) == {"test", "vm1"}


def test_every_read_procedure_works(virtd: RunningDaemon) -> None:
    with open_session(virtd.socket("sock-ro")) as client:
        for proc, result in walk(client, READ, TEST_DOMAIN):
            assert result[0] == "ok", (proc.name, result)
        assert call(client, PROCEDURES_BY_NUMBER[RemoteProc.CONNECT_CLOSE], None) is None


def test_secure_xml_is_forbidden(virtd: RunningDaemon) -> None:
    get_xml = PROCEDURES_BY_NUMBER[RemoteProc.DOMAIN_GET_XML_DESC]
    with open_session(virtd.socket("sock-ro")) as client:
        assert verdict(client, get_xml, p.DomainFlagsArgs(TEST_DOMAIN, XML_SECURE)) == (
            ErrorCode.OPERATION_DENIED, ErrorDomain.DOMAIN,
            "operation forbidden: virDomainGetXMLDesc with secure flag")


def test_verdicts_match_libvirtd(virtd: RunningDaemon, libvirtd: Libvirtd) -> None:  # noqa: F811
    """libvirt's daemon, on a read-only connection, refuses exactly the same calls, alike."""

    def refusals(path: Path, flags: int) -> dict[str, tuple[Any, ...] | None]:
        with open_session(path, flags) as client:
            found = {proc.name: result for proc, result in walk(client, PROCEDURES, TEST_DOMAIN)}
            found["secure xml"] = verdict(client, PROCEDURES_BY_NUMBER[
                RemoteProc.DOMAIN_GET_XML_DESC], p.DomainFlagsArgs(TEST_DOMAIN, XML_SECURE))
        return {name: result if result[0] == ErrorCode.OPERATION_DENIED else None
                for name, result in found.items()}

    # libvirtd answers AUTH_POLKIT on a socket without auth with whatever error its worker
    # thread raised last (often the previous call's): that is no verdict to compare.
    ours = refusals(virtd.socket("sock-ro"), 0)
    theirs = refusals(libvirtd.socket(), CONNECT_RO)
    for found in (ours, theirs):
        found.pop("REMOTE_PROC_AUTH_POLKIT")
    assert ours == theirs
    assert sum(1 for refusal in ours.values() if refusal) == len(WRITE) + 1


RO_VIRSH_COMMANDS = "start vm1; destroy test; list --all"


def virsh_read_only(uri: str, *options: str) -> str:
    done = subprocess.run(["virsh", *options, "-c", uri, RO_VIRSH_COMMANDS],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    return done.stdout


def test_virsh_on_the_read_only_socket(virtd: RunningDaemon) -> None:
    out = virsh_read_only(f"test+unix:///default?socket={virtd.socket('sock-ro')}")
    assert out == (
        "error: Failed to start domain 'vm1'\n"
        "error: operation forbidden: read only access prevents virDomainCreate\n\n"
        "error: Failed to destroy domain 'test'\n"
        "error: operation forbidden: read only access prevents virDomainDestroy\n\n"
        " Id   Name   State\n"
        "-----------------------\n"
        " 1    test   running\n"
        " -    vm1    shut off\n\n")


def test_virsh_read_only_matches_libvirt(virtd: RunningDaemon,
                                         libvirtd: Libvirtd) -> None:  # noqa: F811
    """virsh prints the same as when libvirt's own client library refuses (`virsh -r`).

    A read-write session holds libvirt's test driver open with vm1 defined meanwhile.
    """
    ours = virsh_read_only(f"test+unix:///default?socket={virtd.socket('sock-ro')}")
    with open_session(libvirtd.socket()) as holder:
        call(holder, PROCEDURES_BY_NUMBER[RemoteProc.DOMAIN_DEFINE_XML], p.XmlArgs(VM1_XML))
        theirs = virsh_read_only(libvirtd.uri, "-r")
    assert ours == theirs
