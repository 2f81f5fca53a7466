"""Run libvirt's own C daemons (virtlogd, virtlockd) beside ours, without touching the host.

Run as root, libvirt's daemons insist on /run/libvirt/<name>-sock and /run/<name>.pid.
So each one runs in a private mount namespace with a fresh tmpfs on /run: it cannot
disturb (or be disturbed by) a host's libvirt. Its sockets stay reachable from outside
through the daemon's own view of the file system, /proc/<pid>/root/run/libvirt/.

The object mirrors tests.integration.daemons.RunningDaemon (socket(), admin_socket,
admin_uri, log_file, stop()), so tests and benchmarks can drive either the same way.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.integration.daemons import DaemonProcess, wait_for_socket

SBIN = Path("/usr/sbin")
LIBVIRT_DAEMONS = ("virtlogd", "virtlockd")


def unavailable_reason(name: str) -> str | None:
    """Why libvirt's `name` cannot run here (for pytest.skip), or None if it can."""
    if not (SBIN / name).is_file():
        return f"{SBIN / name} is not installed (Debian package libvirt-daemon)"
    if os.geteuid() != 0:
        return "a private mount namespace for libvirt's daemon needs root"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    return None


@dataclass
class LibvirtDaemon(DaemonProcess):
    """libvirt's daemon in its private mount namespace."""

    config: Path = Path()
    uri_mode = "system"

    @property
    def sock_dir(self) -> Path:
        """The daemon's /run/libvirt, seen from outside its namespace."""
        return Path(f"/proc/{self.proc.pid}/root/run/libvirt")


def start_libvirt_daemon(name: str, root: Path, config: str = "",
                         args: tuple[str, ...] = ()) -> LibvirtDaemon:
    """Start libvirt's `name` (virtlogd or virtlockd) and wait until its admin socket answers.

    The mount namespace dies with the daemon: nothing needs cleaning up afterwards.
    """
    reason = unavailable_reason(name)
    if reason is not None:
        raise RuntimeError(reason)
    root.mkdir(parents=True, exist_ok=True)
    conf = root / f"libvirt-{name}.conf"
    conf.write_text(config)
    daemon_cmd = shlex.join([str(SBIN / name), "--config", str(conf), *args])
    # `unshare` without --fork execs the shell, which execs the daemon: one pid throughout.
    script = f"mount -t tmpfs -o mode=0755 tmpfs /run && exec {daemon_cmd}"
    stderr = open(root / f"{name}.stderr", "ab")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")}
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, cwd=str(root),
    )
    stderr.close()
    daemon = LibvirtDaemon(name, root, proc, conf)
    try:
        wait_for_socket(daemon.admin_socket, proc)
    except Exception:
        daemon.stop(signal.SIGKILL)
        raise RuntimeError(
            f"libvirt's {name} did not start:\n{daemon.log_file.read_text(errors='replace')}"
        ) from None
    return daemon


@contextmanager
def libvirt_daemon(name: str, root: Path, config: str = "",
                   args: tuple[str, ...] = ()) -> Iterator[LibvirtDaemon]:
    """libvirt's `name` for the duration of a `with` block."""
    daemon = start_libvirt_daemon(name, root, config, args)
    try:
        yield daemon
    finally:
        daemon.stop()
