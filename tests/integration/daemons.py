"""Start our real daemons as child processes for integration tests.

Each daemon runs in session mode with its own XDG directories and a config
file under a temporary directory, so tests never touch the host's /run or /etc.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def wait_for_socket(path: Path, proc: subprocess.Popen[bytes] | None = None,
                    deadline: float = 15.0) -> None:
    """Wait until something accepts connections at `path`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode} before {path} appeared")
        if path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
                return
            except OSError:
                pass
            finally:
                probe.close()
        time.sleep(0.02)
    raise TimeoutError(f"{path} did not start accepting within {deadline}s")


@dataclass
class DaemonProcess:
    """A daemon process under test, ours or libvirt's: its sockets, log and stop."""

    name: str
    root: Path
    proc: subprocess.Popen[bytes]

    socket_prefix = ""
    """Socket names are `<prefix>-sock...`; empty means the daemon's name."""
    uri_mode = "session"

    @property
    def sock_dir(self) -> Path:
        return self.root / "run" / "virtd"

    def socket(self, suffix: str = "sock") -> Path:
        return self.sock_dir / f"{self.socket_prefix or self.name}-{suffix}"

    @property
    def admin_socket(self) -> Path:
        return self.socket("admin-sock")

    @property
    def admin_uri(self) -> str:
        return f"{self.name}:///{self.uri_mode}?socket={self.admin_socket}"

    @property
    def log_file(self) -> Path:
        return self.root / f"{self.name}.stderr"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@dataclass
class RunningDaemon(DaemonProcess):
    """One of our daemons, in session mode under `root`."""

    config: Path = Path()
    env: dict[str, str] = field(default_factory=dict)


def daemon_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "XDG_RUNTIME_DIR": str(root / "run"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("NOTIFY_SOCKET", None)
    env.pop("LISTEN_FDS", None)
    return env


def start_daemon(name: str, root: Path, config: str = "", args: tuple[str, ...] = (),
                 wait: bool = True) -> RunningDaemon:
    """Start `name` (virtd, virtlockd or virtlogd) under `root` and wait for its admin socket."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "run").mkdir(mode=0o700, exist_ok=True)
    conf = root / f"{name}.conf"
    conf.write_text(config)
    env = daemon_env(root)
    stderr = open(root / f"{name}.stderr", "ab")
    proc = subprocess.Popen(
        [str(VENV_BIN / name), "--session", "--config", str(conf), *args],
        env=env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, cwd=str(root),
    )
    stderr.close()
    daemon = RunningDaemon(name, root, proc, conf, env)
    if wait:
        try:
            wait_for_socket(daemon.admin_socket, proc)
        except Exception:
            daemon.stop(signal.SIGKILL)
            raise RuntimeError(
                f"{name} did not start:\n{daemon.log_file.read_text(errors='replace')}") from None
    return daemon
