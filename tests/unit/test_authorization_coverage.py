"""Nothing is reachable without a polkit action that polkit knows about.

The walk covers what the daemons really export: each daemon is built by its own
`build` (so daemon extensions such as virtlockd's lease procedures are included),
its D-Bus objects come from `admin_objects`, its procedures from the programs its
sockets serve. Every D-Bus member and every procedure must name an action, and
every action named must be declared in polkit/org.virtd.policy: an undeclared
action is one no administrator can grant, so the member would be dead for all
but root, and a missing one would be a hole. A new member or procedure without
an action fails here before it ships.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from common.admin.program import BASE_PROCEDURES
from common.admin.protocol import ADMIN_PROGRAM, AdminProc
from common.daemon import Daemon, ServerSpec
from common.dbus.admin_objects import ACTION_OF_ACL, admin_objects, bus_name
from common.dbus.interface import DOC_ANNOTATION, DBusObject, Interface, introspect
from common.log.manager import LogManager
from common.paths import Paths
from common.rpc.program import Program
from daemons.virtd.access import FLAG_PERMISSIONS, polkit_action
from daemons.virtd.remote.program import PROCEDURES as REMOTE_PROCEDURES
from daemons.virtd.remote.protocol import REMOTE_PROGRAM, RemoteProc

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "polkit" / "org.virtd.policy"
RULES = REPO / "polkit" / "50-virtd.rules"
BUS_POLICY = REPO / "polkit" / "org.virtd.conf"
SYSUSERS = REPO / "units" / "virtd.sysusers"
DAEMONS = ("virtd", "virtlockd", "virtlogd")
IMPLICIT_AUTHORIZATIONS = {"no", "yes", "auth_self", "auth_self_keep", "auth_admin",
                           "auth_admin_keep"}

# The same operation reached over D-Bus and over the admin socket: (interface, member,
# how it is used) -> the admin procedure doing the same thing. Both must need one action.
SAME_OPERATION = (
    ("org.virtd.Daemon1", "ListServers", "call", AdminProc.CONNECT_LIST_SERVERS),
    ("org.virtd.Daemon1", "LogFilters", "read", AdminProc.CONNECT_GET_LOGGING_FILTERS),
    ("org.virtd.Daemon1", "LogFilters", "write", AdminProc.CONNECT_SET_LOGGING_FILTERS),
    ("org.virtd.Daemon1", "LogOutputs", "read", AdminProc.CONNECT_GET_LOGGING_OUTPUTS),
    ("org.virtd.Daemon1", "LogOutputs", "write", AdminProc.CONNECT_SET_LOGGING_OUTPUTS),
    ("org.virtd.Daemon1", "IdleTimeout", "write", AdminProc.CONNECT_SET_DAEMON_TIMEOUT),
    ("org.virtd.Server1", "ListClients", "call", AdminProc.SERVER_LIST_CLIENTS),
    ("org.virtd.Server1", "GetClientInfo", "call", AdminProc.CLIENT_GET_INFO),
    ("org.virtd.Server1", "CloseClient", "call", AdminProc.CLIENT_CLOSE),
    *((("org.virtd.Server1", name, "read", AdminProc.SERVER_GET_THREADPOOL_PARAMETERS))
      for name in ("MinWorkers", "MaxWorkers", "PrioWorkers", "Workers", "FreeWorkers",
                   "JobQueueDepth")),
    *((("org.virtd.Server1", name, "write", AdminProc.SERVER_SET_THREADPOOL_PARAMETERS))
      for name in ("MinWorkers", "MaxWorkers", "PrioWorkers")),
    *((("org.virtd.Server1", name, "read", AdminProc.SERVER_GET_CLIENT_LIMITS))
      for name in ("MaxClients", "MaxUnauthClients", "Clients", "UnauthClients")),
    *((("org.virtd.Server1", name, "write", AdminProc.SERVER_SET_CLIENT_LIMITS))
      for name in ("MaxClients", "MaxUnauthClients")),
)


@dataclass
class BuiltDaemon:
    """A daemon as its `build` sets it up, with what it would export on the bus."""

    daemon: Daemon
    specs: list[ServerSpec]
    objects: list[DBusObject]

    @property
    def programs(self) -> list[Program]:
        served = {id(p): p for s in self.specs for sock in s.sockets for p in sock.programs}
        return list(served.values())

    def program(self, number: int) -> Program:
        return next(p for p in self.programs if p.number == number)


@contextlib.contextmanager
def build_daemon(name: str, base: Path) -> Iterator[BuiltDaemon]:
    """Build daemon `name` with its own `build` and default config, in a private directory."""
    paths = Paths(False, str(base / "run"), str(base / "state"), str(base / "config"),
                  str(base / "log"))
    module = importlib.import_module(f"daemons.{name}.main")
    logs = LogManager(name)
    daemon = Daemon(name, paths, logs)
    try:
        specs = module.build(daemon, module.SCHEMA.defaults())
        for spec in specs:
            daemon.add_server(spec)
        yield BuiltDaemon(daemon, specs, admin_objects(daemon, daemon.dbus_interfaces))
    finally:
        for hook in daemon.stop_hooks:
            hook()
        daemon.loop.close()
        logs.close()


@pytest.fixture(scope="module", params=DAEMONS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[BuiltDaemon]:
    with build_daemon(request.param, tmp_path_factory.mktemp(request.param)) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Program]:
    """virtd's remote program, as virtd serves it."""
    with build_daemon("virtd", tmp_path_factory.mktemp("virtd-remote")) as virtd:
        yield virtd.program(REMOTE_PROGRAM)


