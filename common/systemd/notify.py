"""sd_notify: readiness, status, reload/stop, watchdog and the fd store."""

from __future__ import annotations

import functools
import os
import time
from typing import Sequence

from systemd import daemon as sd_daemon


@functools.cache
def under_systemd() -> bool:
    """Whether systemd listens for our notifications (fixed for the process's life; asked
    on every status change, so read once)."""
    return "NOTIFY_SOCKET" in os.environ


def notify(*fields: str, fds: Sequence[int] = ()) -> None:
    """Send `KEY=VALUE` fields (and fds for FDSTORE=1); a no-op outside systemd."""
    if not under_systemd():
        return
    sd_daemon.notify("\n".join(fields), fds=list(fds))


def ready(status: str) -> None:
    notify("READY=1", f"STATUS={status}")


def status(text: str) -> None:
    notify(f"STATUS={text}")


def reloading() -> None:
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping() -> None:
    notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec=), or None if not asked."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


def watchdog_ping() -> None:
    notify("WATCHDOG=1")


def store_fds(name: str, fds: Sequence[int]) -> None:
    """Park fds in systemd's fd store under `name` (survives a crash of this process)."""
    notify("FDSTORE=1", f"FDNAME={name}", fds=fds)


def remove_stored_fds(name: str) -> None:
    notify("FDSTOREREMOVE=1", f"FDNAME={name}")
