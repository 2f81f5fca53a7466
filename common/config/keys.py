"""Config keys every daemon has, declared once with libvirt's names and defaults.

Each daemon's schema (daemons/*/config.py) picks these up and adds its own.
Keys whose default or doc differ per daemon are built by small functions.
"""

from __future__ import annotations

from common.config.checks import absolute_path, in_range
from common.config.schema import Key

SOCKETS = "Sockets"
CLIENT_LIMITS = "Client limits"
LIFETIME = "Daemon lifetime"
LOGGING_SECTION = "Logging"

LOG_LEVEL = Key(
    "log_level",
    int,
    3,
    "Least important messages the daemon logs: 1 debug, 2 information, "
    "3 warnings, 4 errors. log_filters can change it for chosen modules, and "
    "an output in log_outputs with a lower priority of its own (e.g. "
    "1:file:/var/log/virtd/debug.log) receives those lower records too.",
    LOGGING_SECTION,
    in_range(1, 4),
)

LOG_FILTERS = Key(
    "log_filters",
    str,
    None,
    "Per-module log levels, as space-separated LEVEL:MATCH items: messages "
    "from modules whose name contains MATCH are logged from LEVEL up, whatever "
    'log_level says. The example logs everything from modules named "qemu" '
    'and only errors from "rpc" ones.',
    LOGGING_SECTION,
    example="1:qemu 4:rpc",
)

LOG_OUTPUTS = Key(
    "log_outputs",
    str,
    None,
    "Where log messages go, as space-separated LEVEL:DESTINATION items, each "
    "receiving the messages from LEVEL up. DESTINATION is stderr, journald, "
    "file:/absolute/path or syslog:IDENTIFIER."
    "\n\n"
    "When unset, messages from log_level up go to the journal when the daemon "
    "runs as a service with a journal available, and to stderr otherwise.",
    LOGGING_SECTION,
    example="3:journald 1:file:/var/log/virtd/debug.log",
)

LOGGING = (LOG_LEVEL, LOG_FILTERS, LOG_OUTPUTS)

TIMEOUT = Key(
    "timeout",
    int,
    0,
    "Seconds an idle daemon waits before exiting; 0 means it never does. "
    "Only a daemon started by systemd socket activation exits this way (the "
    "next client starts it again), and it counts as idle while no client is "
    "connected and it holds nothing: no running domain, disk lease or open "
    "log pipe. The --timeout option overrides this setting.",
    LIFETIME,
    in_range(0),
)

ADMIN_MAX_CLIENTS = Key(
    "admin_max_clients",
    int,
    5000,
    "Most clients connected at once to the admin socket (virt-admin).",
    CLIENT_LIMITS,
    in_range(1),
)


def unix_sock_dir(daemon: str, sockets: tuple[str, ...]) -> Key:
    """Where `daemon` creates `sockets`; the default is decided at run time."""
    names = ", ".join(sockets[:-1]) + " and " + sockets[-1]
    return Key(
        "unix_sock_dir",
        str,
        None,
        f"Directory in which {daemon} creates its sockets ({names}). When unset: "
        f"/run/virtd for the system daemon, $XDG_RUNTIME_DIR/virtd for a session "
        f"daemon. Sockets that systemd hands over (socket activation) stay where "
        f"their .socket units put them.",
        SOCKETS,
        absolute_path,
        example="/run/virtd",
    )


def max_clients(default: int, served: str) -> Key:
    """The main server's client limit; `served` says which socket(s) it counts."""
    return Key(
        "max_clients",
        int,
        default,
        f"Most clients connected at once to {served}. At the limit the daemon "
        f"stops accepting connections until a client leaves.",
        CLIENT_LIMITS,
        in_range(1),
    )