@pytest.fixture(scope="module")
def policy() -> dict[str, ET.Element]:
    """The declared actions by id."""
    actions = ET.parse(POLICY).getroot().findall("action")
    ids = [a.get("id") for a in actions]
    assert len(ids) == len(set(ids)), f"actions declared twice in {POLICY.name}"
    return {a.get("id", ""): a for a in actions}


def guarded_members(obj: DBusObject) -> Iterator[tuple[str, str | None]]:
    """(what, the polkit action guarding it) for every way into `obj`'s members."""
    for iface in obj.interfaces:
        for method in iface.methods:
            yield f"{obj.path} {iface.name}.{method.name}()", method.action
        for prop in iface.properties:
            yield f"{obj.path} Get {iface.name}.{prop.name}", prop.read_action
            if prop.set is not None or prop.write_action is not None:
                yield f"{obj.path} Set {iface.name}.{prop.name}", prop.write_action


# -- the policy file -------------------------------------------------------------------------


def test_every_declared_action_says_what_it_allows_and_who_by_default(
        policy: dict[str, ET.Element]) -> None:
    for action_id, action in policy.items():
        assert re.fullmatch(r"org\.virtd\.[a-z]+(\.[a-z-]+)+", action_id), action_id
        assert (action.findtext("description") or "").strip(), f"{action_id}: no description"
        assert (action.findtext("message") or "").strip(), f"{action_id}: no message"
        defaults = action.find("defaults")
        assert defaults is not None, f"{action_id}: no defaults"
        for who in ("allow_any", "allow_inactive", "allow_active"):
            assert defaults.findtext(who) in IMPLICIT_AUTHORIZATIONS, f"{action_id}: {who}"


def test_shipped_rules_name_only_declared_actions_and_shipped_groups(
        policy: dict[str, ET.Element]) -> None:
    rules = RULES.read_text()
    code = "\n".join(line for line in rules.splitlines() if not line.lstrip().startswith("//"))
    named = re.findall(r'"(org\.virtd\.[a-z.-]+)"', code)
    assert named, f"{RULES.name} grants nothing"
    for action in named:
        matches = [a for a in policy if a == action or (action.endswith(".") and
                                                        a.startswith(action))]
        assert matches, f"{RULES.name} names {action!r}, which no declared action matches"
    shipped_groups = set(re.findall(r"^g\s+(\S+)", SYSUSERS.read_text(), re.MULTILINE))
    for group in re.findall(r'isInGroup\("([^"]+)"\)', code):
        assert group in shipped_groups, f"{RULES.name} relies on group {group!r}, not in sysusers"


# -- D-Bus -------------------------------------------------------------------------------------


