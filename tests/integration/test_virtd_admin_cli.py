"""virtd-admin against the real virt-admin: same bytes, same exit codes, on all three daemons.

Every case runs `virt-admin -c URI ...` and `virtd-admin -c URI ...` against the
same running daemon. Only what legitimately differs is normalised: the id and
connect time of each tool's own admin connection, our version lines, and the
help prose (virtd-admin words its help itself; the layout, synopsis and option
lines must still match).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from common.admin.client import AdminClient
from common.version import VERSION
from tests.integration.daemons import VENV_BIN, RunningDaemon, start_daemon

DAEMONS = ("virtd", "virtlockd", "virtlogd")
VIRTD_ADMIN = str(VENV_BIN / "virtd-admin")


@dataclass(frozen=True)
class Run:
    stdout: str
    stderr: str
    status: int


def run_tool(tool: str, uri: str | None, *args: str, env: dict[str, str] | None = None) -> Run:
    argv = [tool, *(["-c", uri] if uri is not None else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, env=env)
    return Run(done.stdout, done.stderr, done.returncode)


def virt_admin(uri: str | None, *args: str, env: dict[str, str] | None = None) -> Run:
    return run_tool("virt-admin", uri, *args, env=env)


def ours(uri: str | None, *args: str, env: dict[str, str] | None = None) -> Run:
    return run_tool(VIRTD_ADMIN, uri, *args, env=env)


def assert_same(uri: str, *args: str, normalise: Callable[[Run], Run] = lambda r: r) -> Run:
    expected = normalise(virt_admin(uri, *args))
    got = normalise(ours(uri, *args))
    assert got == expected, f"virtd-admin {' '.join(args)}"
    return got


# -- daemons with some clients to look at --------------------------------------


@dataclass
class Target:
    daemon: RunningDaemon
    held: list[socket.socket]
    admin_held: list[AdminClient]

    @property
    def name(self) -> str:
        return self.daemon.name

    @property
    def uri(self) -> str:
        return self.daemon.admin_uri

    def admin(self) -> AdminClient:
        return AdminClient.connect(self.uri)

    def hold_client(self, suffix: str = "sock") -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(self.daemon.socket(suffix)))
        self.held.append(sock)
        return sock


def _state(target: Target) -> dict[str, Any]:
    """Everything the admin commands can change, as the daemon reports it."""
    with target.admin() as conn:
        state: dict[str, Any] = {"filters": conn.logging_filters(),
                                 "outputs": conn.logging_outputs()}
        for server in conn.list_servers():
            pool = conn.threadpool_parameters(server)
            limits = conn.client_limits(server)
            state[server] = (pool["minWorkers"], pool["maxWorkers"], pool["prioWorkers"],
                             limits["nclients_max"], limits["nclients_unauth_max"])
    return state


def _restore(target: Target, state: dict[str, Any]) -> None:
    with target.admin() as conn:
        conn.set_logging_filters(state["filters"] or "")
        conn.set_logging_outputs(state["outputs"])
        for server in conn.list_servers():
            min_w, max_w, prio, max_clients, max_unauth = state[server]
            conn.set_threadpool_parameters(server, min_workers=min_w, max_workers=max_w,
                                           prio_workers=prio)
            conn.set_client_limits(server, max_clients=max_clients, max_unauth=max_unauth)
    assert _state(target) == state


@pytest.fixture(scope="module", params=DAEMONS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Target]:
    daemon = start_daemon(request.param, tmp_path_factory.mktemp(request.param))
    held = Target(daemon, [], [])
    try:
        held.hold_client()
        if daemon.name == "virtd":
            held.hold_client("sock-ro")
        held.admin_held.append(held.admin())
        yield held
    finally:
        for sock in held.held:
            sock.close()
        for conn in held.admin_held:
            conn.close()
        daemon.stop()


@pytest.fixture
def fresh(target: Target) -> Iterator[Target]:
    """The module's daemon, put back the way it was after the test changed it."""
    before = _state(target)
    yield target
    _restore(target, before)


