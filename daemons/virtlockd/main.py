"""virtlockd: disk leases held for VM processes, surviving daemon restarts."""

from __future__ import annotations

import sys

from common.admin.program import admin_program
from common.config.schema import Config
from common.daemon import Daemon, Holder, ServerSpec
from common.main import admin_server_spec, daemon_main, private_server_spec
from daemons.virtlockd.admin import LeaseAdminApi, lease_procedures
from daemons.virtlockd.client import LockspaceDirs
from daemons.virtlockd.config import SCHEMA
from daemons.virtlockd.dbus import lease_interface
from daemons.virtlockd.leases import LeaseManager
from daemons.virtlockd.persistence import FDSTORE_PREFIX, LeaseState
from daemons.virtlockd.program import STATE_KEY, connection_restorer, lock_program

NAME = "virtlockd"


def build(daemon: Daemon, cfg: Config) -> list[ServerSpec]:
    manager = LeaseManager(daemon.loop)
    for directory in LockspaceDirs.from_config(cfg).configured():
        manager.create_lockspace(directory)
    state = LeaseState(manager, daemon)
    manager.listeners += [state.persist, daemon.activity_changed]
    daemon.state_providers.append(state)
    daemon.client_state_restorers[STATE_KEY] = connection_restorer(manager)
    daemon.fdstore_prefixes = (FDSTORE_PREFIX,)
    daemon.holders.append(Holder("leases", manager.held))
    daemon.stop_hooks.append(manager.stop)
    daemon.start_hooks.append(state.adopt_parked)
    lease_admin = LeaseAdminApi(manager)
    daemon.dbus_interfaces.append(lease_interface(lease_admin))
    return [private_server_spec(NAME, cfg, (lock_program(manager),)),
            admin_server_spec(NAME, cfg, admin_program(lease_procedures(lease_admin)),
                              max_anonymous_clients=cfg.admin_max_clients)]


def main() -> None:
    sys.exit(daemon_main(NAME, SCHEMA, build))
