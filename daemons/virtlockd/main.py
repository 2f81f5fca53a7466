"""virtlockd: disk leases held for VM processes, surviving daemon restarts."""

from __future__ import annotations

import sys

from common.admin.program import admin_program
from common.config.schema import Config
from common.daemon import Daemon, ServerSpec
from common.main import admin_server_spec, daemon_main, private_server_spec
from daemons.virtlockd.config import SCHEMA

NAME = "virtlockd"


def build(daemon: Daemon, cfg: Config) -> list[ServerSpec]:
    return [private_server_spec(NAME, cfg, ()),
            admin_server_spec(NAME, cfg, admin_program())]


def main() -> None:
    sys.exit(daemon_main(NAME, SCHEMA, build))