def test_every_dbus_member_is_guarded_by_a_declared_action(
        built: BuiltDaemon, policy: dict[str, ET.Element]) -> None:
    members = [m for obj in built.objects for m in guarded_members(obj)]
    assert len(members) > 20, "the walk found too few members to mean anything"
    unguarded = [what for what, action in members if not action]
    assert unguarded == [], "members without a polkit action"
    undeclared = sorted({f"{what}: {action}" for what, action in members
                         if action and action not in policy})
    assert undeclared == [], f"actions not declared in {POLICY.name}"


def test_dbus_properties_are_writable_exactly_when_a_write_action_guards_them(
        built: BuiltDaemon) -> None:
    for obj in built.objects:
        for iface in obj.interfaces:
            for prop in iface.properties:
                assert (prop.set is None) == (prop.write_action is None), (
                    f"{iface.name}.{prop.name}: setter and write action must come together")


def test_daemon_and_server_objects_are_exported_for_every_server(built: BuiltDaemon) -> None:
    name = built.daemon.name
    assert sorted(o.path for o in built.objects) == sorted(
        [f"/org/virtd/{name}", *(f"/org/virtd/{name}/server/{s}" for s in built.daemon.servers)])
    assert set(built.daemon.servers) == {name, "admin"}


def _children(paths: set[str], path: str) -> list[str]:
    prefix = path.rstrip("/") + "/"
    return sorted({p[len(prefix):].split("/", 1)[0] for p in paths if p.startswith(prefix)})


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/", *("/" + "/".join(parts[:n]) for n in range(1, len(parts)))]


def _doc(element: ET.Element) -> str:
    docs = [a.get("value", "") for a in element.findall("annotation")
            if a.get("name") == DOC_ANNOTATION]
    assert len(docs) == 1, f"{element.tag} {element.get('name')}: {len(docs)} DocStrings"
    return docs[0]


def _check_interface_xml(iface: Interface, node: ET.Element) -> None:
    elements = node.findall(f"interface[@name='{iface.name}']")
    assert len(elements) == 1, f"{iface.name} not introspected once"
    xml = elements[0]
    assert _doc(xml).strip()
    declared = {("method", m.name) for m in iface.methods} | {
        ("property", p.name) for p in iface.properties} | {("signal", s.name) for s in iface.signals}
    shown = {(child.tag, child.get("name")) for child in xml if child.tag != "annotation"}
    assert shown == declared, f"{iface.name}: introspection differs from the declarations"
    for method in iface.methods:
        element = xml.find(f"method[@name='{method.name}']")
        assert element is not None
        ins = [(a.get("name"), a.get("type")) for a in element.findall("arg[@direction='in']")]
        outs = [(a.get("name"), a.get("type")) for a in element.findall("arg[@direction='out']")]
        assert ins == [(a.name, a.signature) for a in method.inputs]
        assert outs == [(a.name, a.signature) for a in method.outputs]
        doc = _doc(element)
        assert method.doc in doc and method.action in doc
    for prop in iface.properties:
        element = xml.find(f"property[@name='{prop.name}']")
        assert element is not None
        assert element.get("type") == prop.signature
        assert element.get("access") == ("readwrite" if prop.set else "read")
        doc = _doc(element)
        assert prop.doc in doc and prop.read_action in doc
        assert prop.write_action is None or prop.write_action in doc
    for signal in iface.signals:
        element = xml.find(f"signal[@name='{signal.name}']")
        assert element is not None
        assert [(a.get("name"), a.get("type")) for a in element.findall("arg")] == [
            (a.name, a.signature) for a in signal.args]
        assert signal.doc in _doc(element)


def test_introspection_is_well_formed_and_documents_every_member(built: BuiltDaemon) -> None:
    by_path = {o.path: o for o in built.objects}
    paths = set(by_path) | {a for p in by_path for a in _ancestors(p)}
    for path in sorted(paths):
        obj = by_path.get(path)
        children = _children(set(by_path), path)
        node = ET.fromstring(introspect(obj, children))
        assert [n.get("name") for n in node.findall("node")] == children, path
        for iface in obj.interfaces if obj else []:
            _check_interface_xml(iface, node)


# -- procedures --------------------------------------------------------------------------------


