"""Deleting old log chains (max_age_days), as later libvirt's log cleaner does.

Under log_root and its immediate subdirectories, NAME.log and its backups
NAME.log.N form a chain. A chain whose newest file was last written more than
max_age_days ago is deleted whole; backups numbered beyond max_backups (left
over from a larger setting; never open) are deleted anyway. Otherwise a chain
whose live file is open in this daemon is never touched. Symbolic links are neither followed nor
deleted.

The sweep runs once at start and then daily: a socket-activated daemon that
idles out often would otherwise never reach its first daily timer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("virtd.virtlogd.cleaner")

CHAIN_FILE = re.compile(r"^(?P<base>.+\.log)(?:\.(?P<index>\d+))?$")
SWEEP_INTERVAL = 24 * 3600.0
DAY = 24 * 3600


@dataclass
class Chain:
    files: list[str] = field(default_factory=list)
    newest_mtime: float = 0.0


def scan(root: str, max_backups: int) -> tuple[dict[str, Chain], list[str]]:
    """The chains under `root` (by live path) and the backups beyond `max_backups`."""
    chains: dict[str, Chain] = {}
    excess: list[str] = []
    for directory in [root, *_subdirectories(root)]:
        for entry in _entries(directory):
            match = CHAIN_FILE.match(entry.name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            index = match["index"]
            if index is not None and int(index) >= max_backups:
                excess.append(entry.path)
                continue
            chain = chains.setdefault(os.path.join(directory, match["base"]), Chain())
            chain.files.append(entry.path)
            mtime = entry.stat(follow_symlinks=False).st_mtime
            chain.newest_mtime = max(chain.newest_mtime, mtime)
    return chains, excess


def sweep(root: str, max_age_days: int, max_backups: int, open_paths: set[str],
          now: float | None = None) -> list[str]:
    """Delete what is due under `root`; returns the deleted paths."""
    chains, excess = scan(root, max_backups)
    cutoff = (time.time() if now is None else now) - max_age_days * DAY
    doomed = list(excess)
    for live, chain in chains.items():
        if live not in open_paths and chain.newest_mtime < cutoff:
            doomed.extend(chain.files)
    deleted = []
    for path in doomed:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("cannot delete old log %s: %s", path, err.strerror)
            continue
        deleted.append(path)
        log.info("deleted old log %s", path)
    return deleted


class LogCleaner:
    """Runs `sweep` at start and every day on the daemon's event loop."""

    def __init__(self, root: str, max_age_days: int, max_backups: int,
                 open_paths: Callable[[], set[str]]) -> None:
        self._root = root
        self._max_age_days = max_age_days
        self._max_backups = max_backups
        self._open_paths = open_paths

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._max_age_days > 0:
            loop.call_soon(self._run, loop)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        sweep(self._root, self._max_age_days, self._max_backups, self._open_paths())
        loop.call_later(SWEEP_INTERVAL, self._run, loop)


def _subdirectories(root: str) -> list[str]:
    return [entry.path for entry in _entries(root) if entry.is_dir(follow_symlinks=False)]


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except OSError as err:
        log.warning("cannot scan %s for old logs: %s", directory, err.strerror)
        return []
