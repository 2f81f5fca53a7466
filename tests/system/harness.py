"""Boot a real systemd in a throwaway `systemd-nspawn` container, so system tests drive real units.

How it works
------------
* `systemd-nspawn --volatile=yes -D / -b` boots this machine's own /usr (read-only) on a fresh tmpfs root.
  The guest's /etc starts empty (systemd fills it on this "first boot"), and everything a test puts there —
  units in /etc/systemd/system, files in /run, the journal — vanishes at `stop()`. Nothing to clean up.
* `--register=no --keep-unit`: the host needs no systemd of its own (this VM's PID 1 is not systemd), so
  `machinectl`/`systemd-run --machine` on the *host* cannot reach the guest; inside the guest they all work.
* `--private-network`: the guest gets only its own loopback, so nothing it does can touch the host's network.
* The checkout (and its .venv, when that lives elsewhere) is bound read-only at the same path, so
  `/work/main/.venv/bin/virtd` means the same file inside and out; the venv's python is Debian's /usr/bin/python3,
  which the guest shares.
* Boot target: `systemd.unit=basic.target` with `timers.target` and `systemd-firstboot.service` masked (both
  given to the guest's PID 1 as kernel-command-line style arguments). The presets applied to the empty /etc
  enable whatever the host has installed (postgresql, apt timers, ...); stopping at basic.target keeps all of
  that from starting, and firstboot would wait forever for an answer on the console. journald and the D-Bus
  socket run from boot; logind, polkit and machined start on first use through D-Bus activation.
* Readiness: nspawn gets a NOTIFY_SOCKET of ours. It reports `X_NSPAWN_LEADER_PID=` (the guest's PID 1, as a
  host pid) at once and, with `--notify-ready=yes`, forwards READY=1 when the guest's systemd has finished
  starting up; then `systemctl is-system-running --wait` must say running (or degraded). The wait selects on
  that socket and on a pidfd of nspawn, so an early exit is noticed at once; no polling.
* Commands run through `nsenter --target <leader> --all` with a clean root environment (`setpriv` switches
  user, without PAM, which the empty /etc lacks). Such a process lives in the guest's namespaces but stays in
  the host's cgroup: journald records it with `_SYSTEMD_CGROUP=/..` and no unit, and polkit finds no logind
  session for it. Whatever must be a real unit is started with `systemctl`/`systemd-run` inside the guest.
* Console: `--console=read-only` gives the guest a pty whose output (boot status lines) goes to a file; it is
  quoted in the error when booting fails.
* No container is left behind: `stop()` sends SIGTERM to nspawn (the guest powers off cleanly), a second
  SIGTERM (nspawn kills the guest), then SIGKILL to the guest's PID 1 and to nspawn. nspawn also runs with
  PR_SET_PDEATHSIG=SIGTERM, so a pytest that dies takes its container with it.
* `install_units()` plays the package: units go to /etc/systemd/system with @NAME@ placeholders filled in;
  journal catalogs go to /usr/lib/systemd/catalog, which the guest gets as a writable copy bound over the
  shared read-only one (in the guest's mount namespace only), then `journalctl --update-catalog`.
* The guest mirrors the host's cgroup layout (hybrid v1 + v2 on this VM).
* One container serves the whole session (`booted` fixture in conftest.py), so tests share it: give units
  and files unique names (`unique_name()`) and stop what you start.

Measured on this machine (2 vCPUs, systemd 252, other test suites running alongside): `start()` 0.5-0.9 s
(READY arrives after ~0.45 s), `stop()` 0.1-0.3 s, `run(["true"])` 4-7 ms, `journal()` 15-30 ms (a sync and
a query), starting a Type=notify python service with systemd-run ~70 ms. The smoke suite (test_harness.py,
13 tests including one extra boot) takes 2.5-6 s, so a system suite of a few hundred such steps stays
within a few minutes.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

BOOT_ARGUMENTS = (
    "systemd.unit=basic.target",
    "systemd.mask=timers.target",
    "systemd.mask=systemd-firstboot.service",
)
GUEST_ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
}
UNIT_SUFFIXES = frozenset({".service", ".socket", ".target", ".timer", ".path", ".slice", ".mount"})
GUEST_UNIT_DIR = "/etc/systemd/system"
# journalctl only reads catalogs under /usr, which the guest shares read-only with the host: give the guest
# a writable copy of that directory (bound over it in the guest's mount namespace only, once per boot).
GUEST_CATALOG_DIR = "/usr/lib/systemd/catalog"
WRITABLE_CATALOG_DIR = """\
set -e
mountpoint -q "$1" && exit
mkdir -p /run/harness-catalog
cp -a "$1"/. /run/harness-catalog/
mount --bind /run/harness-catalog "$1"
"""
PLACEHOLDER = re.compile(r"@[A-Z][A-Z0-9_]*@")
CONSOLE_LINES_IN_ERRORS = 60
PR_SET_PDEATHSIG = 1
CHECKOUT = Path(__file__).resolve().parents[2]
LIBC = ctypes.CDLL(None, use_errno=True)


class BootError(RuntimeError):
    """The container did not boot into a usable systemd; the message quotes its console."""


class GuestCommandError(subprocess.CalledProcessError):
    """A guest command failed; unlike CalledProcessError, its text shows what the command printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"


