"""virtd's config keys: libvirt's main-server keys with its code defaults.

Defaults marked unset depend on how the daemon runs and are resolved by it:
auth_unix_ro/auth_unix_rw are "polkit" for the system daemon and "none" for a
session one, and unix_sock_rw_perms is "0777" when auth_unix_rw is "polkit",
else "0700".
"""

from __future__ import annotations

from common.config.checks import (
    in_range,
    not_above,
    octal_mode,
    one_of,
    positive_or_off,
    subset_of,
)
from common.config.keys import (
    ADMIN_MAX_CLIENTS,
    CLIENT_LIMITS,
    LOGGING,
    SOCKETS,
    TIMEOUT,
    max_clients,
    unix_sock_dir,
)
from common.config.schema import STR_LIST, Key, Schema

_AUTH = "Authentication and access control"
_WORKERS = "Workers"
_KEEPALIVE = "Keepalive"

_SOCKET_KEYS = (
    unix_sock_dir("virtd", ("virtd-sock", "virtd-sock-ro", "virtd-admin-sock")),
    Key(
        "unix_sock_group",
        str,
        None,
        "Group owning the read-write and read-only sockets. When unset they "
        "belong to the daemon's own group (root for the system daemon). With "
        'a group set and unix_sock_rw_perms = "0770", its members can manage '
        "domains without polkit. Sockets handed over by systemd take owner and "
        "mode from their .socket units instead.",
        SOCKETS,
        example="virtd",
    ),
    Key(
        "unix_sock_ro_perms",
        str,
        "0777",
        "Mode of the read-only socket, in octal. Read-only clients can look at "
        "domains but not change them.",
        SOCKETS,
        octal_mode,
    ),
    Key(
        "unix_sock_rw_perms",
        str,
        None,
        "Mode of the read-write socket, in octal. When unset: \"0777\" if "
        'auth_unix_rw is "polkit" (polkit then decides who may connect), '
        '"0700" otherwise.',
        SOCKETS,
        octal_mode,
        example="0770",
    ),
    Key(
        "unix_sock_admin_perms",
        str,
        "0700",
        "Mode of the admin socket (virt-admin), in octal.",
        SOCKETS,
        octal_mode,
    ),
)

_AUTH_KEYS = (
    Key(
        "auth_unix_ro",
        str,
        None,
        'How clients of the read-only socket are authenticated: "none" lets '
        'anyone who can open the socket in, "polkit" asks polkit about the '
        "org.virtd.unix.monitor action. When unset: \"polkit\" for the system "
        'daemon, "none" for a session daemon.',
        _AUTH,
        one_of("none", "polkit"),
        example="polkit",
    ),
    Key(
        "auth_unix_rw",
        str,
        None,
        "How clients of the read-write socket are authenticated, like "
        "auth_unix_ro but with the org.virtd.unix.manage action. When unset: "
        '"polkit" for the system daemon, "none" for a session daemon.',
        _AUTH,
        one_of("none", "polkit"),
        example="polkit",
    ),
    Key(
        "access_drivers",
        STR_LIST,
        None,
        "Access control for each call once a client is connected. With "
        '"polkit" listed, every call asks polkit about an '
        "org.virtd.api.OBJECT.PERMISSION action for the object it touches, "
        "passing the domain's name and UUID. When unset, or with only "
        '"nop" listed, connected clients may make any call their socket allows.',
        _AUTH,
        subset_of("nop", "polkit"),
        example=["polkit"],
    ),
)

_LIMIT_KEYS = (
    max_clients(5000, "the read-write and read-only sockets"),
    Key(
        "max_queued_clients",
        int,
        1000,
        "Most connections waiting to be accepted (the listen backlog); 0 means 30.",
        CLIENT_LIMITS,
        in_range(0),
    ),
    Key(
        "max_anonymous_clients",
        int,
        20,
        "Most clients connected but not yet authenticated at once; 0 means no "
        "limit beyond max_clients.",
        CLIENT_LIMITS,
        in_range(0),
    ),
    Key(
        "max_client_requests",
        int,
        5,
        "Most calls one client may have in progress at once; the daemon reads "
        "no more from that client until one completes.",
        CLIENT_LIMITS,
        in_range(1),
    ),
    ADMIN_MAX_CLIENTS,
    Key(
        "admin_max_queued_clients",
        int,
        20,
        "Like max_queued_clients, for the admin socket.",
        CLIENT_LIMITS,
        in_range(0),
    ),
    Key(
        "admin_max_client_requests",
        int,
        5,
        "Like max_client_requests, for the admin socket.",
        CLIENT_LIMITS,
        in_range(1),
    ),
)

_WORKER_KEYS = (
    Key(
        "min_workers",
        int,
        5,
        "Worker threads started with the daemon and always kept, ready to run "
        "client calls.",
        _WORKERS,
        in_range(0),
    ),
    Key(
        "max_workers",
        int,
        20,
        "Most worker threads; when all are busy, further calls wait in a queue.",
        _WORKERS,
        in_range(1),
    ),
    Key(
        "prio_workers",
        int,
        5,
        "Extra workers that only run high-priority calls (such as destroying a "
        "domain), so those still run when every ordinary worker is stuck.",
        _WORKERS,
        in_range(0),
    ),
    Key(
        "admin_min_workers",
        int,
        5,
        "Like min_workers, for admin calls.",
        _WORKERS,
        in_range(0),
    ),
    Key(
        "admin_max_workers",
        int,
        20,
        "Like max_workers, for admin calls.",
        _WORKERS,
        in_range(1),
    ),
)

_KEEPALIVE_KEYS = (
    Key(
        "keepalive_interval",
        int,
        5,
        "Seconds a client (that asked for keepalive, as virsh does) may stay "
        "silent before the daemon pings it; -1 turns keepalive off.",
        _KEEPALIVE,
        positive_or_off,
    ),
    Key(
        "keepalive_count",
        int,
        5,
        "Unanswered pings after which the client is disconnected, so a dead "
        "client is dropped after about keepalive_interval*(keepalive_count+1) "
        "seconds of silence.",
        _KEEPALIVE,
        in_range(0),
    ),
    Key(
        "admin_keepalive_interval",
        int,
        5,
        "Like keepalive_interval, for the admin socket.",
        _KEEPALIVE,
        positive_or_off,
    ),
    Key(
        "admin_keepalive_count",
        int,
        5,
        "Like keepalive_count, for the admin socket.",
        _KEEPALIVE,
        in_range(0),
    ),
)

SCHEMA = Schema(
    "virtd",
    "settings of virtd, the virtualization host daemon.",
    (*_SOCKET_KEYS, *_AUTH_KEYS, *_LIMIT_KEYS, *_WORKER_KEYS, *_KEEPALIVE_KEYS, TIMEOUT, *LOGGING),
    rules=(not_above("min_workers", "max_workers"), not_above("admin_min_workers", "admin_max_workers")),
)
