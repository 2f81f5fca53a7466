"""The daemons under a real systemd: socket activation, idle exit, reload, watchdog, journal, packaging files.

Everything goes through what an administrator uses: `systemctl`, `journalctl`, `virsh`, `virt-admin`, with
the units from units/ installed in the booted guest as a package would install them.

The daemons read /etc/virtd/<daemon>.conf; these tests run them at log level info (2) because client
connects, domain lifecycle, reloads and idle exits are info records and several tests read them back from
the journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.system.harness import CHECKOUT, BootedSystem, GuestCommandError

pytestmark = pytest.mark.system

T = TypeVar("T")

UNITS_DIR = CHECKOUT / "units"
UNIT_DIR = "/etc/systemd/system"
SOCKET_DIR = "/run/virtd"
DAEMONS = ("virtd", "virtlockd", "virtlogd")
SOCKETS = {
    "virtd": ("virtd.socket", "virtd-ro.socket", "virtd-admin.socket"),
    "virtlockd": ("virtlockd.socket", "virtlockd-admin.socket"),
    "virtlogd": ("virtlogd.socket", "virtlogd-admin.socket"),
}
BASE_CONFIG = "log_level = 2\n"
VIRSH = ["virsh", "-c", f"test+unix:///default?socket={SOCKET_DIR}/virtd-sock"]
VIRSH_RO = ["virsh", "-r", "-c", f"test+unix:///default?socket={SOCKET_DIR}/virtd-sock-ro"]
# A client that stays connected, as a user's event monitor does.
EVENT_MONITOR = [*VIRSH, "event", "--loop", "--event", "lifecycle"]
# A connection to a daemon's main socket that just stays open (virtlockd's and virtlogd's programs
# are not what these tests are about).
SOCKET_HOLDER = ("import signal, socket, sys\n"
                 "held = socket.socket(socket.AF_UNIX)\n"
                 "held.connect(sys.argv[1])\n"
                 "signal.pause()\n")

# MESSAGE_IDs of common/log/message_ids.py, spelled out: the journal contract users script against.
DAEMON_STOP = "bb5104900bc549b4995917a800ea8886"
DAEMON_RELOAD = "b528086d541b42bfbbb47747528328ab"
CLIENT_CONNECT = "e746c5bd41a7450b811728a3b36692b5"
CLIENT_DISCONNECT = "860964748ced4c029169ec10c831ccc3"
VM_DEFINED = "101c45cd0275415ea73b7935c11ca600"
VM_STARTED = "290e46e13cb5415f81088983a8adf6dc"
VM_STOPPED = "d6170856af654b8daedab1fc42351b8f"
VIR_ERR_NO_DOMAIN = "42"

POLL_INTERVAL = 0.1
IDLE_TIMEOUT = 5
# Scheduling slack on a loaded two-vCPU machine, on top of a timer's own length.
SLACK = 3.0


def virt_admin(daemon: str) -> list[str]:
    return ["virt-admin", "-c", f"{daemon}:///system?socket={SOCKET_DIR}/{daemon}-admin-sock"]


def domain_xml(name: str) -> str:
    return (f"<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory>"
            "<os><type>hvm</type></os></domain>\n")


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guest(booted: BootedSystem) -> Iterator[BootedSystem]:
    """The booted guest with our units, catalog and a log-level-info config for each daemon."""
    installed = booted.install_units(UNITS_DIR, {"DOCDIR": str(booted.checkout)})
    for daemon in DAEMONS:
        booted.write_file(f"/etc/virtd/{daemon}.conf", BASE_CONFIG)
    try:
        yield booted
    finally:
        stop_everything(booted)
        unit_files = [f"{UNIT_DIR}/{name}" for name in installed if not name.endswith(".catalog")]
        booted.run(["rm", "-rf", "/etc/virtd", *unit_files])
        booted.run(["systemctl", "daemon-reload"])


@pytest.fixture(autouse=True)
def clean_slate(guest: BootedSystem) -> Iterator[None]:
    """Every test starts and ends with all daemons and sockets stopped, no drop-ins, the base config."""
    yield
    stop_everything(guest)
    guest.run(["rm", "-rf", *(f"{UNIT_DIR}/{daemon}.service.d" for daemon in DAEMONS)])
    for daemon in DAEMONS:
        guest.write_file(f"/etc/virtd/{daemon}.conf", BASE_CONFIG)
    guest.run(["systemctl", "daemon-reload"])


@pytest.fixture
def short_idle_timeout(guest: BootedSystem) -> None:
    """virtd exits after IDLE_TIMEOUT idle seconds, set the documented way: the VIRTD_ARGS drop-in."""
    drop_in(guest, "virtd.service", "timeout",
            f'[Service]\nEnvironment=VIRTD_ARGS="--timeout {IDLE_TIMEOUT}"\n')


# -- helpers -----------------------------------------------------------------------------------------


def stop_everything(guest: BootedSystem) -> None:
    units = [f"{daemon}.service" for daemon in DAEMONS] + [s for group in SOCKETS.values() for s in group]
    guest.run(["systemctl", "stop", *units])
    guest.run(["systemctl", "reset-failed", *units], check=False)


def drop_in(guest: BootedSystem, unit: str, name: str, text: str) -> None:
    guest.write_file(f"{UNIT_DIR}/{unit}.d/{name}.conf", text)
    guest.run(["systemctl", "daemon-reload"])


def start_sockets(guest: BootedSystem, daemon: str) -> None:
    guest.run(["systemctl", "start", *SOCKETS[daemon]])


def prop(guest: BootedSystem, unit: str, name: str) -> str:
    return guest.run(["systemctl", "show", "-P", name, unit]).stdout.strip()


def main_pid(guest: BootedSystem, daemon: str) -> int:
    return int(prop(guest, f"{daemon}.service", "MainPID"))


def is_active(guest: BootedSystem, daemon: str) -> bool:
    return prop(guest, f"{daemon}.service", "ActiveState") == "active"


def running_processes(guest: BootedSystem, comm: str) -> str:
    return guest.run(["pgrep", "-a", "-x", comm], check=False).stdout


def wait_for(condition: Callable[[], T], what: str, timeout: float = 15.0) -> T:
    """Poll `condition` until it returns something true; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s still waiting for {what}")
        time.sleep(POLL_INTERVAL)


