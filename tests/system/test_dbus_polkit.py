"""virtd administered over the system bus and guarded by polkit, in a booted systemd.

The module installs virtd as its package would: the units, the sysusers groups, the
polkit actions and default rules, the bus policy and the D-Bus activation file. The
guest shares the host's read-only /usr, so the two /usr directories polkitd and
dbus-daemon read only from (actions, system services) become writable copies bound
over the originals inside the guest's mount namespace, as the harness does for
journal catalogs. Rules and the bus policy go to /etc/polkit-1/rules.d and
/etc/dbus-1/system.d, which polkitd and dbus-daemon read as well (the guest's
polkitd cannot read the shared /usr/share/polkit-1/rules.d: it belongs to the
host's polkitd uid).

virtd runs with `access_drivers = [ "polkit" ]` and `auth_unix_rw = "polkit"` (its
read-write socket is open to everyone; polkit decides), and three users: an
administrator in group virtd-admin, an outsider, and an operator whom a site rule
allows org.virtd.api.domain.* on domain `demo` only. Commands run as those users
are not in a logind session; the rules go by group and user name, which polkit
resolves without one.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from common.log.message_ids import MessageId
from tests.system.harness import BootedSystem

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
BUS = "org.virtd.virtd1"
DAEMON_PATH = "/org/virtd/virtd"
SERVER_PATH = "/org/virtd/virtd/server/virtd"
DAEMON1 = "org.virtd.Daemon1"
SERVER1 = "org.virtd.Server1"
DOC = "org.freedesktop.DBus.DocString"
URI = "test+unix:///default?socket=/run/virtd/virtd-sock"
ADMIN_URI = "virtd:///system?socket=/run/virtd/virtd-admin-sock"
VIRTD_UNITS = ("virtd.socket", "virtd-ro.socket", "virtd-admin.socket")
TUNING_FILE = "/var/lib/virtd/virtd-tuning.json"
POLKIT_ACTIONS = "/usr/share/polkit-1/actions"
POLKIT_RULES = "/etc/polkit-1/rules.d"
DBUS_SYSTEM_SERVICES = "/usr/share/dbus-1/system-services"
WAIT = 15.0

VIRTD_CONF = 'access_drivers = [ "polkit" ]\nauth_unix_rw = "polkit"\n'
OPERATOR_RULE = """\
polkit.addRule(function(action, subject) {
    if (subject.user != "%(user)s")
        return polkit.Result.NOT_HANDLED;
    if (action.id == "org.virtd.unix.manage")
        return polkit.Result.YES;
    if (action.id.indexOf("org.virtd.api.domain.") == 0 && action.lookup("domain_name") == "demo")
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
"""
DOMAIN_XML = "<domain type='test'><name>%s</name><memory>65536</memory>" \
             "<os><type>hvm</type></os></domain>"

# A /usr directory of the guest made writable in its mount namespace: a copy bound over it.
WRITABLE_USR_DIR = """\
set -e
mountpoint -q "$1" && exit
mkdir -p "$1" "$2"
cp -a "$1"/. "$2"/
mount --bind "$2" "$1"
"""

SIGNAL_RECORDER = """\
import asyncio, json, sys
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from systemd import daemon

def plain(value):
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value

async def record(sender, path):
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    reply = await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                   interface="org.freedesktop.DBus", member="AddMatch",
                                   signature="s", body=[f"type='signal',sender='{sender}'"]))
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    with open(path, "a", buffering=1) as sink:
        def write(msg):
            if msg.message_type == MessageType.SIGNAL:
                sink.write(json.dumps({"path": msg.path, "interface": msg.interface,
                                       "member": msg.member, "body": plain(msg.body)}) + "\\n")
        bus.add_message_handler(write)
        daemon.notify("READY=1")
        await asyncio.Event().wait()

asyncio.run(record(sys.argv[1], sys.argv[2]))
"""

LIBVIRT_CLIENT = """\
import signal, sys, libvirt
from systemd import daemon
connection = libvirt.open(sys.argv[1])
daemon.notify("READY=1")
signal.pause()
"""

LIBVIRT_START = """\
import sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
connection = libvirt.open(sys.argv[1])
try:
    connection.lookupByName(sys.argv[2]).create()
except libvirt.libvirtError as err:
    print(err.get_error_code(), err.get_error_domain(), err.get_error_message())
