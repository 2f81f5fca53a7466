"""The RPM from packaging/rpm, built from this checkout's HEAD by build.sh and inspected as an
administrator meets it: where every file lands, what the scriptlets do, and whether the
launchers run from the unpacked payload with virtd's code in its private directory only.

Expectations come from the commit the RPM is built from (HEAD, resolved once), so neither a
teammate's uncommitted files nor a commit landing mid-run set package and expectations apart.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from tests.integration.daemons import RunningDaemon, daemon_env, wait_for_socket

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "packaging" / "rpm" / "build.sh"
LIBDIR = "/usr/lib/virtd"
UNITDIR = "/usr/lib/systemd/system"
LAUNCHERS = ("/usr/sbin/virtd", "/usr/sbin/virtlockd", "/usr/sbin/virtlogd", "/usr/bin/virtd-admin")
SCRIPTLET_HEADER = re.compile(r"^(\w+) scriptlet \(using (\S+)\):$", re.MULTILINE)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          check=True).stdout


def committed(commit: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"],
                          capture_output=True, check=True).stdout


def committed_paths(commit: str, directory: str) -> list[str]:
    return git("ls-tree", "-r", "--name-only", commit, "--", directory).split()


@dataclass(frozen=True)
class PackagedFile:
    flags: str
    mode: str


@dataclass(frozen=True)
class BuiltRpm:
    commit: str
    path: Path
    root: Path
    files: dict[str, PackagedFile]
    scriptlets: dict[str, str]

    def payload(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def query(rpm: Path, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(rpm)], capture_output=True, text=True,
                          check=True).stdout


def parse_scriptlets(text: str) -> dict[str, str]:
    """`rpm -qp --scripts` output as {"preinstall": body, …}."""
    headers = list(SCRIPTLET_HEADER.finditer(text))
    ends = [match.start() for match in headers[1:]] + [len(text)]
    return {match.group(1): text[match.end():end].strip() for match, end in zip(headers, ends)}


@pytest.fixture(scope="module")
def rpm(tmp_path_factory: pytest.TempPathFactory) -> BuiltRpm:
    commit = git("rev-parse", "HEAD").strip()
    topdir = tmp_path_factory.mktemp("rpmbuild")
    built = subprocess.run(["bash", str(BUILD_SH), "-o", str(topdir), commit], capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert built.returncode == 0, built.stderr[-5000:]
    path = Path(built.stdout.strip())
    assert path.is_file() and path.suffix == ".rpm", built.stdout
    root = tmp_path_factory.mktemp("payload")
    # rpm2archive ships with rpm; cpio is not always installed.
    subprocess.run(["sh", "-c", 'rpm2archive - < "$1" | tar -xzf - -C "$2"', "extract",
                    str(path), str(root)], check=True)
    files = {}
    for line in query(path, "--qf", "[%{FILENAMES}\t%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\n]"
                      ).splitlines():
        name, flags, mode = line.split("\t")
        files[name] = PackagedFile(flags, mode)
    return BuiltRpm(commit, path, root, files, parse_scriptlets(query(path, "--scripts")))


def installed_path(source: str) -> str | None:
    """Where the spec puts a file of the source tree; None for files it does not ship as such."""
    name = PurePosixPath(source).name
    if source.startswith("units/dbus/"):
        return f"/usr/share/dbus-1/system-services/{name}"
    if source.startswith("units/") and name.endswith((".service", ".socket")):
        return f"{UNITDIR}/{name}"
    if source.startswith("daemons/") and name.endswith(".conf"):
        return f"/etc/virtd/{name}"
    return {
        "units/virtd.catalog": "/usr/lib/systemd/catalog/virtd.catalog",
        "units/virtd.tmpfiles": "/usr/lib/tmpfiles.d/virtd.conf",
        "units/virtd.sysusers": "/usr/lib/sysusers.d/virtd.conf",
        "polkit/org.virtd.policy": "/usr/share/polkit-1/actions/org.virtd.policy",
        "polkit/50-virtd.rules": "/usr/share/polkit-1/rules.d/50-virtd.rules",
        "polkit/org.virtd.conf": "/usr/share/dbus-1/system.d/org.virtd.conf",
    }.get(source)


def shipped_sources(commit: str) -> dict[str, str]:
    sources = [path for directory in ("units", "polkit", "daemons")
               for path in committed_paths(commit, directory)]
    return {source: target for source in sources if (target := installed_path(source))}


def unit_names(rpm: BuiltRpm, suffix: str) -> list[str]:
    return sorted(PurePosixPath(path).name for path in committed_paths(rpm.commit, "units")
                  if path.count("/") == 1 and path.endswith(suffix))


# -- where the files land --------------------------------------------------------------------------


def test_every_unit_policy_and_config_lands_at_its_path(rpm: BuiltRpm) -> None:
    expected = shipped_sources(rpm.commit)
    assert len([t for t in expected.values() if t.startswith(UNITDIR)]) >= 10
    missing = sorted(target for target in expected.values() if target not in rpm.files)
    assert missing == []
    for launcher in LAUNCHERS:
        assert rpm.files[launcher].mode == "-rwxr-xr-x", launcher


def test_files_shipped_verbatim_are_byte_identical_to_the_tree(rpm: BuiltRpm) -> None:
    for source, target in shipped_sources(rpm.commit).items():
        if not target.startswith(UNITDIR):
            assert rpm.payload(target).read_bytes() == committed(rpm.commit, source), target


def test_configs_survive_upgrades_and_runtime_dir_is_not_in_the_payload(rpm: BuiltRpm) -> None:
    configs = sorted(path for path in rpm.files if path.startswith("/etc/virtd/"))
    assert configs == ["/etc/virtd/virtd.conf", "/etc/virtd/virtlockd.conf",
                       "/etc/virtd/virtlogd.conf"]
    for config in configs:
        # c: %config, n: noreplace — an edited file is kept and the new one lands as .rpmnew.
        assert set("cn") <= set(rpm.files[config].flags), config
    assert "g" in rpm.files["/run/virtd"].flags
    assert not rpm.payload("/run/virtd").exists()


def test_owned_directories_have_the_modes_tmpfiles_gives_them(rpm: BuiltRpm) -> None:
    """Otherwise `rpm -V virtd` reports a mode change on every host once systemd-tmpfiles ran."""
    tmpfiles = committed(rpm.commit, "units/virtd.tmpfiles").decode()
    lines = [line.split() for line in tmpfiles.splitlines() if line.startswith("d ")]
    assert len(lines) >= 3
    for _, path, mode, *_ in lines:
        shown = rpm.files[path].mode
        assert shown.startswith("d"), path
        assert int(mode, 8) == _permission_bits(shown), (path, mode, shown)


def _permission_bits(perms: str) -> int:
    return int("".join("0" if char == "-" else "1" for char in perms[1:10]), 2)


# -- the private library directory -----------------------------------------------------------------


def test_python_packages_live_only_in_the_private_directory(rpm: BuiltRpm) -> None:
    python_files = [path for path in rpm.files if path.endswith((".py", ".pyc"))]
    assert python_files
    assert [path for path in python_files if not path.startswith(f"{LIBDIR}/")] == []
    assert [path for path in rpm.files
            if "site-packages" in path or "dist-packages" in path or "/python3" in path] == []
    version = _committed_version(rpm.commit)
    assert sorted(os.listdir(rpm.payload(LIBDIR))) == ["common", "daemons",
                                                       f"virtd-{version}.dist-info"]
    for source in python_files:
        if source.endswith(".py"):
            pycache = PurePosixPath(source).parent / "__pycache__"
            assert any(path.startswith(f"{pycache}/{PurePosixPath(source).stem}.")
                       for path in python_files), f"{source} has no byte code"


def _committed_version(commit: str) -> str:
    return str(tomllib.loads(committed(commit, "pyproject.toml").decode())["project"]["version"])


def with_third_party_libraries(env: dict[str, str]) -> dict[str, str]:
    """`env` with PYTHONPATH naming only where dbus-fast and pyroute2 live.

    Debian's python3 lacks them (on Fedora the RPM Requires their packages); nothing else is on
    that path, so virtd's own packages can come only from where the launcher looks.
    """
    specs = [importlib.util.find_spec(name) for name in ("dbus_fast", "pyroute2")]
    third_party = sorted({str(Path(spec.origin).parents[1]) for spec in specs
                          if spec and spec.origin})
    return {**env, "PYTHONPATH": os.pathsep.join(third_party)}


def test_launchers_run_from_the_unpacked_payload(rpm: BuiltRpm, tmp_path: Path) -> None:
    """Each launcher finds /usr/lib/virtd relative to itself, so it runs from an unpacked root."""
    env = with_third_party_libraries(dict(os.environ))
    shebang = rpm.payload(LAUNCHERS[0]).read_text().splitlines()[0]
    interpreter = shebang.removeprefix("#!").split()[0]
    alone = subprocess.run([interpreter, "-c", "import daemons"], env=env, cwd=tmp_path,
                           capture_output=True, text=True)
    assert alone.returncode != 0 and "No module named 'daemons'" in alone.stderr
    libdir_before = sorted(rpm.payload(LIBDIR).rglob("*"))
    for launcher in LAUNCHERS:
        name = PurePosixPath(launcher).name
        ran = subprocess.run([str(rpm.payload(launcher)), "--help"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert ran.returncode == 0, (launcher, ran.stderr)
        assert name in ran.stdout.split()[:2], (launcher, ran.stdout)  # the usage line
    # The shipped byte code was valid: Python wrote nothing into the package's directory.
    assert sorted(rpm.payload(LIBDIR).rglob("*")) == libdir_before


def test_reload_of_the_installed_virtlogd_reexecutes_through_its_launcher(
        rpm: BuiltRpm, tmp_path: Path) -> None:
    """What an upgrade's `systemctl reload virtlogd` does: SIGUSR1, and the new image serves on."""
    env = with_third_party_libraries(daemon_env(tmp_path))
    (tmp_path / "run").mkdir(mode=0o700)
    config = tmp_path / "virtlogd.conf"
    config.write_text("")
    stderr = tmp_path / "virtlogd.stderr"
    with stderr.open("wb") as out:
        proc = subprocess.Popen([str(rpm.payload("/usr/sbin/virtlogd")), "--session", "--verbose",
                                 "--config", str(config)], env=env, cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    daemon = RunningDaemon("virtlogd", tmp_path, proc, config, env)
    try:
        wait_for_socket(daemon.admin_socket, proc)
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while "re-executed" not in stderr.read_text(errors="replace"):
            assert proc.poll() is None, stderr.read_text(errors="replace")
            assert time.monotonic() < deadline, "no re-exec within 30 s"
            time.sleep(0.02)
        servers = subprocess.run(["virt-admin", "-c", daemon.admin_uri, "server-list"],
                                 capture_output=True, text=True, timeout=20,
                                 stdin=subprocess.DEVNULL)
        assert servers.returncode == 0, servers.stderr
        assert {"virtlogd", "admin"} <= set(servers.stdout.split())
        assert proc.poll() is None
    finally:
        assert daemon.stop() == 0, stderr.read_text(errors="replace")


# -- units and the catalog -------------------------------------------------------------------------


def test_units_have_every_placeholder_filled_and_point_into_the_package(rpm: BuiltRpm) -> None:
    units = [path for path in rpm.files if path.startswith(f"{UNITDIR}/")]
    for unit in units:
        text = rpm.payload(unit).read_text()
        assert re.findall(r"@[A-Z_]+@", text) == [], unit
        for line in text.splitlines():
            if line.startswith("ExecStart="):
                program = line.removeprefix("ExecStart=").split()[0]
                assert program in LAUNCHERS, (unit, program)
            if line.startswith("Documentation=file:"):
                assert rpm.payload(line.removeprefix("Documentation=file:")).is_file(), unit
    services = {PurePosixPath(unit).name for unit in units if unit.endswith(".service")}
    assert services == {"virtd.service", "virtlockd.service", "virtlogd.service"}


def test_journalctl_indexes_the_catalog_and_its_support_page_ships(rpm: BuiltRpm,
                                                                      tmp_path: Path) -> None:
    catalog = rpm.payload("/usr/lib/systemd/catalog/virtd.catalog").read_text()
    ids = re.findall(r"^-- ([0-9a-f]{32})$", catalog, re.MULTILINE)
    assert ids
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(rpm.root), str(root)], check=True)
    subprocess.run(["journalctl", f"--root={root}", "--update-catalog"], check=True)
    listed = subprocess.run(["journalctl", f"--root={root}", "--list-catalog"], check=True,
                            capture_output=True, text=True).stdout
    assert {line.split()[0] for line in listed.splitlines()} >= set(ids)
    shown = subprocess.run(["journalctl", f"--root={root}", "--dump-catalog", ids[0]], check=True,
                           capture_output=True, text=True).stdout
    support = re.search(r"^Support: file://(\S+)$", shown, re.MULTILINE)
    assert support, shown
    assert rpm.payload(support.group(1)).is_file()