def client_ids(target: Target, server: str) -> list[int]:
    with target.admin() as conn:
        return [c.id for c in conn.list_clients(server)]


# -- read-only commands and their errors ----------------------------------------

DAEMON_CASES = [
    ("uri",),
    ("server-list",),
    ("srv-list",),
    ("server-threadpool-info", "{d}"),
    ("server-threadpool-info", "admin"),
    ("srv-threadpool-info", "{d}"),
    ("server-clients-info", "{d}"),
    ("srv-clients-info", "admin"),
    ("client-list", "{d}"),
    ("srv-clients-list", "{d}"),
    ("daemon-log-filters",),
    ("daemon-log-outputs",),
    ("server-update-tls", "{d}"),
    ("srv-update-tls", "admin"),
    # the daemon says no
    ("server-threadpool-info", "nope"),
    ("client-list", "nope"),
    ("server-clients-info", "nope"),
    ("server-update-tls", "nope"),
    ("client-info", "{d}", "999999"),
    ("client-info", "nope", "1"),
    ("client-disconnect", "{d}", "999999"),
    ("server-threadpool-set", "{d}", "--min-workers", "4000"),
    ("server-clients-set", "{d}", "--max-unauth-clients", "4294967295"),
    ("daemon-log-filters", "--filters", "9:x"),
    ("daemon-log-outputs", "--outputs", "9:x"),
]
"""Cases whose output comes from the daemon: run against each of the three."""

TOOL_CASES = [
    ("server-threadpool-info", "--server=virtd"),
    ("server-threadpool-info", "--server", "virtd"),
    ("server-threadpool-info", "--", "virtd"),
    ("server-threadpool-info", "--", "--server"),
    ("client-info", "virtd", "18446744073709551615"),
    ("client-disconnect", "nope", "1"),
    ("server-threadpool-set", "nope", "--min-workers", "1"),
    ("server-clients-set", "nope", "--max-clients", "10"),
    ("daemon-log-filters", "--filters", "1:"),
    ("daemon-log-outputs", "--outputs", "1:bogus"),
    ("daemon-log-outputs", "--outputs", "1:file"),
    # checked by the tool itself, after connecting
    ("server-threadpool-set", "virtd"),
    ("srv-threadpool-set", "virtd"),
    ("server-threadpool-set", "virtd", "--min-workers", "10", "--max-workers", "5"),
    ("server-threadpool-set", "virtd", "--min-workers", "abc"),
    ("server-threadpool-set", "virtd", "--max-workers", "-1"),
    ("server-threadpool-set", "virtd", "--priority-workers", "4294967296"),
    ("server-threadpool-set", "virtd", "--priority-workers", "5 "),
    ("server-threadpool-set", "virtd", "--priority-workers", "0x10"),
    ("server-threadpool-set", "", "--min-workers", "abc"),
    ("server-threadpool-set", "--server", "--min-workers"),
    ("server-clients-set", "virtd"),
    ("srv-clients-set", "virtd"),
    ("server-clients-set", "virtd", "--max-clients", "5", "--max-unauth-clients", "10"),
    ("server-clients-set", "virtd", "--max-clients", "x"),
    ("server-clients-set", "virtd", "--max-unauth-clients", ""),
    ("client-info", "virtd", "abc"),
    ("client-info", "virtd", "-1"),
    ("client-info", "virtd", "18446744073709551616"),
    ("client-info", "", "abc"),
    ("client-info", "", "1"),
    ("client-disconnect", "virtd", "x"),
    ("daemon-timeout", "--timeout", "-1"),
    ("daemon-timeout", "--timeout", "4294967296"),
    ("server-threadpool-info", ""),
    ("server-threadpool-info", "--server="),
    ("help", "nosuch"),
    # command-line mistakes, reported before connecting
    ("nosuch",),
    ("dmn-nosuch", "x"),
    ("server-threadpool-info",),
    ("srv-threadpool-info",),
    ("server-threadpool-info", "a", "b"),
    ("server-threadpool-info", "--foo"),
    ("server-threadpool-info", "--help", "--foo"),
    ("server-threadpool-info", "--server"),
    ("server-threadpool-info", "--server", "a", "--server", "b"),
    ("server-threadpool-set", "--min-workers", "3", "virtd", "--max-workers"),
    ("server-threadpool-set", "virtd", "1", "2", "3", "4"),
    ("client-info", "virtd"),
    ("client-info", "1", "--server", "virtd"),
    ("client-disconnect",),
    ("daemon-timeout",),
    ("daemon-timeout", "5"),
    ("server-list", "extra"),
    ("server-list", "--help", "extra"),
    ("uri", "--x"),
]
"""Cases the tool decides (parsing, local checks, lookups): one daemon is enough."""