else:
    print("started")
"""


@dataclass
class VirtdHost:
    """The guest with virtd installed, and the users the tests act as."""

    booted: BootedSystem
    admin: str
    outsider: str
    operator: str
    units: list[str]
    """The unit files installed in /etc/systemd/system."""

    def busctl(self, *args: str, user: str | None = None, check: bool = True
               ) -> subprocess.CompletedProcess[str]:
        return self.booted.run(["busctl", *args], user=user, check=check)

    def busctl_data(self, *args: str, user: str) -> Any:
        """What `busctl --json=short` returns, parsed (None when it prints nothing)."""
        output = self.busctl("--json=short", *args, user=user).stdout
        return json.loads(output)["data"] if output.strip() else None

    def get(self, path: str, interface: str, prop: str, user: str | None = None) -> Any:
        return self.busctl_data("get-property", BUS, path, interface, prop,
                                user=user or self.admin)

    def set(self, path: str, interface: str, prop: str, signature: str, value: object,
            user: str | None = None) -> None:
        self.busctl("set-property", BUS, path, interface, prop, signature, str(value),
                    user=user or self.admin)

    def call(self, path: str, interface: str, method: str, *args: str,
             user: str | None = None) -> Any:
        return self.busctl_data("call", BUS, path, interface, method, *args,
                                user=user or self.admin)

    def virt_admin(self, *args: str) -> str:
        return self.booted.run(["virt-admin", "-c", ADMIN_URI, *args]).stdout

    def virt_admin_values(self, *args: str) -> dict[str, str]:
        """virt-admin's `key : value` listing as a dict."""
        lines = [line.split(":", 1) for line in self.virt_admin(*args).splitlines() if ":" in line]
        return {key.strip(): value.strip() for key, value in lines}

    def virsh(self, *args: str, user: str | None = None, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        return self.booted.run(["virsh", "-c", URI, *args], user=user, check=check)

    def python(self) -> str:
        return str(self.booted.venv / "bin" / "python")

    def start_unit(self, prefix: str, script: str, *args: str, user: str | None = None) -> str:
        """Run `script` as a Type=notify transient unit; returns once it said READY=1.

        A script run as another user gets Debian's python3 (its libvirt and systemd modules
        are system-wide): the checkout, and so its .venv, may sit in a directory only root
        can enter (a clone in `mktemp -d`)."""
        unit = self.booted.unique_name(prefix)
        self.booted.write_file(f"/run/{unit}.py", script)
        as_user = ["-p", f"User={user}"] if user else []
        python = "/usr/bin/python3" if user else self.python()
        self.booted.run(["systemd-run", f"--unit={unit}", "-p", "Type=notify", *as_user,
                         python, f"/run/{unit}.py", *args])
        return f"{unit}.service"

    def virtd_active(self) -> bool:
        state = self.booted.run(["systemctl", "is-active", "virtd.service"], check=False)
        return state.stdout.strip() == "active"


def poll(what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Call `probe` until it returns something true, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class SignalRecorder:
    """Every signal virtd's bus name emits from the moment it is started."""

    def __init__(self, host: VirtdHost) -> None:
        self.host = host
        self.file = f"/run/{host.booted.unique_name('virtd-signals')}.jsonl"
        self.unit = host.start_unit("virtd-signal-recorder", SIGNAL_RECORDER, BUS, self.file)

    def records(self) -> list[dict[str, Any]]:
        text = self.host.booted.run(["cat", self.file], check=False).stdout
        return [json.loads(line) for line in text.splitlines()]

    def wait_for(self, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return poll(what, lambda: next((r for r in self.records() if match(r)), None))

    def wait_for_change(self, path: str, interface: str, **values: object) -> dict[str, Any]:
        """The PropertiesChanged signal carrying `values` for `interface` at `path`."""
        def match(record: dict[str, Any]) -> bool:
            if record["path"] != path or record["member"] != "PropertiesChanged":
                return False
            changed_interface, changed, _ = record["body"]
            return changed_interface == interface and all(
                changed.get(name) == value for name, value in values.items())
        return self.wait_for(f"PropertiesChanged {values} at {path}", match)

    def stop(self) -> None:
        self.host.booted.run(["systemctl", "stop", self.unit])


def _writable_usr_dir(booted: BootedSystem, directory: str) -> None:
    staging = "/run/writable" + directory.replace("/", "-")
    booted.run(["/bin/sh", "-c", WRITABLE_USR_DIR, "writable-usr-dir", directory, staging])


def _add_user(booted: BootedSystem, prefix: str, *groups: str) -> str:
    user = booted.unique_name(prefix)
    extra = ["--groups", ",".join(groups)] if groups else []
    booted.run(["useradd", "--no-create-home", *extra, user])
    return user


def install_virtd(booted: BootedSystem) -> list[str]:
    """Install virtd's units, groups, polkit and D-Bus files and its config, as the package
    and an administrator enabling polkit would."""
    installed = booted.install_units(REPO / "units", {"DOCDIR": str(REPO)})
    booted.run(["systemd-sysusers", str(REPO / "units" / "virtd.sysusers")])
    booted.run(["systemd-tmpfiles", "--create", str(REPO / "units" / "virtd.tmpfiles")])
    for directory in (POLKIT_ACTIONS, DBUS_SYSTEM_SERVICES):
        _writable_usr_dir(booted, directory)
    booted.write_file(f"{POLKIT_ACTIONS}/org.virtd.policy",
                      (REPO / "polkit" / "org.virtd.policy").read_text())
    booted.write_file(f"{POLKIT_RULES}/50-virtd.rules",
                      (REPO / "polkit" / "50-virtd.rules").read_text())
    for activation in sorted((REPO / "units" / "dbus").glob("*.service")):
        booted.write_file(f"{DBUS_SYSTEM_SERVICES}/{activation.name}", activation.read_text())
    booted.write_file("/etc/dbus-1/system.d/org.virtd.conf",
                      (REPO / "polkit" / "org.virtd.conf").read_text())
    booted.write_file("/etc/virtd/virtd.conf", VIRTD_CONF)
    booted.run(["systemctl", "daemon-reload"])
    booted.run(["busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                "org.freedesktop.DBus", "ReloadConfig"])
    return [name for name in installed if not name.endswith(".catalog")]


def uninstall_virtd(host: VirtdHost) -> None:
    """Leave nothing running or configured that another test module could trip over."""
    booted = host.booted
    for name in ("demo", "other"):
        booted.run(["virsh", "-c", URI, "destroy", name], check=False)
        booted.run(["virsh", "-c", URI, "undefine", name], check=False)
    booted.run(["systemctl", "stop", "virtd.service", *VIRTD_UNITS])
    booted.run(["rm", "-f", "/etc/virtd/virtd.conf", TUNING_FILE,
                f"{POLKIT_RULES}/60-{host.operator}.rules",
                *(f"/etc/systemd/system/{unit}" for unit in host.units)])
    booted.run(["systemctl", "daemon-reload"])


@pytest.fixture(scope="module")
def host(booted: BootedSystem) -> Iterator[VirtdHost]:
    units = install_virtd(booted)
    host = VirtdHost(booted, admin=_add_user(booted, "vadmin", "virtd-admin"),
                     outsider=_add_user(booted, "voutsider"),
                     operator=_add_user(booted, "voperator"), units=units)
    booted.write_file(f"{POLKIT_RULES}/60-{host.operator}.rules",
                      OPERATOR_RULE % {"user": host.operator})
    # polkitd reads the new actions, and every rule now rather than when inotify fires.
    booted.run(["systemctl", "restart", "polkit.service"])
    booted.run(["systemctl", "start", *VIRTD_UNITS])
    try:
        for name in ("demo", "other"):
            booted.write_file(f"/run/{name}.xml", DOMAIN_XML % name)
            host.virsh("define", f"/run/{name}.xml")
        yield host
    finally:
        uninstall_virtd(host)


@pytest.fixture
def signals(host: VirtdHost) -> Iterator[SignalRecorder]:
    recorder = SignalRecorder(host)
    try:
        yield recorder
    finally:
        recorder.stop()


# -- the API as busctl shows it ------------------------------------------------------------------


def _introspected(host: VirtdHost, path: str, interface: str) -> ET.Element:
    xml = host.busctl("introspect", "--xml-interface", BUS, path, user=host.outsider).stdout
    found = ET.fromstring(xml).find(f"interface[@name='{interface}']")
    assert found is not None, f"{interface} missing at {path}"
    return found


def _documented(element: ET.Element) -> dict[str, str]:
    """member name -> its DocString, for every method, property and signal."""
    return {child.get("name", ""): next((a.get("value", "") for a in child.findall("annotation")
                                         if a.get("name") == DOC), "")
            for child in element if child.tag in ("method", "property", "signal")}


def test_busctl_shows_the_documented_admin_api(host: VirtdHost) -> None:
    tree = host.busctl("tree", BUS).stdout
    assert "/org/virtd/virtd/server/virtd" in tree and "/org/virtd/virtd/server/admin" in tree

    table = host.busctl("introspect", BUS, DAEMON_PATH).stdout
    for member in (".ListServers", ".Persist", ".LogLevel", ".LogFilters", ".LogOutputs",
                   ".IdleTimeout"):
        assert member in table
    daemon_docs = _documented(_introspected(host, DAEMON_PATH, DAEMON1))
    assert set(daemon_docs) == {"ListServers", "Persist", "LogLevel", "LogFilters",
                                "LogOutputs", "IdleTimeout"}
    assert "org.virtd.admin.tune" in daemon_docs["Persist"]
    assert "write: org.virtd.admin.logging" in daemon_docs["LogOutputs"]

    server_docs = _documented(_introspected(host, SERVER_PATH, SERVER1))
    assert {"ListClients", "GetClientInfo", "CloseClient", "MinWorkers", "MaxWorkers",
            "PrioWorkers", "MaxClients", "MaxUnauthClients", "ClientConnected",
            "ClientDisconnected"} <= set(server_docs)
    assert "org.virtd.admin.disconnect-clients" in server_docs["CloseClient"]
    assert all(doc.strip() for doc in {**daemon_docs, **server_docs}.values())


# -- an administrator in virtd-admin, busctl and virt-admin side by side -------------------------


def test_list_servers_matches_virt_admin(host: VirtdHost) -> None:
    (servers,) = host.call(DAEMON_PATH, DAEMON1, "ListServers")
    listed = [line.split()[1] for line in host.virt_admin("srv-list").splitlines()[2:] if line]
    assert servers == listed == ["virtd", "admin"]


def test_worker_pool_tuned_over_dbus_is_what_virt_admin_shows(host: VirtdHost) -> None:
    before = host.virt_admin_values("server-threadpool-info", "virtd")
    try:
        host.set(SERVER_PATH, SERVER1, "MaxWorkers", "u", 24)
        host.set(SERVER_PATH, SERVER1, "MinWorkers", "u", 3)
        host.set(SERVER_PATH, SERVER1, "PrioWorkers", "u", 7)
        shown = host.virt_admin_values("server-threadpool-info", "virtd")
        assert (shown["minWorkers"], shown["maxWorkers"], shown["prioWorkers"]) == ("3", "24", "7")
        assert [host.get(SERVER_PATH, SERVER1, p) for p in
                ("MinWorkers", "MaxWorkers", "PrioWorkers")] == [3, 24, 7]
    finally:
        for prop, key in (("MinWorkers", "minWorkers"), ("MaxWorkers", "maxWorkers"),
                          ("PrioWorkers", "prioWorkers")):
            host.set(SERVER_PATH, SERVER1, prop, "u", before[key])
    assert host.virt_admin_values("server-threadpool-info", "virtd")["prioWorkers"] == \
        before["prioWorkers"]


def test_client_limits_tuned_over_dbus_are_what_virt_admin_shows(host: VirtdHost) -> None:
    before = host.virt_admin_values("srv-clients-info", "virtd")
    try:
        host.set(SERVER_PATH, SERVER1, "MaxClients", "u", 321)
        host.set(SERVER_PATH, SERVER1, "MaxUnauthClients", "u", 12)
        shown = host.virt_admin_values("srv-clients-info", "virtd")
        assert (shown["nclients_max"], shown["nclients_unauth_max"]) == ("321", "12")
    finally:
        host.virt_admin("srv-clients-set", "virtd", "--max-clients", before["nclients_max"],
                        "--max-unauth-clients", before["nclients_unauth_max"])


def test_logging_changed_over_dbus_is_what_virt_admin_shows(host: VirtdHost) -> None:
    try:
        host.set(DAEMON_PATH, DAEMON1, "LogLevel", "u", 4)
        assert host.get(DAEMON_PATH, DAEMON1, "LogLevel") == 4
        assert "Logging outputs: 4:journald" in host.virt_admin("daemon-log-outputs")

        host.set(DAEMON_PATH, DAEMON1, "LogFilters", "s", "1:rpc 4:dbus")
        assert "Logging filters: 1:*rpc* 4:*dbus*" in host.virt_admin("daemon-log-filters")
        assert host.get(DAEMON_PATH, DAEMON1, "LogFilters") == "1:rpc 4:dbus"

        outputs = "3:journald 2:file:/var/log/virtd/dbus-test.log"
        host.set(DAEMON_PATH, DAEMON1, "LogOutputs", "s", outputs)
        assert f"Logging outputs: {outputs}" in host.virt_admin("daemon-log-outputs")
    finally:
        host.set(DAEMON_PATH, DAEMON1, "LogOutputs", "s", "")
        host.set(DAEMON_PATH, DAEMON1, "LogFilters", "s", "")
        host.set(DAEMON_PATH, DAEMON1, "LogLevel", "u", 3)
    assert "Logging outputs: 3:journald" in host.virt_admin("daemon-log-outputs")


def test_clients_are_listed_inspected_and_closed_over_dbus(
        host: VirtdHost, signals: SignalRecorder) -> None:
    unit = host.start_unit("virtd-client", LIBVIRT_CLIENT, URI, user=host.operator)
    try:
        pid = int(host.booted.run(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout)
        uid = int(host.booted.run(["id", "-u", host.operator]).stdout)
        (clients,) = host.call(SERVER_PATH, SERVER1, "ListClients")
        (client_id, _since, transport, client_pid, client_uid, readonly), = [
            c for c in clients if c[3] == pid]
        assert (transport, client_uid, readonly) == (0, uid, False)
        signals.wait_for("ClientConnected", lambda r: r["member"] == "ClientConnected"
                         and r["body"] == [client_id, pid, uid, False])

        (info,) = host.call(SERVER_PATH, SERVER1, "GetClientInfo", "t", str(client_id))
        assert info["unix_user_name"]["data"] == host.operator
        assert info["unix_process_id"]["data"] == pid
        shown = host.virt_admin_values("client-info", "virtd", str(client_id))
        assert shown["unix_user_name"] == host.operator
        assert str(client_id) in host.virt_admin("srv-clients-list", "virtd").split()

        host.call(SERVER_PATH, SERVER1, "CloseClient", "t", str(client_id))
        signals.wait_for("ClientDisconnected", lambda r: r["member"] == "ClientDisconnected"
                         and r["body"] == [client_id])
        assert str(client_id) not in host.virt_admin("srv-clients-list", "virtd").split()
        records = host.booted.journal(_SYSTEMD_UNIT="virtd.service", VIRTD_CLIENT_ID=str(client_id))
        assert any("closed by an administrator" in r["MESSAGE"] for r in records)
    finally:
        host.booted.run(["systemctl", "stop", unit])


def test_virt_admin_changes_are_signalled_as_properties_changed(
        host: VirtdHost, signals: SignalRecorder) -> None:
    before = host.virt_admin_values("server-threadpool-info", "virtd")
    limits = host.virt_admin_values("srv-clients-info", "virtd")
    try:
        host.virt_admin("server-threadpool-set", "virtd", "--max-workers", "22")
        signals.wait_for_change(SERVER_PATH, SERVER1, MaxWorkers=22)
        host.virt_admin("srv-clients-set", "virtd", "--max-clients", "444")
        signals.wait_for_change(SERVER_PATH, SERVER1, MaxClients=444)
        host.virt_admin("daemon-log-filters", "3:rpc")
        signals.wait_for_change(DAEMON_PATH, DAEMON1, LogFilters="3:rpc")
        host.virt_admin("daemon-log-outputs", "2:journald")
        signals.wait_for_change(DAEMON_PATH, DAEMON1, LogOutputs="2:journald")
        host.virt_admin("daemon-timeout", "--timeout", "600")
        signals.wait_for_change(DAEMON_PATH, DAEMON1, IdleTimeout=600)
        assert host.get(DAEMON_PATH, DAEMON1, "IdleTimeout") == 600
    finally:
        host.virt_admin("server-threadpool-set", "virtd", "--max-workers", before["maxWorkers"])
        host.virt_admin("srv-clients-set", "virtd", "--max-clients", limits["nclients_max"])
        host.set(DAEMON_PATH, DAEMON1, "LogFilters", "s", "")
        host.set(DAEMON_PATH, DAEMON1, "LogOutputs", "s", "")
        host.set(DAEMON_PATH, DAEMON1, "IdleTimeout", "u", 120)


def test_persisted_tuning_is_applied_at_the_next_start(host: VirtdHost) -> None:
    booted = host.booted
    try:
        host.set(SERVER_PATH, SERVER1, "MaxWorkers", "u", 23)
        (written,) = host.call(DAEMON_PATH, DAEMON1, "Persist")
        assert written == TUNING_FILE
        booted.run(["systemctl", "restart", "virtd.service"])
        assert host.virt_admin_values("server-threadpool-info", "virtd")["maxWorkers"] == "23"
    finally:
        booted.run(["rm", "-f", TUNING_FILE])
        booted.run(["systemctl", "restart", "virtd.service"])
    assert host.virt_admin_values("server-threadpool-info", "virtd")["maxWorkers"] == "20"


# -- anyone else is refused by polkit ------------------------------------------------------------


def test_users_outside_virtd_admin_are_refused_by_polkit(host: VirtdHost) -> None:
    user = host.outsider
    max_workers = host.virt_admin_values("server-threadpool-info", "virtd")["maxWorkers"]

    read = host.busctl("get-property", BUS, SERVER_PATH, SERVER1, "MaxWorkers", user=user,
                       check=False)
    assert read.returncode != 0
    assert ("access denied: no polkit agent available to authenticate action "
            "'org.virtd.admin.view'") in read.stderr

    write = host.busctl("set-property", BUS, SERVER_PATH, SERVER1, "MaxWorkers", "u", "99",
                        user=user, check=False)
    assert write.returncode != 0 and "'org.virtd.admin.tune'" in write.stderr
    assert host.virt_admin_values("server-threadpool-info", "virtd")["maxWorkers"] == max_workers

    persist = host.busctl("call", BUS, DAEMON_PATH, DAEMON1, "Persist", user=user, check=False)
    assert persist.returncode != 0 and "Access denied" in persist.stderr  # AccessDenied

    close = host.booted.run(["dbus-send", "--system", "--print-reply", f"--dest={BUS}",
                             SERVER_PATH, f"{SERVER1}.CloseClient", "uint64:1"],
                            user=user, check=False)
    assert close.returncode != 0
    assert ("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired: access denied: no "
            "polkit agent available to authenticate action "
            "'org.virtd.admin.disconnect-clients'") in close.stderr

    messages = [str(r.get("MESSAGE")) for r in host.booted.journal(_SYSTEMD_UNIT="virtd.service")]
    assert messages and not [m for m in messages if "Traceback" in m]


# -- per-API access control (access_drivers = [ "polkit" ]) --------------------------------------


def test_a_site_rule_lets_a_user_start_one_domain_and_no_other(host: VirtdHost) -> None:
    user = host.operator
    started = host.virsh("start", "demo", user=user)
    assert "Domain 'demo' started" in started.stdout
    assert host.virsh("domstate", "demo", user=user).stdout.strip() == "running"

    refused = host.virsh("start", "other", user=user, check=False)
    assert refused.returncode != 0
    assert "error: access denied: access denied by policy" in refused.stderr
    code = host.booted.run(["python3", "-c", LIBVIRT_START, URI, "other"], user=user).stdout
    assert code.split()[:2] == ["88", "55"]  # VIR_ERR_ACCESS_DENIED from VIR_FROM_ACCESS
    assert host.virsh("domstate", "other").stdout.strip() == "shut off"

    records = host.booted.journal(_SYSTEMD_UNIT="virtd.service",
                                  VIRTD_POLKIT_ACTION="org.virtd.api.domain.start")
    assert any(r.get("VIRTD_DOMAIN_NAME") == "other" for r in records)


def test_secure_xml_needs_its_own_permission(host: VirtdHost) -> None:
    user = host.operator
    assert "<name>other</name>" in host.virsh("dumpxml", "other", user=user).stdout
    secure = host.virsh("dumpxml", "--security-info", "other", user=user, check=False)
    assert secure.returncode != 0 and "access denied" in secure.stderr
    assert "<name>demo</name>" in host.virsh("dumpxml", "--security-info", "demo",
                                             user=user).stdout


def test_the_read_write_socket_needs_unix_manage(host: VirtdHost) -> None:
    refused = host.virsh("list", user=host.outsider, check=False)
    assert refused.returncode != 0
    assert ("authentication failed: no polkit agent available to authenticate action "
            "'org.virtd.unix.manage'") in refused.stderr


# -- D-Bus activation ------------------------------------------------------------------------------


def test_a_bus_call_starts_a_stopped_virtd(host: VirtdHost) -> None:
    booted = host.booted
    booted.run(["systemctl", "stop", "virtd.service", *VIRTD_UNITS])
    assert not host.virtd_active()
    assert host.call(DAEMON_PATH, DAEMON1, "ListServers") == [["virtd", "admin"]]
    assert host.virtd_active()
    sockets = booted.run(["systemctl", "is-active", "virtd.socket"]).stdout.strip()
    assert sockets == "active"

    host.set(DAEMON_PATH, DAEMON1, "IdleTimeout", "u", 1)
    poll("virtd to exit when idle", lambda: not host.virtd_active())
    assert host.get(DAEMON_PATH, DAEMON1, "IdleTimeout") == 120
    assert host.virtd_active()


LEASE_HOLDER = """\
import os, signal, sys, uuid
sys.path.insert(0, sys.argv[2])
from systemd import daemon
from daemons.virtlockd.client import LockClient
disk = sys.argv[1]
open(disk, "a").close()
client = LockClient("/run/virtd/virtlockd-sock")
client.register(uuid.uuid4(), "leasedemo", 1, os.getpid())
client.acquire("", disk)
daemon.notify("READY=1")
signal.pause()
"""


def test_virtlockd_leases_are_listed_and_forced_free_over_dbus(host: VirtdHost) -> None:
    booted = host.booted
    booted.run(["systemctl", "start", "virtlockd.socket", "virtlockd-admin.socket"])
    disk = f"/var/lib/virtd/{booted.unique_name('disk')}.img"
    holder = host.start_unit("lease-holder", LEASE_HOLDER, disk, str(REPO))
    leases_bus = ("org.virtd.virtlockd1", "/org/virtd/virtlockd", "org.virtd.Leases1")
    try:
        listed = host.busctl_data("call", *leases_bus, "ListLeases", user=host.admin)
        [lease] = [entry for entry in listed[0] if entry["resource"]["data"] == disk]
        assert lease["owner_name"]["data"] == "leasedemo" and not lease["shared"]["data"]

        # `systemctl reload virtlockd` re-executes it in place: same MainPID, lease intact.
        main_pid = booted.run(["systemctl", "show", "-P", "MainPID", "virtlockd"]).stdout
        booted.run(["systemctl", "reload", "virtlockd"])
        poll("virtlockd to re-execute", lambda: booted.journal(
            SYSLOG_IDENTIFIER="virtlockd", _PID=main_pid.strip(),
            MESSAGE_ID=str(MessageId.DAEMON_RELOAD)))
        assert booted.run(["systemctl", "show", "-P", "MainPID", "virtlockd"]).stdout == main_pid
        relisted = poll("the lease listed after the re-exec", lambda: [
            entry for entry in host.busctl_data("call", *leases_bus, "ListLeases",
                                                user=host.admin)[0]
            if entry["resource"]["data"] == disk])
        assert relisted == [lease]

        refused = host.busctl("call", *leases_bus, "ReleaseLease", "ssu", "", disk, "0",
                              user=host.outsider, check=False)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr

        released = host.busctl_data("call", *leases_bus, "ReleaseLease", "ssu", "", disk, "0",
                                    user=host.admin)
        assert released == [1]
        listed = host.busctl_data("call", *leases_bus, "ListLeases", user=host.admin)
        assert [e for e in listed[0] if e["resource"]["data"] == disk] == []
        audit = poll("the audited forced release", lambda: [
            r for r in booted.journal(SYSLOG_IDENTIFIER="virtlockd",
                                      MESSAGE_ID=str(MessageId.LEASE_FORCED_RELEASE))
            if r.get("VIRTD_RESOURCE") == disk])
        assert "D-Bus caller" in str(audit[-1].get("MESSAGE", "")) + str(audit[-1])
    finally:
        booted.run(["systemctl", "stop", holder], check=False)
        booted.run(["systemctl", "stop", "virtlockd.service", "virtlockd.socket",
                    "virtlockd-admin.socket"], check=False)
