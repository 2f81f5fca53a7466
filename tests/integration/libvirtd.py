"""libvirt's own C libvirtd, run beside ours as the oracle for tests and benchmarks.

Started as root, libvirtd is the system daemon: it would create /var/lib/libvirt
and let its network and QEMU drivers touch the host. So it runs as a *session*
daemon of an unprivileged user (nobody), with HOME and the XDG directories in a
fresh directory: nothing outside that directory is touched, and root (the tests)
can still connect to its socket. Its test:///default driver is the same code as
virsh's in-process one; it keeps its state only while some client has it open.

Tests import the `libvirtd` fixture; the benchmark uses `running_libvirtd()`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.daemons import DaemonProcess, wait_for_socket

LIBVIRTD = Path("/usr/sbin/libvirtd")
UNPRIVILEGED_UID = 65534
CONFIG = 'log_outputs = "3:stderr"\n'


def unavailable_reason() -> str | None:
    """Why libvirt's daemon cannot run here (for pytest.skip), or None if it can."""
    if not LIBVIRTD.is_file():
        return f"{LIBVIRTD} is not installed (Debian package libvirt-daemon)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is needed to run libvirtd unprivileged"
    return None


@dataclass
class Libvirtd(DaemonProcess):
    """A running libvirtd session daemon; `root` holds everything it owns."""

    socket_prefix = "libvirt"

    @property
    def sock_dir(self) -> Path:
        return self.root / "run" / "libvirt"

    @property
    def uri(self) -> str:
        """The URI that makes virsh / libvirt-python use this daemon's test driver."""
        return f"test+unix:///default?socket={self.socket()}"


def _session_env(root: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(root / "home"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "LC_ALL": "C",
    }


def start_libvirtd() -> Libvirtd:
    """Start libvirtd in a fresh directory and wait until its socket accepts connections.

    The directory lives directly under the system temp dir: pytest's tmp_path
    sits below a root-only directory that the unprivileged daemon cannot enter.
    """
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    root = Path(tempfile.mkdtemp(prefix="libvirtd-"))
    for sub in ("run", "config", "cache", "home"):
        (root / sub).mkdir(mode=0o700)
    config = root / "libvirtd.conf"
    config.write_text(CONFIG)
    command = [str(LIBVIRTD), "--config", str(config)]
    if os.geteuid() == 0:
        for path in (root, *root.iterdir()):
            os.chown(path, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        command = ["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}",
                   "--clear-groups", *command]
    with open(root / "libvirtd.stderr", "wb") as stderr:
        proc = subprocess.Popen(command, env=_session_env(root), stdin=subprocess.DEVNULL,
                                stdout=stderr, stderr=stderr, cwd=str(root))
    daemon = Libvirtd("libvirtd", root, proc)
    try:
        wait_for_socket(daemon.socket(), proc)
    except Exception:
        daemon.stop()
        log = daemon.log_file.read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"libvirtd did not start:\n{log}") from None
    return daemon


@contextmanager
def running_libvirtd() -> Iterator[Libvirtd]:
    """libvirt's daemon for the duration of a `with` block; its directory is removed after."""
    daemon = start_libvirtd()
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


@pytest.fixture(scope="module")
def libvirtd() -> Iterator[Libvirtd]:
    """libvirt's daemon, shared by a module's tests (its test driver resets between clients)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_libvirtd() as daemon:
        yield daemon