ON_VIRTD = pytest.mark.parametrize("target", ["virtd"], indirect=True)


def _fill(args: tuple[str, ...], target: Target) -> list[str]:
    return [a.replace("{d}", target.name) for a in args]


QUIET_CASES = [
    ("uri",),
    ("server-list",),
    ("server-threadpool-info", "{d}"),
    ("server-clients-info", "{d}"),
    ("client-list", "{d}"),
    ("srv-clients-list", "{d}"),
    ("daemon-log-filters",),
    ("daemon-log-outputs",),
    ("server-threadpool-info", "nope"),
    ("server-threadpool-set", "{d}"),
    ("client-info", "{d}", "abc"),
    ("server-update-tls", "{d}"),
    ("nosuch",),
]


def _case_id(case: tuple[str, ...]) -> str:
    return "_".join(case) or "empty"


@pytest.mark.parametrize("case", DAEMON_CASES, ids=_case_id)
def test_same_as_virt_admin(target: Target, case: tuple[str, ...]) -> None:
    before = _state(target)
    assert_same(target.uri, *_fill(case, target))
    assert _state(target) == before


@ON_VIRTD
@pytest.mark.parametrize("case", TOOL_CASES, ids=_case_id)
def test_same_checks_as_virt_admin(target: Target, case: tuple[str, ...]) -> None:
    before = _state(target)
    assert_same(target.uri, *case)
    assert _state(target) == before


@pytest.mark.parametrize("case", QUIET_CASES, ids=_case_id)
def test_quiet_same_as_virt_admin(target: Target, case: tuple[str, ...]) -> None:
    assert_same(target.uri, "-q", *_fill(case, target))


def test_client_list_and_info_of_held_clients(target: Target) -> None:
    ids = client_ids(target, target.name)
    assert len(ids) == (2 if target.name == "virtd" else 1)
    listing = assert_same(target.uri, "client-list", target.name)
    for client_id in ids:
        assert f" {client_id} " in listing.stdout
        info = assert_same(target.uri, "client-info", target.name, str(client_id))
        assert f"unix_process_id: {os.getpid()}\n" in info.stdout
        assert_same(target.uri, "-q", "client-info", f"--client={client_id}", target.name)
    if target.name == "virtd":
        readonly = [assert_same(target.uri, "client-info", "virtd", str(i)).stdout for i in ids]
        assert ["readonly       : yes\n" in text for text in readonly] == [False, True]


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns", "UTC"])
def test_connect_times_in_local_time(target: Target, zone: str) -> None:
    env = {**os.environ, "TZ": zone}
    client_id = str(client_ids(target, target.name)[0])
    for args in (["client-list", target.name], ["client-info", target.name, client_id]):
        expected = virt_admin(target.uri, *args, env=env)
        assert expected.status == 0
        assert ours(target.uri, *args, env=env) == expected


def _own_connection_masked(run: Run) -> Run:
    """Drop the row of the tool's own admin connection (the newest) and the column padding."""
    lines = run.stdout.splitlines()
    rows = [re.split(r" {2,}", line.strip()) for line in lines if line and set(line) != {"-"}]
    newest = max(int(row[0]) for row in rows if row[0].isdigit())
    kept = [row for row in rows if row[0] != str(newest)]
    return Run(json.dumps(kept), run.stderr, run.status)


