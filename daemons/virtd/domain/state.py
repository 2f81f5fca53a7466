"""libvirt's domain state, reason and lifecycle-event numbers (reference §6.7)."""

from __future__ import annotations

from enum import IntEnum


class DomainState(IntEnum):
    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7


class RunningReason(IntEnum):
    UNKNOWN = 0
    BOOTED = 1
    MIGRATED = 2
    RESTORED = 3
    FROM_SNAPSHOT = 4
    UNPAUSED = 5


class ShutoffReason(IntEnum):
    UNKNOWN = 0
    SHUTDOWN = 1
    DESTROYED = 2
    CRASHED = 3
    MIGRATED = 4
    SAVED = 5
    FAILED = 6
    FROM_SNAPSHOT = 7
    DAEMON = 8


class PausedReason(IntEnum):
    UNKNOWN = 0
    USER = 1


class Event(IntEnum):
    """virDomainEventType: the `event` of a lifecycle event."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    SUSPENDED = 3
    RESUMED = 4
    STOPPED = 5
    SHUTDOWN = 6
    PMSUSPENDED = 7
    CRASHED = 8


class DefinedDetail(IntEnum):
    ADDED = 0
    UPDATED = 1


class UndefinedDetail(IntEnum):
    REMOVED = 0


class StartedDetail(IntEnum):
    BOOTED = 0


class SuspendedDetail(IntEnum):
    PAUSED = 0


class ResumedDetail(IntEnum):
    UNPAUSED = 0


class StoppedDetail(IntEnum):
    SHUTDOWN = 0
    DESTROYED = 1
    CRASHED = 2
    FAILED = 5



EVENT_ID_LIFECYCLE = 0
