"""Smoke tests: the booted guest is a real systemd with the services later system tests rely on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.system.harness import BootedSystem, BootError, GuestCommandError

pytestmark = pytest.mark.system

NOTIFYING_SERVICE = """\
import signal, sys
from systemd import daemon, journal
journal.send(MESSAGE="harness smoke: ready", VIRTD_TEST=sys.argv[1])
daemon.notify("READY=1")
signal.pause()
"""

FDNAME_ECHO_SERVICE = """\
import os, socket
names = os.environ["LISTEN_FDNAMES"]
print(f"LISTEN_FDNAMES={names}", flush=True)
listener = socket.socket(fileno=3)
connection, _ = listener.accept()
connection.sendall(names.encode())
connection.close()
"""

UNIX_CLIENT = """\
import socket, sys
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[1])
print(client.recv(256).decode())
"""


def python_in_guest(booted: BootedSystem) -> str:
    return str(booted.venv / "bin" / "python")


def test_guest_pid1_is_systemd_in_nspawn(booted: BootedSystem) -> None:
    assert booted.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    assert booted.run(["systemd-detect-virt", "--container"]).stdout.strip() == "systemd-nspawn"


def test_guest_system_is_running(booted: BootedSystem) -> None:
    state = booted.run(["systemctl", "is-system-running"], check=False).stdout.strip()
    assert state in ("running", "degraded")


def test_failing_guest_command_reports_its_output(booted: BootedSystem) -> None:
    with pytest.raises(GuestCommandError, match="Unit no-such-unit.service could not be found"):
        booted.run(["systemctl", "status", "no-such-unit.service"])


def test_hung_guest_command_times_out(booted: BootedSystem) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        booted.run(["sleep", "600"], timeout=0.3)


def test_commands_run_as_another_user(booted: BootedSystem) -> None:
    assert booted.run(["id", "-un"], user="nobody").stdout.strip() == "nobody"


def test_checkout_venv_python_works_in_guest(booted: BootedSystem) -> None:
    prefix = booted.run([python_in_guest(booted), "-c", "import sys, systemd.journal; print(sys.prefix)"])
    assert prefix.stdout.strip() == str(booted.venv)


def test_notify_service_becomes_active_and_journals_custom_fields(booted: BootedSystem) -> None:
    unit = booted.unique_name("harness-notify")
    script = f"/run/{unit}.py"
    booted.write_file(script, NOTIFYING_SERVICE)
    booted.run(["systemd-run", f"--unit={unit}", "-p", "Type=notify",
                python_in_guest(booted), script, unit])
    try:
        assert booted.run(["systemctl", "is-active", f"{unit}.service"]).stdout.strip() == "active"
        records = booted.journal(_SYSTEMD_UNIT=f"{unit}.service")
        assert {(r["MESSAGE"], r["VIRTD_TEST"]) for r in records if "VIRTD_TEST" in r} == {
            ("harness smoke: ready", unit)}
    finally:
        booted.run(["systemctl", "stop", f"{unit}.service"])


def test_system_bus_has_systemd_and_polkit_answers(booted: BootedSystem) -> None:
    names = booted.run(["busctl", "--system", "list", "--no-legend"]).stdout
    assert "org.freedesktop.systemd1" in names
    backend = booted.run(["busctl", "--system", "get-property", "org.freedesktop.PolicyKit1",
                          "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                          "BackendName"])
    assert backend.stdout.strip() == 's "js"'


def test_machinectl_lists_machines_through_machined(booted: BootedSystem) -> None:
    booted.run(["machinectl", "list", "--no-legend"])
    assert booted.run(["systemctl", "is-active", "systemd-machined.service"]).stdout.strip() == "active"


def test_socket_unit_hands_its_fd_name_to_the_service(booted: BootedSystem) -> None:
    unit = booted.unique_name("harness-fdname")
    address = f"/run/{unit}.sock"
    booted.write_file(f"/run/{unit}.py", FDNAME_ECHO_SERVICE)
    booted.write_file(f"/etc/systemd/system/{unit}.socket",
                      f"[Socket]\nListenStream={address}\nFileDescriptorName=harness-listener\n")
    booted.write_file(f"/etc/systemd/system/{unit}.service",
                      f"[Service]\nExecStart={python_in_guest(booted)} /run/{unit}.py\n")
    booted.run(["systemctl", "daemon-reload"])
    booted.run(["systemctl", "start", f"{unit}.socket"])
    try:
        reply = booted.run([python_in_guest(booted), "-c", UNIX_CLIENT, address])
        assert reply.stdout.strip() == "harness-listener"
        messages = [r["MESSAGE"] for r in booted.journal(_SYSTEMD_UNIT=f"{unit}.service")]
        assert "LISTEN_FDNAMES=harness-listener" in messages
    finally:
        booted.run(["systemctl", "stop", f"{unit}.socket", f"{unit}.service"])


def test_install_units_fills_placeholders_and_installs_catalogs(booted: BootedSystem, tmp_path: Path) -> None:
    unit = booted.unique_name("harness-installed")
    message_id = "6c1b2ba6c6a24d77a5a1a0f6f0c9b8e1"
    (tmp_path / f"{unit}.service").write_text(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        "ExecStart=@BINDIR@/python -c \"import sys; from systemd import journal; "
        f"journal.send(sys.prefix, MESSAGE_ID='{message_id}', SYSLOG_IDENTIFIER='{unit}')\"\n")
    (tmp_path / f"{unit}.catalog").write_text(
        f"-- {message_id}\nSubject: @SYSLOG_IDENTIFIER@ passed the harness smoke test\n\nFrom the catalog.\n")
    (tmp_path / "notes.txt").write_text("not a unit\n")
    assert booted.install_units(tmp_path) == [f"{unit}.catalog", f"{unit}.service"]
    booted.run(["systemctl", "start", f"{unit}.service"])
    try:
        records = booted.journal(MESSAGE_ID=message_id, SYSLOG_IDENTIFIER=unit)
        assert [r["MESSAGE"] for r in records] == [str(booted.venv)]
        explained = booted.run(["journalctl", "--catalog", "--no-pager", f"MESSAGE_ID={message_id}",
                                f"SYSLOG_IDENTIFIER={unit}"]).stdout
        assert f"{unit} passed the harness smoke test" in explained
    finally:
        booted.run(["systemctl", "stop", f"{unit}.service"])


def test_install_units_rejects_unfilled_placeholders(booted: BootedSystem, tmp_path: Path) -> None:
    (tmp_path / "typo.service").write_text("[Service]\nExecStart=@VNEV@/bin/virtd\n")
    with pytest.raises(ValueError, match="@VNEV@"):
        booted.install_units(tmp_path)


def test_stop_leaves_no_container_behind() -> None:
    system = BootedSystem()
    system.start()
    leader = system.leader_pid
    system.stop()
    assert not Path(f"/proc/{leader}").exists()
    with pytest.raises(RuntimeError, match="not running"):
        system.run(["true"])


def test_unbootable_container_fails_loudly_with_its_console(tmp_path: Path) -> None:
    system = BootedSystem(tmp_path / "no-such-checkout")
    with pytest.raises(BootError, match="(?s)systemd-nspawn exited.*no-such-checkout"):
        system.start()