def test_admin_server_clients(target: Target) -> None:
    held_id = client_ids(target, "admin")[0]
    assert_same(target.uri, "client-list", "admin", normalise=_own_connection_masked)
    assert_same(target.uri, "srv-clients-list", "admin", normalise=_own_connection_masked)
    info = assert_same(target.uri, "client-info", "admin", str(held_id))
    assert f"id             : {held_id}\n" in info.stdout
    assert_same(target.uri, "server-clients-info", "admin")


def test_version_lines(target: Target) -> None:
    def library_lines_masked(run: Run) -> Run:
        text = re.sub(r"(library: )\S+ \S+", r"\1LIB", run.stdout)
        return Run(text, run.stderr, run.status)

    got = assert_same(target.uri, "version", normalise=library_lines_masked)
    assert got.stdout.startswith("Compiled against library: LIB\nUsing library: LIB\n"
                                 "Running against daemon: 0.")
    assert ours(target.uri, "version").stdout.startswith("Compiled against library: virtd ")
    assert_same(target.uri, "-q", "version", normalise=library_lines_masked)


@pytest.mark.parametrize("case", [
    ("connect",), ("connect", "{uri}"), ("connect", "--name", "{uri}"),
    ("connect", "virtd:///bad"), ("connect", ""), ("connect", "--name"),
])
def test_connect(target: Target, case: tuple[str, ...]) -> None:
    args = [a.replace("{uri}", target.uri) for a in case]
    assert_same(target.uri, *args)
    assert_same(target.uri, "-q", *args)


# -- commands that change the daemon -------------------------------------------

CHANGE_CASES = [
    ("server-threadpool-set", "{d}", "--min-workers", "2", "--max-workers", "9",
     "--priority-workers", "3"),
    ("srv-threadpool-set", "{d}", "1", "8"),
    ("server-threadpool-set", "admin", "--max-workers=0"),
    ("server-threadpool-set", "{d}", "--priority-workers", "+4"),
    ("server-clients-set", "{d}", "--max-clients", "100", "--max-unauth-clients", "10"),
    ("srv-clients-set", "{d}", "200"),
    ("server-clients-set", "admin", "--max-unauth-clients", "0"),
    ("server-clients-set", "{d}", "--max-clients", "1"),
    ("daemon-log-filters", "--filters", "1:util 4:rpc"),
    ("daemon-log-filters", "2:+virtd.rpc"),
    ("daemon-log-filters", "--filters", ""),
    ("daemon-log-outputs", "--outputs", "2:stderr"),
    ("daemon-log-outputs", "4:stderr 1:file:{log}"),
    ("daemon-log-outputs", "--outputs", ""),
    ("daemon-timeout", "--timeout", "3600"),
    ("daemon-timeout", "--timeout=0"),
]


@pytest.mark.parametrize("case", CHANGE_CASES, ids=_case_id)
def test_changes_like_virt_admin(fresh: Target, case: tuple[str, ...]) -> None:
    """Each tool, from the same starting state, prints the same and leaves the same state."""
    args = [a.replace("{log}", str(fresh.daemon.root / "extra.log")) for a in _fill(case, fresh)]
    before = _state(fresh)
    expected = virt_admin(fresh.uri, *args)
    after_virt_admin = _state(fresh)
    _restore(fresh, before)
    got = ours(fresh.uri, *args)
    assert got == expected
    assert _state(fresh) == after_virt_admin
    if case[0] in ("daemon-log-filters", "daemon-log-outputs"):
        assert_same(fresh.uri, case[0])
        assert_same(fresh.uri, "-q", case[0])


@ON_VIRTD
def test_threadpool_set_is_visible_in_info(fresh: Target) -> None:
    assert ours(fresh.uri, "server-threadpool-set", "virtd", "--min-workers", "2",
                "--max-workers", "9").status == 0
    shown = assert_same(fresh.uri, "server-threadpool-info", "virtd")
    assert "minWorkers     : 2\nmaxWorkers     : 9\n" in shown.stdout


