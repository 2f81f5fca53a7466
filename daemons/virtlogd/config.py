"""virtlogd's config keys: libvirt's virtlogd.conf keys plus journal mirroring."""

from __future__ import annotations

from common.config.checks import absolute_path, in_range
from common.config.keys import ADMIN_MAX_CLIENTS, LOGGING, TIMEOUT, max_clients, unix_sock_dir
from common.config.schema import Key, Schema

_LOG_FILES = "Domain log files"

_LOG_FILE_KEYS = (
    Key(
        "max_size",
        int,
        2097152,
        "Size in bytes at which a domain's log file is rotated. 0 turns "
        "rotation off, which lets a guest fill the disk with output.",
        _LOG_FILES,
        in_range(0),
    ),
    Key(
        "max_backups",
        int,
        3,
        "Rotated files kept besides the live one, named as libvirt names "
        "them: NAME.log.0 is the newest, NAME.log.<max_backups - 1> the "
        "oldest; at most 32. 0 keeps none: a full log is deleted and started "
        "afresh.",
        _LOG_FILES,
        in_range(0, 32),
    ),
    Key(
        "max_age_days",
        int,
        0,
        "Days after which a log file chain (NAME.log and its NAME.log.N "
        "backups) whose newest file has not been written is deleted; checked "
        "daily, 0 keeps logs forever. Any such chain under log_root and its "
        "immediate subdirectories counts, so point log_root at a directory that "
        "holds only domain logs. Files virtlogd has open are never deleted.",
        _LOG_FILES,
        in_range(0),
    ),
    Key(
        "log_root",
        str,
        None,
        "Directory that holds every domain log: a client may only open, read "
        "or append to files below it (after following symbolic links), and "
        "max_age_days cleaning scans it and its immediate subdirectories. "
        "virtd's QEMU driver writes <log_root>/qemu/NAME.log. When unset, "
        "the daemon's log directory: /var/log/virtd for the system daemon, "
        "$XDG_STATE_HOME/virtd/log for a session daemon.",
        _LOG_FILES,
        absolute_path,
        example="/srv/vmlogs",
    ),
    Key(
        "mirror_to_journal",
        bool,
        0,
        "1 also sends every line a domain writes to its log to the journal, "
        "tagged with the domain's name and UUID; 0 writes the log file only.",
        _LOG_FILES,
    ),
    Key(
        "journal_rate_limit",
        int,
        100,
        "With mirror_to_journal = 1, the most lines per second one domain may "
        "send to the journal; lines beyond it go to the log file only. 0 means "
        "no limit.",
        _LOG_FILES,
        in_range(0),
    ),
)

SCHEMA = Schema(
    "virtlogd",
    "settings of virtlogd, which writes the console and output logs of domains.",
    (
        unix_sock_dir("virtlogd", ("virtlogd-sock", "virtlogd-admin-sock")),
        max_clients(1024, "the log socket"),
        ADMIN_MAX_CLIENTS,
        *_LOG_FILE_KEYS,
        TIMEOUT,
        *LOGGING,
    ),
)
