"""Server-side keepalive for one client (reference §2).

PINGs are answered always, but we only start sending PINGs after the client
asked for the keepalive feature: admin, lock and log clients treat an
unexpected PING as fatal.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

from common.rpc.protocol import (
    KEEPALIVE_PROC_PING,
    KEEPALIVE_PROC_PONG,
    KEEPALIVE_PROGRAM,
    KEEPALIVE_VERSION,
    Header,
    MessageStatus,
    MessageType,
    encode_packet,
)

PING_PACKET = encode_packet(
    Header(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PING, MessageType.MESSAGE, 0,
           MessageStatus.OK), b"")
PONG_PACKET = encode_packet(
    Header(KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, KEEPALIVE_PROC_PONG, MessageType.MESSAGE, 0,
           MessageStatus.OK), b"")


@dataclass(frozen=True, slots=True)
class KeepaliveSettings:
    interval: int
    count: int

    @property
    def enabled(self) -> bool:
        return self.interval > 0


def is_keepalive(header: Header) -> bool:
    return (header.prog == KEEPALIVE_PROGRAM and header.vers == KEEPALIVE_VERSION
            and header.type == MessageType.MESSAGE)


class Keepalive:
    """Pings a silent client and declares it dead after `count` unanswered pings."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Callable[[bytes], None],
                 on_dead: Callable[[], None]) -> None:
        self._loop = loop
        self._send = send
        self._on_dead = on_dead
        self._settings: KeepaliveSettings | None = None
        self._countdown = 0
        self._last_rx = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def settings(self) -> KeepaliveSettings | None:
        """The settings pinging runs with, or None if the client never asked for it."""
        return self._settings

    def received(self) -> None:
        """Any packet from the peer proves it is alive."""
        self._last_rx = time.monotonic()
        if self._settings is not None:
            self._countdown = self._settings.count

    def start(self, settings: KeepaliveSettings) -> bool:
        """Arm pinging; returns whether keepalive is enabled on this server."""
        if not settings.enabled:
            return False
        self._settings = settings
        self._countdown = settings.count
        self._arm(settings.interval)
        return True

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._settings = None

    def _arm(self, delay: float) -> None:
        self._timer = self._loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        settings = self._settings
        if settings is None:
            return
        idle = time.monotonic() - self._last_rx
        if idle < settings.interval:
            self._arm(settings.interval - idle)
            return
        if self._countdown <= 0:
            self._timer = None
            self._on_dead()
            return
        self._countdown -= 1
        self._send(PING_PACKET)
        self._last_rx = time.monotonic()
        self._arm(settings.interval)