@pytest.mark.parametrize("quiet", [False, True], ids=["plain", "quiet"])
def test_client_disconnect(target: Target, quiet: bool) -> None:
    flags = ["-q"] if quiet else []
    results = []
    for tool in (virt_admin, ours):
        victim = target.hold_client()
        victim.settimeout(10)
        victim_id = max(client_ids(target, target.name))
        done = tool(target.uri, *flags, "client-disconnect", target.name, str(victim_id))
        assert victim.recv(1) == b"", "the disconnected client's socket is closed"
        assert victim_id not in client_ids(target, target.name)
        results.append(Run(done.stdout.replace(str(victim_id), "ID"), done.stderr, done.status))
    assert results[1] == results[0]
    assert results[0].stdout == "Client 'ID' disconnected" + ("" if quiet else "\n")


def test_old_log_names(fresh: Target) -> None:
    """dmn-log-define/dmn-log-info (not in virt-admin 9.0) match daemon-log-filters/outputs."""
    assert ours(fresh.uri, "dmn-log-define", "--filters", "1:util",
                "--outputs", "2:stderr").status == 0
    filters = virt_admin(fresh.uri, "daemon-log-filters").stdout
    outputs = virt_admin(fresh.uri, "daemon-log-outputs").stdout
    assert outputs == " Logging outputs: 2:stderr\n\n"
    info = ours(fresh.uri, "dmn-log-info")
    assert info == Run(filters.removesuffix("\n") + outputs, "", 0)
    quiet = ours(fresh.uri, "-q", "dmn-log-info")
    assert quiet.stdout == "1:*util* \n2:stderr\n"
    refused = ours(fresh.uri, "dmn-log-define")
    assert refused == Run("\n", "error: At least one of options --filters, --outputs is "
                                "mandatory\n", 1)
    bad = ours(fresh.uri, "dmn-log-define", "--outputs", "9:x")
    assert bad.stderr == virt_admin(fresh.uri, "daemon-log-outputs", "--outputs", "9:x").stderr


# -- connection and global options ---------------------------------------------


@pytest.mark.parametrize("uri", [
    "virtd:///session?socket=/nonexistent/admin-sock",
    "virtd:///session?foo=bar",
    "virtd:///bad",
    "virtd:system",
    "virtlogd:///session/",
    "foo:///system",
    "VIRTD:///system",
    "foo",
    "",
    "not a uri",
])
def test_connection_errors(uri: str) -> None:
    expected = virt_admin(uri, "server-list")
    assert expected.status == 1
    assert ours(uri, "server-list") == expected
    assert ours(uri, "uri") == virt_admin(uri, "uri")


@pytest.mark.parametrize("argv", [
    ["-c"], ["--connect"], ["-x"], ["--bogus"], ["-qx", "uri"],
])
def test_global_option_errors(argv: list[str]) -> None:
    expected = virt_admin(None, *argv)
    assert expected.status == 1
    assert ours(None, *argv) == expected


def test_global_option_forms(target: Target) -> None:
    expected = virt_admin(target.uri, "server-list")
    for argv in (["--connect", target.uri], [f"--connect={target.uri}"], [f"-c{target.uri}"],
                 [f"--conn={target.uri}"]):
        assert run_tool(VIRTD_ADMIN, None, *argv, "server-list") == expected
    assert ours(target.uri, "-q", "server-list") == virt_admin(target.uri, "-q", "server-list")


def test_session_uri_maps_to_our_runtime_dir(target: Target) -> None:
    """`<daemon>:///session` is $XDG_RUNTIME_DIR/virtd/<daemon>-admin-sock."""
    env = dict(target.daemon.env)
    expected = virt_admin(target.uri, "server-list")
    assert ours(f"{target.name}:///session", "server-list", env=env) == expected
    env["VIRTD_ADMIN_DEFAULT_URI"] = f"{target.name}:///session"
    assert ours(None, "server-list", env=env) == expected
    assert ours(None, "uri", env=env).stdout == f"{target.name}:///session\n\n"


