"""Stable MESSAGE_IDs for the events an administrator looks up in the journal.

`journalctl MESSAGE_ID=<id>` finds every occurrence of an event across daemons
and versions, and `journalctl -x` shows its explanation from the shipped catalog
(units/virtd.catalog). An id, once released, never changes meaning.
"""

from __future__ import annotations

from enum import StrEnum


class MessageId(StrEnum):
    DAEMON_START = "961ff83a6492400f93ef437e44176edb"
    DAEMON_STOP = "bb5104900bc549b4995917a800ea8886"
    DAEMON_RELOAD = "b528086d541b42bfbbb47747528328ab"
    CLIENT_CONNECT = "e746c5bd41a7450b811728a3b36692b5"
    CLIENT_DISCONNECT = "860964748ced4c029169ec10c831ccc3"
    CLIENT_FORCED_CLOSE = "cf251f88c7924788b74931a8482d5c25"
    VM_DEFINED = "101c45cd0275415ea73b7935c11ca600"
    VM_UNDEFINED = "525293bd12ed42cf89a6f0919143df48"
    VM_STARTED = "290e46e13cb5415f81088983a8adf6dc"
    VM_STOPPED = "d6170856af654b8daedab1fc42351b8f"
    VM_SUSPENDED = "1859eda6a2dc4873831a3b694cad9284"
    VM_RESUMED = "0c29717e94204ee7bf3229be31e2ac9a"
    VM_CRASHED = "81143dc2b2184bf0bfc61d041249eea3"
    LEASE_ACQUIRED = "89f4fc55f76a497aaf141490c3d985d3"
    LEASE_RELEASED = "da8a63ddd1dd46f7b812e6dc4b5d2e16"
    LEASE_FORCED_RELEASE = "4608050ee9924f43a2bce238fa39fc1a"
    LOG_ROTATED = "94a92341889e415abfd5733170f95530"
    OWNER_KILLED = "68c9ab4f48b446629b29d897598441be"


ALWAYS_JOURNALED = frozenset({
    MessageId.DAEMON_START, MessageId.DAEMON_STOP, MessageId.DAEMON_RELOAD,
    MessageId.CLIENT_FORCED_CLOSE,
    MessageId.VM_DEFINED, MessageId.VM_UNDEFINED, MessageId.VM_STARTED, MessageId.VM_STOPPED,
    MessageId.VM_SUSPENDED, MessageId.VM_RESUMED, MessageId.VM_CRASHED,
    MessageId.LEASE_ACQUIRED, MessageId.LEASE_RELEASED, MessageId.LEASE_FORCED_RELEASE,
    MessageId.LOG_ROTATED, MessageId.OWNER_KILLED,
})
"""Key events the journal records even below the log level (client connects are not:
they come with every virsh call)."""