def _terminate_with_parent() -> None:
    """Runs in the forked nspawn before exec: if the test process dies, nspawn powers the guest off."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class BootedSystem:
    """A systemd booted in a container on this machine, with the checkout visible at its own path."""

    _machine_numbers = itertools.count(1)

    def __init__(self, checkout: Path = CHECKOUT) -> None:
        self.checkout = checkout.resolve()
        self.venv = self.checkout / ".venv"
        self.machine = f"virtd-test-{os.getpid()}-{next(self._machine_numbers)}"
        self._nspawn: subprocess.Popen[bytes] | None = None
        self._leader_pidfd: int | None = None
        self._leader: int | None = None
        self._workdir: Path | None = None
        self._names = itertools.count(1)

    @property
    def leader_pid(self) -> int:
        """The guest's PID 1 as a host pid (its /proc/<pid>/root is the guest's file system)."""
        if self._leader is None:
            raise RuntimeError(f"container {self.machine} is not running")
        return self._leader

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Boot and return once the guest's systemd is running; BootError (with the console) if not."""
        if self._nspawn is not None:
            raise RuntimeError(f"container {self.machine} is already running")
        deadline = time.monotonic() + timeout
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{self.machine}-"))
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            notify.bind(str(self._workdir / "notify"))
            with open(self._workdir / "console.log", "wb") as console:
                self._nspawn = self._spawn(console, str(self._workdir / "notify"))
            self._leader = self._await_ready(notify, deadline)
            self._leader_pidfd = os.pidfd_open(self._leader)
            self._await_running(deadline)
        except BaseException:
            self.stop()
            raise
        finally:
            notify.close()

    def stop(self, timeout: float = 20.0) -> None:
        """Power the guest off; escalate to killing it so that no container outlives this call."""
        proc = self._nspawn
        try:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                if not _exited_within(proc, timeout):
                    proc.terminate()
                    if not _exited_within(proc, 5.0):
                        if self._leader_pidfd is not None:
                            signal.pidfd_send_signal(self._leader_pidfd, signal.SIGKILL)
                        proc.kill()
                        proc.wait()
        finally:
            if self._leader_pidfd is not None:
                os.close(self._leader_pidfd)
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self._nspawn = self._leader = self._leader_pidfd = self._workdir = None

    def _spawn(self, console: IO[bytes], notify_socket: str) -> subprocess.Popen[bytes]:
        command = [
            "systemd-nspawn", "--quiet", "--volatile=yes", "--directory=/", f"--machine={self.machine}",
            "--register=no", "--keep-unit", "--private-network", "--notify-ready=yes",
            "--console=read-only", "--setenv=SYSTEMD_COLORS=0", *self._binds(), "--boot", *BOOT_ARGUMENTS,
        ]
        try:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                env={**os.environ, "NOTIFY_SOCKET": notify_socket},
                start_new_session=True, preexec_fn=_terminate_with_parent)
        except OSError as error:
            raise BootError(f"cannot run systemd-nspawn ({error}); is systemd-container installed?") from None

    def _binds(self) -> list[str]:
        binds = [f"--bind-ro={self.checkout}"]
        venv = self.venv.resolve()
        if venv.exists() and not venv.is_relative_to(self.checkout):
            binds.append(f"--bind-ro={venv}")
        return binds

    def _await_ready(self, notify: socket.socket, deadline: float) -> int:
        """Read nspawn's notifications until READY=1; returns the guest's PID 1 as a host pid."""
        assert self._nspawn is not None
        leader: int | None = None
        status = "(nspawn sent no status)"
        nspawn_fd = os.pidfd_open(self._nspawn.pid)
        try:
            while True:
                remaining = deadline - time.monotonic()
                readable, _, _ = select.select([notify, nspawn_fd], [], [], max(remaining, 0))
                if notify in readable:
                    fields = dict(line.partition("=")[::2]
                                  for line in notify.recv(4096).decode().splitlines())
                    status = fields.get("STATUS", status)
                    if "X_NSPAWN_LEADER_PID" in fields:
                        leader = int(fields["X_NSPAWN_LEADER_PID"])
                    if fields.get("READY") == "1" and leader is not None:
                        return leader
                elif nspawn_fd in readable:
                    raise self._boot_error(f"systemd-nspawn exited with status {self._nspawn.wait()}")
                elif remaining <= 0:
                    raise self._boot_error(f"no READY=1 from the guest; its last status: {status}")
        finally:
            os.close(nspawn_fd)

    def _await_running(self, deadline: float) -> None:
        wait = max(deadline - time.monotonic(), 1.0)
        state = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=wait).stdout.strip()
        if state not in ("running", "degraded"):
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            raise self._boot_error(f"guest systemd is {state!r}, not running; failed units:\n{failed}")

    def _boot_error(self, reason: str) -> BootError:
        return BootError(f"booting systemd in container {self.machine} failed: {reason}\n"
                         f"--- last lines of its console ---\n{self.console_output(CONSOLE_LINES_IN_ERRORS)}")

    def console_output(self, last_lines: int | None = None) -> str:
        """What the guest printed on its console (boot status lines), readable as plain text."""
        if self._workdir is None:
            return ""
        text = (self._workdir / "console.log").read_bytes().decode(errors="replace").replace("\r", "")
        lines = text.splitlines()
        return "\n".join(lines if last_lines is None else lines[-last_lines:])

    # -- using the guest ---------------------------------------------------------------------------

    def run(self, cmd: Sequence[str] | str, *, check: bool = True, timeout: float = 30.0,
            user: str | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `cmd` inside the guest (a string goes through /bin/sh -c) as root or `user`.

        Raises GuestCommandError when `check` and the command fails, subprocess.TimeoutExpired after
        killing it when it outlives `timeout`.
        """
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        switch_user = self._as_user(user) if user is not None else []
        proc = subprocess.Popen(
            ["nsenter", f"--target={self.leader_pid}", "--all", "--root", "--wd", "--", *switch_user, *argv],
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=GUEST_ENVIRONMENT, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr) from None
        if check and proc.returncode != 0:
            raise GuestCommandError(proc.returncode, argv, stdout, stderr)
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)

    def _as_user(self, user: str) -> list[str]:
        _, _, uid, gid, *_ = self.run(["getent", "passwd", user]).stdout.split(":")
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--reset-env", "--"]

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        """Create or replace a file inside the guest (parent directories included)."""
        self.run(["/bin/sh", "-c", 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"',
                  "write_file", path, f"{mode:o}"], input=text)

    def default_substitutions(self) -> dict[str, str]:
        """Placeholder values that make unit files point at this checkout: @SRCDIR@, @VENV@, @BINDIR@."""
        return {"SRCDIR": str(self.checkout), "VENV": str(self.venv), "BINDIR": str(self.venv / "bin")}

    def install_units(self, src_dir: Path, substitutions: Mapping[str, str] | None = None) -> list[str]:
        """Install unit files and journal catalogs from `src_dir` into the guest, as a package would.

        In unit files, @NAME@ placeholders are filled from default_substitutions() updated with
        `substitutions`; one left unfilled is an error, so a typo fails here rather than as a puzzling
        ExecStart=. Catalogs are copied verbatim (their @FIELD@s are journalctl's) and indexed. systemd is
        reloaded. Returns the file names installed; other files are left alone.
        """
        values = {**self.default_substitutions(), **(substitutions or {})}
        units = sorted(path for path in src_dir.iterdir() if path.suffix in UNIT_SUFFIXES)
        catalogs = sorted(src_dir.glob("*.catalog"))
        for unit in units:
            self.write_file(f"{GUEST_UNIT_DIR}/{unit.name}", _substitute(unit, values))
        if catalogs:
            self.run(["/bin/sh", "-c", WRITABLE_CATALOG_DIR, "writable-catalog-dir", GUEST_CATALOG_DIR])
            for catalog in catalogs:
                self.write_file(f"{GUEST_CATALOG_DIR}/{catalog.name}", catalog.read_text())
            self.run(["journalctl", "--update-catalog"])
        self.run(["systemctl", "daemon-reload"])
        return sorted(path.name for path in units + catalogs)

    def journal(self, **matches: str) -> list[dict[str, object]]:
        """The guest's journal records matching FIELD=value pairs, as `journalctl -o json` gives them.

        journald is synced first, so everything logged before this call is included.
        """
        self.run(["journalctl", "--sync"])
        output = self.run(["journalctl", "--output=json", "--no-pager",
                           *(f"{field}={value}" for field, value in matches.items())]).stdout
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    def unique_name(self, prefix: str) -> str:
        """A name (for a unit, a file) that no other test in this container's session uses."""
        return f"{prefix}-{next(self._names)}"


def _substitute(source: Path, values: Mapping[str, str]) -> str:
    text = source.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    unfilled = sorted(set(PLACEHOLDER.findall(text)))
    if unfilled:
        raise ValueError(f"{source}: no value for placeholder(s) {', '.join(unfilled)}")
    return text


def _exited_within(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True
