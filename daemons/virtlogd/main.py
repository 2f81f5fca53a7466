"""virtlogd: VM console and stdout logs through pipes into bounded, rotated files."""

from __future__ import annotations

import os
import sys

from common.admin.program import admin_program
from common.config.schema import Config
from common.daemon import Daemon, Holder, ServerSpec
from common.main import admin_server_spec, daemon_main, private_server_spec
from daemons.virtlogd.cleaner import LogCleaner
from daemons.virtlogd.config import SCHEMA
from daemons.virtlogd.handler import PARK_PREFIX, LogHandler, LogSettings
from daemons.virtlogd.program import log_program
from daemons.virtlogd.roots import LogRoot

NAME = "virtlogd"


def build(daemon: Daemon, cfg: Config) -> list[ServerSpec]:
    root = LogRoot(cfg.log_root or daemon.paths.log_dir)
    os.makedirs(daemon.paths.runtime_dir, mode=0o755, exist_ok=True)
    handler = LogHandler(daemon.loop, LogSettings.from_config(cfg), root,
                         os.path.join(daemon.paths.runtime_dir, f"{NAME}-pipes.json"),
                         daemon.activity_changed)
    daemon.holders.append(Holder("pipes", handler.count))
    daemon.state_providers.append(handler)
    daemon.fdstore_prefixes = (PARK_PREFIX,)
    daemon.start_hooks.append(lambda: handler.adopt(daemon.fdstore))
    LogCleaner(root.directory, cfg.max_age_days, cfg.max_backups,
               handler.open_paths).start(daemon.loop)
    return [private_server_spec(NAME, cfg, (log_program(handler),)),
            admin_server_spec(NAME, cfg, admin_program(),
                              max_anonymous_clients=cfg.admin_max_clients)]


def main() -> None:
    sys.exit(daemon_main(NAME, SCHEMA, build))
