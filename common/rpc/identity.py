"""Who is on the other end of a UNIX socket, from the kernel's word (SO_PEERCRED)."""

from __future__ import annotations

import functools
import grp
import pwd
import socket
import struct
from dataclasses import dataclass

_UCRED = struct.Struct("iII")
# Names are cached: every connection needs them, and reading the user and group
# databases each time would cost more than the rest of the connection set-up.
SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    pid: int
    uid: int
    gid: int
    user_name: str
    group_name: str
    start_time: int
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22),
    which polkit uses with the pid to tell a process from a later one with the same pid."""


@functools.lru_cache(maxsize=256)
def _name_of_user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@functools.lru_cache(maxsize=256)
def _name_of_group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def process_stat(pid: int) -> list[bytes]:
    """The fields of /proc/<pid>/stat from field 3 (state) on; empty if the process is gone.

    The command name (field 2) may contain spaces and ')': we split after the last ')'.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return []
    return stat[stat.rfind(b")") + 2:].split()


def process_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat; 0 if the process is gone."""
    fields = process_stat(pid)
    return int(fields[19]) if len(fields) > 19 else 0


def peer_identity(sock: socket.socket) -> PeerIdentity:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerIdentity(pid, uid, gid, _name_of_user(uid), _name_of_group(gid),
                        process_start_time(pid))



def peer_pidfd(sock: socket.socket) -> int | None:
    """A pidfd for the process that connected `sock` (immune to pid reuse), or None on
    kernels without SO_PEERPIDFD."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD)
    except OSError:
        return None
