"""virtd: the VM-state daemon (domain definitions, lifecycle, QEMU processes)."""

from __future__ import annotations

import os
import sys

from common.admin.program import admin_program
from common.config.schema import Config
from common.daemon import Daemon, Holder, ServerSpec, SocketSpec
from common.main import admin_server_spec, daemon_main
from common.rpc.keepalive import KeepaliveSettings
from common.rpc.program import Program
from common.rpc.server import AuthType, Limits
from daemons.virtd.access import PolkitAccess
from daemons.virtd.config import SCHEMA
from daemons.virtd.drivers.base import Driver
from daemons.virtd.drivers.qemu import QemuDriver, qemu_available
from daemons.virtd.drivers.test import TestDriver
from daemons.virtd.qemu.machined import Machined
from daemons.virtlockd.client import LockspaceDirs
from daemons.virtlockd.config import SCHEMA as LOCKD_SCHEMA
from daemons.virtlogd.client import default_socket as virtlogd_socket
from daemons.virtd.remote.connection import DriverTable
from daemons.virtd.remote.program import (
    STATE_KEY,
    connection_driver,
    connection_restorer,
    remote_program,
)

NAME = "virtd"


def socket_modes(cfg: Config, privileged: bool) -> tuple[int, int]:
    """Modes of the read-write and read-only sockets: libvirt's defaults unless configured.

    The read-write socket is world-connectable only when polkit decides who may use it.
    """
    polkit = auth_types(cfg, privileged)[0] == AuthType.POLKIT
    rw = cfg.unix_sock_rw_perms or ("0777" if polkit else "0700")
    return int(rw, 8), int(cfg.unix_sock_ro_perms, 8)


def auth_types(cfg: Config, privileged: bool) -> tuple[AuthType, AuthType]:
    """Authentication of the read-write and read-only sockets: polkit by default for the
    system daemon, none for a session daemon (libvirt's defaults)."""
    default = "polkit" if privileged else "none"
    kinds = {"none": AuthType.NONE, "polkit": AuthType.POLKIT}
    return kinds[cfg.auth_unix_rw or default], kinds[cfg.auth_unix_ro or default]


def main_server_spec(cfg: Config, programs: tuple[Program, ...], privileged: bool) -> ServerSpec:
    """The `virtd` server: the read-write and the read-only socket."""
    rw_mode, ro_mode = socket_modes(cfg, privileged)
    rw_auth, ro_auth = auth_types(cfg, privileged)
    return ServerSpec(
        NAME,
        Limits(max_clients=cfg.max_clients, max_anonymous_clients=cfg.max_anonymous_clients,
               max_queued_clients=cfg.max_queued_clients),
        min_workers=cfg.min_workers, max_workers=cfg.max_workers, prio_workers=cfg.prio_workers,
        keepalive=KeepaliveSettings(cfg.keepalive_interval, cfg.keepalive_count),
        sockets=[
            SocketSpec(NAME, "virtd-sock", ("virtd-sock", "virtd.socket"),
                       rw_mode, programs, auth=rw_auth,
                       max_client_requests=cfg.max_client_requests),
            SocketSpec(NAME, "virtd-sock-ro", ("virtd-sock-ro", "virtd-ro.socket"),
                       ro_mode, programs, readonly=True, auth=ro_auth,
                       max_client_requests=cfg.max_client_requests),
        ],
    )


def load_drivers(daemon: Daemon) -> DriverTable:
    """The hypervisor drivers this virtd runs, with their saved domains adopted."""
    paths = daemon.paths
    test = TestDriver(paths.state_dir, paths.runtime_dir)
    table: dict[str, Driver] = {test.uri: test}
    order = [test.uri]
    if qemu_available():
        mode = "system" if paths.privileged else "session"
        machined = Machined(daemon.loop, lambda: daemon.dbus.bus if daemon.dbus else None)
        qemu = QemuDriver(f"qemu:///{mode}", paths.state_dir, paths.runtime_dir, paths.log_dir,
                          daemon.loop, machined if paths.privileged else None,
                          virtlogd_socket(paths), os.path.join(paths.runtime_dir, "virtlockd-sock"),
                          LockspaceDirs.from_config(
                              LOCKD_SCHEMA.load(paths.config_file("virtlockd"), required=False)))
        table[qemu.uri] = qemu
        order.insert(0, qemu.uri)
    drivers = DriverTable(table, default_order=tuple(order))
    for driver in drivers.all():
        driver.autostart_all()
    return drivers


def build(daemon: Daemon, cfg: Config) -> list[ServerSpec]:
    drivers = load_drivers(daemon)
    daemon.client_state_restorers[STATE_KEY] = connection_restorer(drivers)
    daemon.holders.append(Holder("VMs", lambda: sum(
        d.domains.active_count() for d in drivers.all() if d.runs_processes)))
    specs = [main_server_spec(cfg, (remote_program(drivers),), daemon.paths.privileged),
             admin_server_spec(NAME, cfg, admin_program())]
    if "polkit" in (cfg.access_drivers or ()):
        daemon.access = PolkitAccess(
            lambda: daemon.dbus.authority if daemon.dbus is not None else None, drivers,
            connection_driver)
    return specs


def main() -> None:
    sys.exit(daemon_main(NAME, SCHEMA, build))
