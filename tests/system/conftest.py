"""One booted systemd container for the whole system-test session (booting costs ~0.5 s, stopping ~0.1 s)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.harness import BootedSystem, BootError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def booted(request: pytest.FixtureRequest) -> Iterator[BootedSystem]:
    """The running guest. A machine that cannot boot it fails every system test loudly; nothing is skipped."""
    system = BootedSystem()
    try:
        system.start()
    except BootError as error:
        message = ("SYSTEM TESTS CANNOT RUN: this machine could not boot systemd in a systemd-nspawn "
                   f"container (needs root and systemd-container).\n{error}")
        _print_past_capture(request, message)
        raise pytest.fail.Exception(message, pytrace=False) from None
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="module")
def guest(booted: BootedSystem) -> BootedSystem:
    """The booted system with this checkout's units installed, as the package installs them."""
    booted.install_units(REPO / "units", {"DOCDIR": str(REPO)})
    return booted


def _print_past_capture(request: pytest.FixtureRequest, message: str) -> None:
    """Write to the real stderr at once, not into the captured output of the first test that hit it."""
    banner = f"\n{'!' * 30}\n{message}\n{'!' * 30}"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(banner, file=sys.stderr)