@pytest.mark.parametrize("uri,path", [
    ("virtlogd:///system", "/run/virtd/virtlogd-admin-sock"),
    ("virtlockd://host/system", "/run/virtd/virtlockd-admin-sock"),
    (None, "/run/virtd/virtd-admin-sock"),
])
def test_system_uri_maps_to_run_virtd(uri: str | None, path: str) -> None:
    """`<daemon>:///system` is /run/virtd/<daemon>-admin-sock; root's default is virtd's."""
    if os.geteuid() != 0:
        pytest.skip("the default URI is virtd:///system only for root")
    if os.path.exists(path):
        pytest.skip(f"a system daemon is running here ({path})")
    env = {k: v for k, v in os.environ.items() if k != "VIRTD_ADMIN_DEFAULT_URI"}
    assert ours(uri, "server-list", env=env) == Run(
        "", "error: Failed to connect to the admin server\n"
            f"error: Failed to connect socket to '{path}': No such file or directory\n", 1)


def test_version_options() -> None:
    assert ours(None, "-v") == Run(f"{VERSION}\n", "", 0)
    assert ours(None, "--version") == Run(f"{VERSION}\n", "", 0)
    assert VERSION in ours(None, "-V").stdout
    assert ours(None, "--version=long") == ours(None, "-V")


# -- help ----------------------------------------------------------------------


def _prose_masked(run: Run) -> Run:
    """Keep help's layout, command names, synopsis and option labels; hide the descriptions."""
    out, section = [], ""
    for line in run.stdout.split("\n"):
        if line.startswith("  ") and not line.startswith("   "):
            section = line.strip()
        elif section == "NAME" and " - " in line:
            line = line.split(" - ")[0] + " - ..."
        elif section == "DESCRIPTION" and line:
            if out[-1] == "    ...":
                continue
            line = "    ..."
        elif section == "OPTIONS" and line:
            line = re.split(r"(?<=>)  ", line)[0] + "  ..."
        out.append(line)
    return Run("\n".join(out), run.stderr, run.status)


HELP_TOPICS = [
    "server-list", "srv-list", "server-threadpool-info", "srv-threadpool-info",
    "server-threadpool-set", "srv-threadpool-set", "client-list", "srv-clients-list",
    "client-info", "client-disconnect", "server-clients-info", "srv-clients-info",
    "server-clients-set", "srv-clients-set", "server-update-tls", "srv-update-tls",
    "daemon-log-filters", "daemon-log-outputs", "daemon-timeout", "uri", "version", "connect",
    "help"]


@ON_VIRTD
@pytest.mark.parametrize("topic", HELP_TOPICS)
def test_command_help_layout(target: Target, topic: str) -> None:
    assert_same(target.uri, "help", topic, normalise=_prose_masked)
    assert_same(target.uri, "-q", "help", f"--command={topic}", normalise=_prose_masked)
    if topic != "help":
        assert_same(target.uri, topic, "--help", normalise=_prose_masked)


def _group_names(run: Run) -> Run:
    """Group headings and command names only (virt-admin's own group differs from ours, and
    our daemon-specific extension group has no counterpart)."""
    blocks = [b for b in run.stdout.split("\n\n") if "help keyword 'extensions'" not in b]
    kept = [re.sub(r"^(    \S+) .*", r"\1", line) for line in "\n\n".join(blocks).split("\n")
            if not re.search(r"virt(d)?-admin|^    (cd|echo|exit|pwd|quit|help|uri|version|"
                             r"connect) ", line)]
    return Run("\n".join(kept), run.stderr, run.status)


@ON_VIRTD
def test_group_help(target: Target) -> None:
    assert_same(target.uri, "help", "monitor", normalise=_group_names)
    assert_same(target.uri, "help", "management", normalise=_group_names)
    listing = assert_same(target.uri, "help", normalise=_group_names)
    assert "Grouped commands:" in listing.stdout
    own = ours(target.uri, "help", "virtd-admin")
    assert own.status == 0 and "    connect " in own.stdout
    assert ours(None, "--help").stdout.startswith("\nvirtd-admin [options]... <command>")


# -- JSON ----------------------------------------------------------------------


def json_of(target: Target, *args: str) -> Any:
    done = ours(target.uri, "--json", *args)
    assert done.status == 0 and done.stderr == "", done
    return json.loads(done.stdout)


