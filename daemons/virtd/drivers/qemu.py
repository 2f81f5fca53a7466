"""The QEMU driver: real QEMU processes (KVM when /dev/kvm is usable, TCG otherwise).

Each VM is a QEMU process in its own session, controlled over QMP, placed in
its own machine scope through systemd-machined when virtd runs as the system
daemon, and watched through a pidfd: when QEMU exits, the domain is marked
shut off (or crashed) at once. After a virtd restart the saved status (pid,
monitor socket) is enough to take the running VM back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import threading
import time

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.fields import fields
from common.rpc.identity import process_start_time, process_stat
from daemons.virtd.domain.definition import DomainDefinition
from daemons.virtd.domain.names import safe_state_filename
from daemons.virtd.domain.objects import DomainObject
from daemons.virtd.domain.state import ShutoffReason, StoppedDetail
from daemons.virtd.drivers.base import Driver
from daemons.virtd.qemu import command
from daemons.virtd.qemu.machined import Machined, machine_name
from daemons.virtd.qemu.qmp import Qmp, QmpError
from daemons.virtlockd.client import LeaseRequest, LockClient, LockspaceDirs, disk_lease
from daemons.virtlogd.client import LogClient

log = logging.getLogger("virtd.virtd.qemu")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
GRACEFUL_STOP_TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def qemu_version() -> int:
    """The emulator's version as libvirt encodes it (7.2.0 -> 7002000), 0 if unknown."""
    try:
        out = subprocess.run([command.DEFAULT_EMULATOR, "--version"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    if not match:
        return 0
    major, minor, micro = (int(g) for g in match.groups())
    return major * 1_000_000 + minor * 1_000 + micro


def qemu_available() -> bool:
    return shutil.which(command.DEFAULT_EMULATOR) is not None


def _wait_exit(pid: int, pidfd: int, timeout: float) -> bool:
    """Wait for `pid` to exit (reaping it when it is our child); True if it did."""
    ready, _, _ = select.select([pidfd], [], [], timeout)
    if not ready:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


class QemuDriver(Driver):
    type_name = "QEMU"
    acl_name = "QEMU"
    error_domain = ErrorDomain.QEMU
    runs_processes = True

    def __init__(self, uri: str, state_dir: str, runtime_dir: str, log_dir: str,
                 loop: asyncio.AbstractEventLoop, machined: Machined | None,
                 virtlogd_socket: str, lock_socket: str, lock_dirs: LockspaceDirs) -> None:
        super().__init__(uri, os.path.join(state_dir, "qemu"), os.path.join(runtime_dir, "qemu"))
        self.hypervisor_version = qemu_version()
        self.log_dir = os.path.join(log_dir, "qemu")
        os.makedirs(self.log_dir, mode=0o700, exist_ok=True)
        self._loop = loop
        self._machined = machined
        self._virtlogd_socket = virtlogd_socket
        self._lock_socket = lock_socket
        self._lock_dirs = lock_dirs
        self.load()

    def prepare_definition(self, definition: DomainDefinition) -> DomainDefinition:
        if definition.domain_type not in ("kvm", "qemu"):
            raise VirtError(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU,
                            f"Emulator '{definition.domain_type}' does not support virt type "
                            f"'{definition.domain_type}'")
        return definition

    # -- processes ------------------------------------------------------------------

    def _paths(self, obj: DomainObject) -> tuple[str, str, str]:
        base = os.path.join(self.runtime_dir, safe_state_filename(obj.name, ""))
        log_file = os.path.join(self.log_dir, safe_state_filename(obj.name, ".log"))
        return base + ".monitor", base + ".pid", log_file

    def hv_start(self, obj: DomainObject, domain_id: int, paused: bool) -> None:
        definition = obj.live or obj.definition
        monitor, pidfile, log_file = self._paths(obj)
        for stale in (monitor, pidfile):
            if os.path.exists(stale):
                os.unlink(stale)
        leases = lease_requests(definition, self._lock_dirs)
        lock = self._lock_client() if leases else None
        cmd = command.build(definition, monitor, pidfile, paused)
        out = self._open_log(obj, log_file)
        gate_read, gate_write = os.pipe()
        try:
            os.write(out, f"{time.strftime('%Y-%m-%d %H:%M:%S%z')}: starting up\n"
                          f"{' '.join(cmd.argv)}\n".encode())
            # QEMU runs with the pid it is spawned with, but only once we open the gate:
            # virtlockd grants the disk leases to that pid before QEMU opens any image.
            # The gate is the shell's stdin; a gate closed unopened ends it before QEMU.
            proc = subprocess.Popen(
                ["/bin/sh", "-c", 'read -r _ && exec "$@" </dev/null', "virtd-qemu-gate",
                 *cmd.argv],
                stdin=gate_read, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True, pass_fds=[lock.fileno()] if lock is not None else [])
        finally:
            os.close(out)
            os.close(gate_read)
        try:
            if lock is not None:
                take_leases(lock, obj, domain_id, proc.pid, leases)
            os.write(gate_write, b"go\n")
            Qmp.connect(monitor, time.monotonic() + START_TIMEOUT).close()
        except VirtError as err:
            proc.kill()
            proc.wait()
            if isinstance(err, QmpError):
                raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU,
                                "process exited while connecting to monitor: "
                                + self._last_log_line(log_file)) from None
            raise
        finally:
            os.close(gate_write)
            if lock is not None:
                lock.close()
        obj.hv = {"pid": proc.pid, "start_time": process_start_time(proc.pid),
                  "monitor": monitor}
        self._place_in_scope(obj, domain_id, definition)
        self._watch(obj, proc.pid)
        log.info("domain %s: QEMU pid %d started", obj.name, proc.pid,
                 extra=fields(domain_name=obj.name, domain_uuid=str(obj.uuid)))

    def _open_log(self, obj: DomainObject, log_file: str) -> int:
        """Where QEMU's stdout/stderr go: a virtlogd pipe (bounded, rotated, survives
        restarts), or, when virtlogd cannot be reached, the file itself with a warning."""
        try:
            with LogClient(self._virtlogd_socket, timeout=10) as logd:
                fd, _position = logd.open_log_file("qemu", obj.uuid, obj.name, log_file)
                return fd
        except VirtError as err:
            log.warning("domain %s: virtlogd unavailable (%s); QEMU writes %s directly, "
                        "without size limit", obj.name, err.message, log_file,
                        extra=fields(domain_name=obj.name, domain_uuid=str(obj.uuid)))
            return os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o600)

    def _lock_client(self) -> LockClient:
        try:
            return LockClient(self._lock_socket, timeout=30)
        except VirtError as err:
            raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.LOCKING,
                            f"cannot take disk leases: virtlockd is not reachable at "
                            f"{self._lock_socket}: {err.message}") from None

    def _last_log_line(self, log_file: str) -> str:
        """QEMU's last words, once virtlogd has written out what its pipe holds."""
        try:
            with LogClient(self._virtlogd_socket, timeout=10) as logd:
                logd.get_log_file_position(log_file)
        except VirtError:
            pass
        return _tail(log_file)

    def _place_in_scope(self, obj: DomainObject, domain_id: int,
                        definition: DomainDefinition) -> None:
        if self._machined is None:
            return
        machine = machine_name("qemu", domain_id, obj.name)
        try:
            obj.hv["scope"] = self._machined.create(machine, obj.uuid, obj.hv["pid"],
                                                    definition.effective_partition)
            obj.hv["machine"] = machine
        except VirtError as err:
            self.hv_stop(obj, graceful=False)
            raise err

    def _watch(self, obj: DomainObject, pid: int) -> None:
        """Notice QEMU's exit at once, from the event loop, without a thread per VM."""
        pidfd = os.pidfd_open(pid)

        def exited() -> None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)
            threading.Thread(target=self._reap, args=(obj, pid), daemon=True,
                             name=f"reap-{pid}").start()

        self._loop.call_soon_threadsafe(self._loop.add_reader, pidfd, exited)

    def _reap(self, obj: DomainObject, pid: int) -> None:
        try:
            _, status = os.waitpid(pid, 0)
            clean = os.waitstatus_to_exitcode(status) == 0
        except ChildProcessError:
            # Adopted after a virtd restart: not our child, its exit status is unknown;
            # only an exit we asked for (ACPI power-down) counts as a clean one.
            clean = bool(obj.hv.get("powerdown"))
        with obj.job:
            if not obj.active or obj.hv.get("pid") != pid:
                return
            log.info("domain %s: QEMU pid %d exited", obj.name, pid,
                     extra=fields(domain_name=obj.name, domain_uuid=str(obj.uuid)))
            self._terminate_scope(obj)
            if clean:
                self._stopped(obj, ShutoffReason.SHUTDOWN, StoppedDetail.SHUTDOWN)
            else:
                self._stopped(obj, ShutoffReason.CRASHED, StoppedDetail.CRASHED)

    def _terminate_scope(self, obj: DomainObject) -> None:
        machine = obj.hv.get("machine")
        if machine and self._machined is not None:
            try:
                self._machined.terminate(machine)
            except VirtError as err:
                log.warning("%s", err.message)

    def hv_reattach(self, obj: DomainObject) -> bool:
        pid = obj.hv.get("pid")
        if not pid or process_start_time(pid) != obj.hv.get("start_time"):
            return False
        self._watch(obj, pid)
        return True

    def hv_stop(self, obj: DomainObject, graceful: bool) -> None:
        pid = obj.hv.get("pid")
        if not pid:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            timeout = GRACEFUL_STOP_TIMEOUT if graceful else STOP_TIMEOUT
            if not _wait_exit(pid, pidfd, timeout):
                if graceful:
                    raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU,
                                    f"Failed to terminate process {pid} with SIGTERM: "
                                    "Device or resource busy")
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                _wait_exit(pid, pidfd, STOP_TIMEOUT)
        finally:
            os.close(pidfd)
        self._terminate_scope(obj)

    def _qmp(self, obj: DomainObject, command_name: str) -> None:
        with Qmp(obj.hv["monitor"]) as qmp:
            qmp.execute(command_name)

    def hv_shutdown(self, obj: DomainObject) -> bool:
        """ACPI power button: the guest decides; QEMU's exit marks the domain shut off."""
        self._qmp(obj, "system_powerdown")
        obj.hv["powerdown"] = True
        return False

    def hv_reboot(self, obj: DomainObject) -> None:
        self._qmp(obj, "system_reset")

    def hv_pause(self, obj: DomainObject) -> None:
        self._qmp(obj, "stop")

    def hv_resume(self, obj: DomainObject) -> None:
        self._qmp(obj, "cont")

    def cpu_time_ns(self, obj: DomainObject) -> int:
        pid = obj.hv.get("pid")
        if not obj.active or not pid:
            return 0
        stat = process_stat(pid)
        if len(stat) < 13:
            return 0
        ticks = int(stat[11]) + int(stat[12])  # utime + stime (fields 14 and 15)
        return ticks * 1_000_000_000 // CLOCK_TICKS

    def security_model(self) -> tuple[str, str]:
        return "none", "0"


def lease_requests(definition: DomainDefinition, dirs: LockspaceDirs) -> list[LeaseRequest]:
    """The leases a VM needs: one per writable disk image (shareable disks share theirs)."""
    return [disk_lease(disk.path, dirs, shared=disk.shareable) for disk in definition.disks
            if disk.path and not disk.readonly and disk.device in ("disk", "lun")]


def take_leases(lock: LockClient, obj: DomainObject, domain_id: int, pid: int,
                leases: list[LeaseRequest]) -> None:
    """Register QEMU (`pid`) as the owner and acquire every lease, then restrict the
    connection: QEMU inherited it and keeps it open, so the leases live exactly as long
    as QEMU does and QEMU itself cannot issue lock calls."""
    lock.register(obj.uuid, obj.name, domain_id, pid)
    for lease in leases:
        lock.acquire_lease(lease)
    lock.restrict()


def _tail(path: str, size: int = 2048) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace").strip().splitlines()[-1]
    except (OSError, IndexError):
        return "(no output)"