def test_every_procedure_checks_at_least_one_permission(built: BuiltDaemon) -> None:
    procedures = [(p.name, proc) for p in built.programs for proc in p.procedures.values()]
    assert {p.number for p in built.programs} >= {ADMIN_PROGRAM}
    assert len(built.programs) == 2, "expected the daemon's own program and the admin program"
    without_acl = [f"{program} {proc.name}" for program, proc in procedures if not proc.acl]
    assert without_acl == [], "procedures without ACL permissions (nothing would check them)"
    admin = built.program(ADMIN_PROGRAM)
    assert set(admin.procedures) >= {proc.number for proc in BASE_PROCEDURES}


def test_admin_procedures_map_to_declared_admin_actions(
        built: BuiltDaemon, policy: dict[str, ET.Element]) -> None:
    admin = built.program(ADMIN_PROGRAM)
    for proc in admin.procedures.values():
        for permission in proc.acl:
            assert permission in ACTION_OF_ACL, f"{proc.name}: {permission} has no polkit action"
            assert ACTION_OF_ACL[permission] in policy, f"{proc.name}: {permission}"


def test_remote_procedures_map_to_declared_api_actions(
        remote: Program, policy: dict[str, ET.Element]) -> None:
    assert set(remote.procedures) == {p.number for p in REMOTE_PROCEDURES} | {
        RemoteProc.CONNECT_OPEN}
    permissions = {perm for proc in remote.procedures.values() for perm in proc.acl}
    permissions |= {perm for extra in FLAG_PERMISSIONS.values() for _, perm in extra}
    undeclared = sorted(f"{perm} -> {polkit_action(perm)}" for perm in permissions
                        if polkit_action(perm) not in policy)
    assert undeclared == [], f"remote permissions without an action in {POLICY.name}"
    assert polkit_action("domain.init_control") == "org.virtd.api.domain.init-control"


def test_flag_permissions_belong_to_served_procedures(remote: Program) -> None:
    assert set(FLAG_PERMISSIONS) <= set(remote.procedures)


def test_only_the_remote_program_is_served_beyond_the_daemons_own_uid(built: BuiltDaemon) -> None:
    """Lock, log and admin procedures have no per-caller polkit check on their sockets, so
    those sockets must admit the daemon's own uid only; polkit guards everything else."""
    for spec in built.specs:
        for sock in spec.sockets:
            if any(p.number != REMOTE_PROGRAM for p in sock.programs):
                assert sock.own_uid_only, f"{sock.filename} is open to other uids"


def test_dbus_and_admin_socket_need_the_same_action_for_the_same_operation(
        built: BuiltDaemon) -> None:
    admin = built.program(ADMIN_PROGRAM)
    interfaces = {i.name: i for obj in built.objects for i in obj.interfaces}
    for iface_name, member, use, proc_number in SAME_OPERATION:
        iface = interfaces[iface_name]
        if use == "call":
            method = iface.method(member)
            assert method is not None, member
            dbus_action = method.action
        else:
            prop = iface.property(member)
            assert prop is not None, member
            dbus_action = prop.read_action if use == "read" else prop.write_action
        (permission,) = admin.procedures[proc_number].acl
        assert dbus_action == ACTION_OF_ACL[permission], (
            f"{iface_name}.{member} ({use}) needs {dbus_action} on D-Bus but "
            f"{ACTION_OF_ACL[permission]} as {AdminProc(proc_number).name}")


# -- bus policy and activation ---------------------------------------------------------------


def test_bus_policy_lets_each_daemon_own_its_name_and_anyone_call_it() -> None:
    root = ET.parse(BUS_POLICY).getroot()
    owners = {a.get("own") for p in root.findall("policy[@user='root']") for a in p}
    callers = {a.get("send_destination")
               for p in root.findall("policy[@context='default']") for a in p}
    for daemon in DAEMONS:
        assert bus_name(daemon) in owners
        assert bus_name(daemon) in callers


@pytest.mark.parametrize("daemon", DAEMONS)
def test_activation_file_starts_the_daemons_unit(daemon: str) -> None:
    path = REPO / "units" / "dbus" / f"{bus_name(daemon)}.service"
    entries = dict(line.split("=", 1) for line in path.read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
    assert entries["Name"] == bus_name(daemon)
    assert entries["SystemdService"] == f"{daemon}.service"
    assert (REPO / "units" / entries["SystemdService"]).is_file()