def assert_stays(condition: Callable[[], bool], what: str, seconds: float) -> None:
    """Check for `seconds` that `condition` keeps holding (the way to show something does not happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), what
        time.sleep(POLL_INTERVAL)


def start_transient(guest: BootedSystem, prefix: str, command: list[str]) -> str:
    """Run `command` as its own service unit (a client that outlives one guest command); returns the unit."""
    unit = f"{guest.unique_name(prefix)}.service"
    guest.run(["systemd-run", f"--unit={unit}", "--collect", *command])
    return unit


def status_text(guest: BootedSystem) -> str:
    return prop(guest, "virtd.service", "StatusText")


def connected_clients(guest: BootedSystem, daemon: str) -> list[list[str]]:
    """`virt-admin client-list <daemon>` rows: id, transport, connected since (virt-admin is on `admin`)."""
    listing = guest.run([*virt_admin(daemon), "client-list", daemon]).stdout
    return [line.split(None, 2) for line in listing.splitlines()[2:] if line.strip()]


def socket_modes(guest: BootedSystem, *names: str) -> dict[str, str]:
    """Octal modes of sockets in SOCKET_DIR; anything there that is not a socket fails the test."""
    shown = guest.run(["stat", "-c", "%n %F %a", *(f"{SOCKET_DIR}/{name}" for name in names)]).stdout
    modes = {}
    for line in shown.splitlines():
        path, kind, mode = line.rsplit(" ", 2)
        assert kind == "socket", f"{path} is a {kind}"
        modes[path.removeprefix(f"{SOCKET_DIR}/")] = mode
    return modes


def daemon_records(guest: BootedSystem, pid: int, **matches: str) -> list[dict[str, object]]:
    return guest.journal(_PID=str(pid), **matches)


def realtime(record: dict[str, object]) -> float:
    return int(str(record["__REALTIME_TIMESTAMP"])) / 1e6


def define_domain(guest: BootedSystem, name: str) -> None:
    path = f"/run/{name}.xml"
    guest.write_file(path, domain_xml(name))
    guest.run([*VIRSH, "define", path])


# -- socket activation -------------------------------------------------------------------------------


def test_first_virsh_and_virt_admin_calls_activate_virtd(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    assert not is_active(guest, "virtd")
    assert running_processes(guest, "virtd") == ""
    assert socket_modes(guest, "virtd-sock", "virtd-sock-ro", "virtd-admin-sock") == {
        "virtd-sock": "666", "virtd-sock-ro": "666", "virtd-admin-sock": "600"}

    listing = guest.run([*VIRSH, "list"]).stdout
    assert "test" in listing and "running" in listing
    first = main_pid(guest, "virtd")
    assert first > 0 and running_processes(guest, "virtd").startswith(f"{first} ")

    guest.run(["systemctl", "stop", "virtd.service"])
    assert prop(guest, "virtd-admin.socket", "SubState") == "listening"
    servers = guest.run([*virt_admin("virtd"), "server-list"]).stdout
    assert servers.split()[-4:] == ["0", "virtd", "1", "admin"]
    assert main_pid(guest, "virtd") not in (0, first)


@pytest.mark.parametrize("daemon", ["virtlockd", "virtlogd"])
def test_first_virt_admin_call_activates_lock_and_log_daemons(guest: BootedSystem, daemon: str) -> None:
    start_sockets(guest, daemon)
    assert not is_active(guest, daemon)
    assert running_processes(guest, daemon) == ""

    servers = guest.run([*virt_admin(daemon), "server-list"]).stdout
    assert servers.split()[-4:] == ["0", daemon, "1", "admin"]
    assert is_active(guest, daemon)
    assert running_processes(guest, daemon).startswith(f"{main_pid(guest, daemon)} ")


def test_missing_socket_unit_disables_that_service(guest: BootedSystem) -> None:
    """Without virtd-ro.socket the daemon serves the other sockets and binds no read-only one itself."""
    unit, aside = f"{UNIT_DIR}/virtd-ro.socket", "/run/virtd-ro.socket.aside"
    guest.run(["mv", unit, aside])
    try:
        guest.run(["systemctl", "daemon-reload"])
        guest.run(["systemctl", "start", "virtd.socket", "virtd-admin.socket"])
        assert "test" in guest.run([*VIRSH, "list"]).stdout
        pid = main_pid(guest, "virtd")
        assert guest.run(["test", "-e", f"{SOCKET_DIR}/virtd-sock-ro"], check=False).returncode == 1
        refused = guest.run([*VIRSH_RO, "list"], check=False)
        assert refused.returncode != 0 and "virtd-sock-ro" in refused.stderr
        messages = [r["MESSAGE"] for r in daemon_records(guest, pid, SYSLOG_IDENTIFIER="virtd")]
        assert "socket virtd-sock-ro not passed by systemd: service disabled" in messages
    finally:
        guest.run(["systemctl", "stop", "virtd.service", "virtd.socket", "virtd-admin.socket"])
        guest.run(["mv", aside, unit])
        guest.run(["systemctl", "daemon-reload"])


def test_unclaimed_activation_socket_fails_the_start_with_a_clear_message(guest: BootedSystem) -> None:
    stray = guest.unique_name("virtd-stray")
    guest.write_file(f"{UNIT_DIR}/{stray}.socket",
                     f"[Socket]\nListenStream={SOCKET_DIR}/{stray}-sock\nFileDescriptorName={stray}\n"
                     "Service=virtd.service\n")
    guest.run(["systemctl", "daemon-reload"])
    try:
        guest.run(["systemctl", "start", "virtd.socket", f"{stray}.socket"])
        with pytest.raises(GuestCommandError, match="virtd.service failed"):
            guest.run(["systemctl", "start", "virtd.service"])
        wait_for(lambda: prop(guest, "virtd.service", "ActiveState") == "failed",
                 "virtd.service to give up restarting")
        errors = guest.journal(SYSLOG_IDENTIFIER="virtd", PRIORITY="3", _SYSTEMD_UNIT="virtd.service")
        assert f"internal error: Some activation file descriptors are unclaimed: {stray}" in [
            r["MESSAGE"] for r in errors]
    finally:
        guest.run(["systemctl", "stop", f"{stray}.socket"])
        guest.run(["rm", "-f", f"{UNIT_DIR}/{stray}.socket"])
        guest.run(["systemctl", "daemon-reload"])
        guest.run(["systemctl", "reset-failed"])


def test_daemon_started_by_hand_binds_its_own_sockets_and_never_idles_out(guest: BootedSystem) -> None:
    unit = start_transient(guest, "virtd-by-hand",
                           ["-p", "Type=notify", str(guest.venv / "bin" / "virtd"), "--timeout", "1"])
    try:
        assert socket_modes(guest, "virtd-sock", "virtd-sock-ro", "virtd-admin-sock") == {
            "virtd-sock": "777", "virtd-sock-ro": "777", "virtd-admin-sock": "600"}
        assert "test" in guest.run([*VIRSH, "list"]).stdout
        pid = int(prop(guest, unit, "MainPID"))
        assert_stays(lambda: prop(guest, unit, "MainPID") == str(pid),
                     "a daemon that was not socket-activated exited on its idle timeout", 2.0)
    finally:
        guest.run(["systemctl", "stop", unit])
    left = guest.run(["ls", SOCKET_DIR]).stdout.split()
    assert not {"virtd-sock", "virtd-sock-ro", "virtd-admin-sock"} & set(left)


# -- idle exit ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("short_idle_timeout")
def test_idle_virtd_exits_and_the_next_call_brings_it_back_with_its_state(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    name = guest.unique_name("idle-demo")
    define_domain(guest, name)
    pid = main_pid(guest, "virtd")

    wait_for(lambda: not is_active(guest, "virtd"), "the idle daemon to exit", IDLE_TIMEOUT + 15)
    assert prop(guest, "virtd.service", "Result") == "success"
    last_disconnect = daemon_records(guest, pid, MESSAGE_ID=CLIENT_DISCONNECT)[-1]
    [stop] = daemon_records(guest, pid, MESSAGE_ID=DAEMON_STOP)
    assert stop["MESSAGE"] == "virtd stopping: idle"
    assert IDLE_TIMEOUT - 0.1 <= realtime(stop) - realtime(last_disconnect) <= IDLE_TIMEOUT + SLACK

    assert name in guest.run([*VIRSH, "list", "--all", "--name"]).stdout.split()
    assert main_pid(guest, "virtd") not in (0, pid)


@pytest.mark.usefixtures("short_idle_timeout")
def test_connected_client_keeps_virtd_from_idling_out(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    monitor = start_transient(guest, "event-monitor", EVENT_MONITOR)
    try:
        wait_for(lambda: status_text(guest).startswith("clients: 1,"), "the event monitor to connect")
        pid = main_pid(guest, "virtd")
        assert_stays(lambda: main_pid(guest, "virtd") == pid,
                     "virtd idled out while a client was connected", IDLE_TIMEOUT + 2)
    finally:
        guest.run(["systemctl", "stop", monitor])
    wait_for(lambda: not is_active(guest, "virtd"), "virtd to exit once its last client left",
             IDLE_TIMEOUT + 15)


def test_virt_admin_changes_the_idle_timeout_live(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    guest.run([*VIRSH, "list"])
    pid = main_pid(guest, "virtd")
    assert running_processes(guest, "virtd").strip().endswith("virtd --timeout 120")

    guest.run([*virt_admin("virtd"), "daemon-timeout", "--timeout", "3"])
    wait_for(lambda: not is_active(guest, "virtd"), "virtd to exit after the new 3 s timeout", 3 + 15)
    last_disconnect = daemon_records(guest, pid, MESSAGE_ID=CLIENT_DISCONNECT)[-1]
    [stop] = daemon_records(guest, pid, MESSAGE_ID=DAEMON_STOP)
    assert 3 - 0.1 <= realtime(stop) - realtime(last_disconnect) <= 3 + SLACK


# -- reload ------------------------------------------------------------------------------------------


def test_reload_applies_changed_log_filters(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    guest.run([*VIRSH, "list"])
    pid = main_pid(guest, "virtd")
    assert guest.run([*virt_admin("virtd"), "daemon-log-filters"]).stdout.strip() == "Logging filters:"

    guest.write_file("/etc/virtd/virtd.conf", BASE_CONFIG + 'log_filters = "1:rpc.keepalive 3:access"\n')
    guest.run(["systemctl", "reload", "virtd.service"])
    wait_for(lambda: guest.run([*virt_admin("virtd"), "daemon-log-filters"]).stdout.strip()
             == "Logging filters: 1:*rpc.keepalive* 3:*access*", "the reloaded filters")
    assert main_pid(guest, "virtd") == pid
    assert daemon_records(guest, pid, MESSAGE_ID=DAEMON_RELOAD)


@pytest.mark.parametrize("daemon", ["virtlockd", "virtlogd"])
def test_reload_reexecutes_lock_and_log_daemons_in_place_keeping_clients(
        guest: BootedSystem, daemon: str) -> None:
    start_sockets(guest, daemon)
    holder = start_transient(guest, f"{daemon}-client",
                             [str(guest.venv / "bin" / "python"), "-c", SOCKET_HOLDER,
                              f"{SOCKET_DIR}/{daemon}-sock"])
    try:
        clients = wait_for(lambda: connected_clients(guest, daemon), f"a client connected to {daemon}")
        pid = main_pid(guest, daemon)

        guest.run(["systemctl", "reload", f"{daemon}.service"])
        wait_for(lambda: daemon_records(guest, pid, MESSAGE=f"{daemon} re-executed: 1 clients kept"),
                 f"{daemon} to re-execute")
        assert main_pid(guest, daemon) == pid and is_active(guest, daemon)
        assert connected_clients(guest, daemon) == clients
    finally:
        guest.run(["systemctl", "stop", holder])


# -- watchdog ----------------------------------------------------------------------------------------


def test_watchdog_restarts_a_hung_virtd(guest: BootedSystem) -> None:
    drop_in(guest, "virtd.service", "watchdog", "[Service]\nWatchdogSec=3s\n")
    start_sockets(guest, "virtd")
    guest.run([*VIRSH, "list"])
    pid = main_pid(guest, "virtd")
    restarts = int(prop(guest, "virtd.service", "NRestarts"))
    invocation = prop(guest, "virtd.service", "InvocationID")

    guest.run(["kill", "-STOP", str(pid)])
    wait_for(lambda: main_pid(guest, "virtd") not in (0, pid) and is_active(guest, "virtd"),
             "systemd to restart the hung daemon", 3 + 15)
    assert int(prop(guest, "virtd.service", "NRestarts")) == restarts + 1
    assert guest.journal(_PID="1", UNIT="virtd.service", INVOCATION_ID=invocation, UNIT_RESULT="watchdog"), \
        "systemd recorded no watchdog failure of the hung virtd"
    assert "test" in guest.run([*VIRSH, "list"]).stdout


# -- journal -----------------------------------------------------------------------------------------


def test_client_records_carry_its_id_and_the_catalog_explains_them(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    monitor = start_transient(guest, "event-monitor", EVENT_MONITOR)
    try:
        [[client_id, transport, _]] = wait_for(lambda: connected_clients(guest, "virtd"),
                                               "the event monitor to connect")
        assert transport == "unix"
    finally:
        guest.run(["systemctl", "stop", monitor])
    pid = main_pid(guest, "virtd")

    # Client ids count per server (as virt-admin shows them): VIRTD_SERVER tells the servers apart.
    of_client = {"SYSLOG_IDENTIFIER": "virtd", "VIRTD_SERVER": "virtd", "VIRTD_CLIENT_ID": client_id,
                 "_PID": str(pid)}
    wait_for(lambda: guest.journal(MESSAGE_ID=CLIENT_DISCONNECT, **of_client), "the disconnect record")
    records = guest.journal(**of_client)
    assert [r["MESSAGE_ID"] for r in records] == [CLIENT_CONNECT, CLIENT_DISCONNECT]
    for record in records:
        assert record["VIRTD_SOURCE"] == "rpc.server"
        assert record["PRIORITY"] == "6"
        assert str(record["CODE_FILE"]).endswith("common/rpc/server.py")
        assert str(record["CODE_LINE"]).isdigit() and record["CODE_FUNC"]

    explained = guest.run(["journalctl", "-x", "--no-pager", f"MESSAGE_ID={CLIENT_CONNECT}",
                           f"VIRTD_CLIENT_ID={client_id}", f"_PID={pid}"]).stdout
    assert f"Subject: Client {client_id} connected to virtd" in explained
    assert "virt-admin client-info" in explained


def test_error_reply_is_journaled_with_its_error_code(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    missing = guest.unique_name("no-such-domain")
    failed = guest.run([*VIRSH, "domstate", missing], check=False)
    assert failed.returncode == 1
    errors = [r for r in guest.journal(SYSLOG_IDENTIFIER="virtd", VIRTD_ERROR_CODE=VIR_ERR_NO_DOMAIN)
              if missing in str(r["MESSAGE"])]
    assert [r["MESSAGE"] for r in errors] == [f"Domain not found: no domain with matching name '{missing}'"]
    assert errors[0]["PRIORITY"] == "3" and errors[0]["VIRTD_SERVER"] == "virtd"
    assert str(errors[0]["VIRTD_CLIENT_ID"]).isdigit()


def test_domain_lifecycle_records_carry_the_domain_name(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    name = guest.unique_name("demo")
    define_domain(guest, name)
    guest.run([*VIRSH, "start", name])
    guest.run([*VIRSH, "destroy", name])
    uuid = guest.run([*VIRSH, "domuuid", name]).stdout.strip()

    records = guest.journal(VIRTD_DOMAIN_NAME=name)
    assert [r["MESSAGE_ID"] for r in records] == [VM_DEFINED, VM_STARTED, VM_STOPPED]
    assert {r["VIRTD_DOMAIN_UUID"] for r in records} == {uuid}
    assert {r["SYSLOG_IDENTIFIER"] for r in records} == {"virtd"}
    explained = guest.run(["journalctl", "-x", "--no-pager", f"VIRTD_DOMAIN_NAME={name}"]).stdout
    assert f"Subject: Virtual machine {name} started" in explained


def test_systemctl_status_shows_live_figures(guest: BootedSystem) -> None:
    start_sockets(guest, "virtd")
    guest.run([*VIRSH, "list"])
    wait_for(lambda: status_text(guest).startswith("clients: 0,"), "the client count to drop back to 0")
    status = guest.run(["systemctl", "status", "--no-pager", "virtd.service"]).stdout
    assert 'Status: "clients: 0, workers: 0 busy, ' in status

    monitor = start_transient(guest, "event-monitor", EVENT_MONITOR)
    try:
        wait_for(lambda: status_text(guest).startswith("clients: 1,"), "the status to count the new client")
        status = guest.run(["systemctl", "status", "--no-pager", "virtd.service"]).stdout
        assert 'Status: "clients: 1, workers: ' in status
    finally:
        guest.run(["systemctl", "stop", monitor])


# -- packaging files ---------------------------------------------------------------------------------


def test_tmpfiles_and_sysusers_configs_apply(guest: BootedSystem) -> None:
    tmpfiles = (UNITS_DIR / "virtd.tmpfiles").read_text()
    guest.write_file("/etc/sysusers.d/virtd.conf", (UNITS_DIR / "virtd.sysusers").read_text())
    guest.write_file("/etc/tmpfiles.d/virtd.conf", tmpfiles)
    try:
        guest.run(["systemd-sysusers", "/etc/sysusers.d/virtd.conf"])
        guest.run(["systemd-tmpfiles", "--create", "/etc/tmpfiles.d/virtd.conf"])
        for group in ("virtd", "virtd-admin"):
            assert guest.run(["getent", "group", group]).stdout.startswith(f"{group}:")
        for line in tmpfiles.splitlines():
            if line.startswith("d "):
                _, path, mode, user, group, _ = line.split()
                shown = guest.run(["stat", "-c", "%F %a %U %G", path]).stdout.split()
                assert shown == ["directory", mode.lstrip("0"), user, group], path
    finally:
        guest.run(["rm", "-f", "/etc/sysusers.d/virtd.conf", "/etc/tmpfiles.d/virtd.conf"])