# -- scriptlets ------------------------------------------------------------------------------------


def test_scriptlets_are_valid_shell(rpm: BuiltRpm) -> None:
    assert set(rpm.scriptlets) == {"preinstall", "postinstall", "preuninstall", "posttrans"}
    for name, body in rpm.scriptlets.items():
        checked = subprocess.run(["sh", "-n"], input=body, capture_output=True, text=True)
        assert checked.returncode == 0, (name, checked.stderr)


def test_first_install_presets_every_unit_sockets_before_services(rpm: BuiltRpm) -> None:
    sockets, services = unit_names(rpm, ".socket"), unit_names(rpm, ".service")
    units_in_loop = _loop_units(rpm.scriptlets["posttrans"])
    assert sorted(units_in_loop) == sorted(sockets + services)
    last_socket = max(units_in_loop.index(unit) for unit in sockets)
    assert all(units_in_loop.index(unit) > last_socket for unit in services)
    assert "systemctl --no-reload preset $unit" in rpm.scriptlets["posttrans"]
    # %pre marks the units it has not seen yet: the same list.
    assert _loop_units(rpm.scriptlets["preinstall"]) == units_in_loop


def _loop_units(body: str) -> list[str]:
    match = re.search(r"^for unit in (.+); do$", body, re.MULTILINE)
    assert match, body
    return match.group(1).split()


def test_upgrade_reloads_lock_and_log_daemons_and_restarts_virtd(rpm: BuiltRpm) -> None:
    """Restarting virtlockd would drop leases and virtlogd would drop log pipes: they re-exec."""
    body = rpm.scriptlets["posttrans"]
    start = body.index("upgrade && test -d /run/systemd/system")
    upgrade = body[start:body.index("\nfi\n", start)]
    commands = [line.strip() for line in upgrade.splitlines()
                if line.strip().startswith("systemctl")]
    assert commands == ["systemctl daemon-reload || :",
                        "systemctl try-reload-or-restart virtlockd.service virtlogd.service || :",
                        "systemctl try-restart virtd.service || :"]
    assert "journalctl --update-catalog" in body
    assert "touch /var/lib/rpm-state/virtd/upgrade" in rpm.scriptlets["preinstall"]


def test_erase_disables_and_stops_every_unit(rpm: BuiltRpm) -> None:
    body = rpm.scriptlets["preuninstall"]
    assert body.startswith("if [ $1 -eq 0 ]; then")
    stop = next(line for line in body.splitlines() if "disable --now" in line)
    assert set(stop.split()) >= set(unit_names(rpm, ".socket") + unit_names(rpm, ".service"))
