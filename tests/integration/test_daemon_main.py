"""What every daemon's main does: one instance at a time, stale sockets replaced, a clean
SIGTERM stop, SIGHUP re-reading the log settings, and an admin socket for its own uid only."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.integration.conftest import virt_admin
from tests.integration.daemons import RunningDaemon, daemon_env, start_daemon, wait_for_socket

NOBODY = 65534
# admin CONNECT_OPEN(flags 0), serial 0: length, prog 0x06900690, vers 1, proc 1, CALL, serial 0,
# OK, flags.
CONNECT_OPEN = bytes.fromhex("00000020" "06900690" "00000001" "00000001" "00000000"
                             "00000000" "00000000" "00000000")


@pytest.mark.parametrize("name", ["virtd", "virtlockd", "virtlogd"])
def test_a_second_instance_is_refused_and_the_first_keeps_serving(
        name: str, run_daemon: Callable[..., RunningDaemon]) -> None:
    first = run_daemon(name)
    second = subprocess.run(
        [str(Path(first.proc.args[0])), "--session", "--config", str(first.config)],
        env=daemon_env(first.root), capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert f"another {name} is already running" in second.stderr
    assert virt_admin(first.admin_uri, "server-list").returncode == 0


def test_a_stale_socket_is_replaced_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "logd"
    sock_dir = root / "run" / "virtd"
    sock_dir.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock_dir / "virtlogd-sock"))
    stale.close()  # the file stays, nobody listens: what a crash leaves behind

    daemon = start_daemon("virtlogd", root)
    assert virt_admin(daemon.admin_uri, "server-list").returncode == 0
    assert daemon.stop(signal.SIGTERM) == 0
    assert sorted(p.name for p in sock_dir.iterdir()) == ["virtlogd.pid"]


def test_sighup_rereads_the_log_settings(run_daemon: Callable[..., RunningDaemon]) -> None:
    daemon = run_daemon("virtd", 'log_filters = "1:rpc"\n')
    out = virt_admin(daemon.admin_uri, "daemon-log-filters").stdout
    assert "1:*rpc*" in out
    daemon.config.write_text('log_filters = "4:util 2:daemon"\n')
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "4:*util* 2:*daemon*" not in virt_admin(daemon.admin_uri, "daemon-log-filters").stdout:
        assert time.monotonic() < deadline, "SIGHUP did not apply the new log_filters"
        time.sleep(0.05)
    assert daemon.proc.poll() is None


def test_the_admin_socket_refuses_another_uid(run_daemon: Callable[..., RunningDaemon]) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="virtd-uid-test-", dir="/tmp"))
    try:
        sock_dir.chmod(0o755)
        daemon = run_daemon("virtlogd", f'unix_sock_dir = "{sock_dir}"\n', wait=False)
        admin = sock_dir / "virtlogd-admin-sock"
        wait_for_socket(admin, daemon.proc)
        # Open the file mode up, so only the daemon's own check stands between nobody and it.
        admin.chmod(0o666)
        probe = ("import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX); s.settimeout(10)\n"
                 "s.connect(sys.argv[1])\n"
                 "try:\n"
                 "    s.sendall(bytes.fromhex(sys.argv[2])); reply = s.recv(4096)\n"
                 "except (BrokenPipeError, ConnectionResetError):\n"
                 "    reply = b''\n"
                 "print(len(reply))\n")
        refused = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "/usr/bin/python3", "-c", probe, str(admin), CONNECT_OPEN.hex()],
            capture_output=True, text=True, timeout=30)
        assert refused.stdout.strip() == "0", refused.stderr  # closed without a reply
        assert "disallowing client" in daemon.log_file.read_text()
        uri = f"virtlogd:///session?socket={admin}"
        assert virt_admin(uri, "server-list").returncode == 0
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
