"""The command line every daemon shares: options, config, logging, sockets, run.

Each daemon supplies its config schema and a `build` function that turns the
loaded config into server specs (and installs its own hooks on the Daemon).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from common.config.schema import Config, Schema
from common.daemon import Daemon, DaemonError, ServerSpec, SocketSpec
from common.errors import VirtError
from common.log.fields import fields, log_error
from common.log.manager import LogConfig, LogManager, startup_config
from common.paths import Paths
from common.rpc.keepalive import KeepaliveSettings
from common.rpc.program import Program
from common.rpc.server import Limits

log = logging.getLogger("virtd.main")

Build = Callable[[Daemon, Config], list[ServerSpec]]


def parse_args(name: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=name, description=f"The {name} daemon (runs in the foreground).")
    parser.add_argument("-f", "--config", help="configuration file (default: the mode's config dir)")
    parser.add_argument("-t", "--timeout", type=int, default=None,
                        help="exit after this many idle seconds when socket-activated (0: never)")
    parser.add_argument("-p", "--pid-file", help="pid file, locked while the daemon runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log from level info up")
    parser.add_argument("--session", action="store_true",
                        help="use per-user (XDG) paths even when running as root")
    return parser.parse_args(argv)


def log_config(cfg: Config) -> LogConfig:
    return LogConfig(cfg.log_level, cfg.log_filters, cfg.log_outputs)


def admin_server_spec(daemon: str, cfg: Config, admin: Program, *,
                      max_anonymous_clients: int = 0) -> ServerSpec:
    """The `admin` server: one 0600 socket that only the daemon's own uid may use.

    libvirt gives virtlockd's and virtlogd's admin server an unauth limit equal to
    admin_max_clients (libvirtd's has none, 0); virt-admin shows it and
    server-clients-set checks against it.
    """
    return ServerSpec(
        "admin",
        Limits(max_clients=cfg.admin_max_clients, max_anonymous_clients=max_anonymous_clients,
               max_queued_clients=getattr(cfg, "admin_max_queued_clients", 20)),
        min_workers=getattr(cfg, "admin_min_workers", 0),
        max_workers=getattr(cfg, "admin_max_workers", 0),
        prio_workers=0,
        keepalive=KeepaliveSettings(getattr(cfg, "admin_keepalive_interval", -1),
                                    getattr(cfg, "admin_keepalive_count", 0)),
        sockets=[SocketSpec("admin", f"{daemon}-admin-sock",
                            (f"{daemon}-admin-sock", f"{daemon}-admin.socket"), 0o600,
                            (admin,), own_uid_only=True,
                            max_client_requests=getattr(cfg, "admin_max_client_requests", 1))],
    )


def daemon_main(name: str, schema: Schema, build: Build, argv: Sequence[str] | None = None) -> int:
    args = parse_args(name, argv)
    paths = Paths.for_mode(os.geteuid() == 0 and not args.session)
    logs = LogManager(name)
    logs.install()
    try:
        config_path = args.config or paths.config_file(name)
        cfg = schema.load(config_path, required=args.config is not None)
        logs.apply(startup_config(log_config(cfg), os.environ, verbose=args.verbose))
        timeout = args.timeout if args.timeout is not None else cfg.timeout
        daemon = Daemon(name, paths, logs, idle_timeout=timeout)
        daemon.lock_pidfile(args.pid_file or os.path.join(paths.runtime_dir, f"{name}.pid"))
        specs = build(daemon, cfg)
        if not daemon.open_sockets(specs, cfg.unix_sock_dir or paths.runtime_dir):
            daemon.admin.apply_persisted()
        daemon.reload_hooks.append(lambda: _reload_logging(daemon, schema, config_path, args))
        daemon.run()
        return 0
    except VirtError as err:
        log_error(log, err)
        print(f"{name}: error: {err.message}", file=sys.stderr)
        return 1
    except DaemonError as err:
        log.error("%s", err)
        print(f"{name}: error: {err}", file=sys.stderr)
        return 1
    finally:
        logs.close()


def _reload_logging(daemon: Daemon, schema: Schema, path: str, args: argparse.Namespace) -> None:
    """SIGHUP: re-read the config file and apply its log settings at once."""
    cfg = schema.load(path, required=args.config is not None)
    daemon.logs.apply(startup_config(log_config(cfg), os.environ, verbose=args.verbose))
    log.info("log settings reloaded from %s", path, extra=fields(config_file=path))


def private_server_spec(daemon: str, cfg: Config, programs: tuple[Program, ...]) -> ServerSpec:
    """virtlockd's and virtlogd's main server: no worker pool, no keepalive, one call at a
    time per client, and only the daemon's own uid may connect (reference §1.12, §4.6)."""
    return ServerSpec(
        daemon,
        Limits(max_clients=cfg.max_clients, max_anonymous_clients=cfg.max_clients,
               max_queued_clients=30),
        min_workers=0, max_workers=0, prio_workers=0,
        keepalive=KeepaliveSettings(-1, 0),
        sockets=[SocketSpec(daemon, f"{daemon}-sock", (f"{daemon}-sock", f"{daemon}.socket"),
                            0o600, programs, own_uid_only=True, max_client_requests=1)],
    )