def test_json_reports(target: Target) -> None:
    name = target.name
    assert json_of(target, "server-list") == [{"id": 0, "name": name}, {"id": 1, "name": "admin"}]
    assert json_of(target, "srv-list") == json_of(target, "server-list")
    assert json_of(target, "uri") == {"uri": target.uri}
    version = json_of(target, "version")
    assert set(version) == {"library", "daemon"}
    with target.admin() as conn:
        pool = conn.threadpool_parameters(name)
        limits = conn.client_limits(name)
        held = conn.list_clients(name)
    threadpool = json_of(target, "server-threadpool-info", name)
    assert list(threadpool) == ["minWorkers", "maxWorkers", "nWorkers", "freeWorkers",
                                "prioWorkers", "jobQueueDepth"]
    assert (threadpool["minWorkers"], threadpool["maxWorkers"]) == (pool["minWorkers"],
                                                                    pool["maxWorkers"])
    clients_info = json_of(target, "server-clients-info", name)
    assert clients_info == limits
    listing = json_of(target, "client-list", name)
    assert [c["id"] for c in listing] == [c.id for c in held]
    for entry, client in zip(listing, held):
        assert entry["transport"] == "unix" and entry["timestamp"] == client.timestamp
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}", entry["connected_since"])
        info = json_of(target, "client-info", name, str(client.id))
        assert info["id"] == client.id and info["unix_process_id"] == os.getpid()
        assert isinstance(info["readonly"], bool) and info["unix_user_id"] == os.geteuid()
    assert json_of(target, "daemon-log-outputs") == {"outputs": ["3:stderr"]}


def test_json_changes_and_logging(fresh: Target) -> None:
    assert json_of(fresh, "daemon-log-filters", "--filters", "1:util 4:rpc") == {}
    assert json_of(fresh, "daemon-log-filters") == {"filters": ["1:*util*", "4:*rpc*"]}
    assert json_of(fresh, "dmn-log-info") == {"filters": ["1:*util*", "4:*rpc*"],
                                              "outputs": ["3:stderr"]}
    assert json_of(fresh, "server-clients-set", fresh.name, "--max-clients", "2000",
                   "--max-unauth-clients", "77") == {}
    limits = json_of(fresh, "server-clients-info", fresh.name)
    assert (limits["nclients_max"], limits["nclients_unauth_max"]) == (2000, 77)
    assert json_of(fresh, "daemon-log-filters", "--filters", "") == {}
    assert json_of(fresh, "daemon-log-filters") == {"filters": []}


@pytest.mark.parametrize("args,code,domain,messages", [
    (("server-list", "x"), None, None, ["unexpected data 'x'"]),
    (("server-threadpool-info", "nope"), 95, 7, ["Server not found: No server named 'nope'"]),
    (("client-info", "{d}", "999999"), 96, 7,
     ["Client not found: No client with matching ID '999999'"]),
    (("server-update-tls", "{d}"), 1, 7, [
        "Unable to update server's tls related files.",
        "internal error: no tls service found, unable to update tls files"]),
    (("server-threadpool-set", "{d}", "--min-workers", "x"), None, None, [
        "Numeric value 'x' for <min-workers> option is malformed or out of range",
        "Unable to parse integer parameter 'min-workers'"]),
])
def test_json_errors(target: Target, args: tuple[str, ...], code: int | None,
                     domain: int | None, messages: list[str]) -> None:
    done = ours(target.uri, "--json", *_fill(args, target))
    assert done.status == 1 and done.stdout == ""
    assert json.loads(done.stderr) == {"error": {"messages": messages, "code": code,
                                                 "domain": domain}}
    plain = virt_admin(target.uri, *_fill(args, target))
    assert plain.stderr == "".join(f"error: {m}\n" for m in messages)


def test_json_connection_error() -> None:
    done = ours("virtd:///session?socket=/nonexistent", "--json", "server-list")
    assert done.status == 1 and done.stdout == ""
    error = json.loads(done.stderr)["error"]
    assert error["messages"] == ["Failed to connect to the admin server",
                                 "Failed to connect socket to '/nonexistent': "
                                 "No such file or directory"]
    assert error["code"] == 38

