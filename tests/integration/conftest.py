"""Fixtures that run our daemons for real, one fresh instance per test."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.integration.daemons import RunningDaemon, start_daemon
from tests.integration.lock_client import OwnerProcess

DAEMONS = ("virtd", "virtlockd", "virtlogd")


@pytest.fixture
def run_daemon(tmp_path: Path) -> Iterator[Callable[..., RunningDaemon]]:
    """Start daemons by name; each is stopped (and checked not to have crashed) at teardown."""
    started: list[RunningDaemon] = []

    def start(name: str, config: str = "", args: tuple[str, ...] = (), wait: bool = True
              ) -> RunningDaemon:
        daemon = start_daemon(name, tmp_path / f"{name}-{len(started)}", config, args, wait)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.stop(signal.SIGTERM)


@pytest.fixture(params=DAEMONS)
def any_daemon(request: pytest.FixtureRequest, run_daemon: Callable[..., RunningDaemon]
               ) -> RunningDaemon:
    return run_daemon(request.param)


def virt_admin(uri: str, *command: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run the real virt-admin (libvirt-clients) against `uri`."""
    return subprocess.run(["virt-admin", "-c", uri, *command], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def owner(lockd: RunningDaemon) -> Iterator[Callable[[str], OwnerProcess]]:
    """Start real lease-owner processes on the module's `lockd` daemon; all closed at teardown."""
    started: list[OwnerProcess] = []

    def start(name: str) -> OwnerProcess:
        started.append(OwnerProcess(lockd.socket(), name, len(started) + 1))
        return started[-1]

    yield start
    for proc in started:
        proc.close()
