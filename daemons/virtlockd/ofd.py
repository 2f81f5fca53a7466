"""The lease lock itself: an open-file-description (OFD) lock on byte 0, length 1.

Which bytes. QEMU's own image locking (block/file-posix.c) locks single bytes
at RAW_LOCK_PERM_BASE + i = 100 + i and RAW_LOCK_SHARED_BASE + i = 200 + i, one
per block permission bit i (PERM_FOREACH over BLK_PERM_ALL, so at most bytes
100-104 and 200-204), and its source notes that it starts high because libvirt
takes byte 0. libvirt's virtlockd locks byte 0, length 1 (`virFileLock(fd,
shared, 0, 1, false)`). We lock exactly that byte, so a disk image can carry
its lease (the default, "direct" lockspace locks the image file in place)
while QEMU locks its own bytes of the same file, and our leases exclude those
of a libvirt virtlockd (on this host, or on another one sharing the storage)
and the other way round.

Why OFD locks (F_OFD_SETLK) rather than libvirt's process-owned F_SETLK:
- an OFD lock belongs to the open file description, so it lives exactly as
  long as some duplicate of our fd: the copy parked in systemd's fd store keeps
  the lease through a crash of the daemon, and nothing can take it meanwhile;
- closing some other fd of the same file in this process does not drop it
  (a classic POSIX lock is dropped by closing *any* fd of the file);
- two OFDs conflict even within one process, so the kernel, not our
  bookkeeping alone, refuses a second exclusive lease on the same file.
OFD and classic POSIX locks on the same byte conflict with each other, so
libvirt's daemon and ours still see each other's leases.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

LEASE_START = 0
LEASE_LENGTH = 1

_FLOCK = struct.Struct("hhqqi4x")
"""struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks), padding."""

BUSY_ERRNOS = (errno.EAGAIN, errno.EACCES)


def _set(fd: int, kind: int) -> None:
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK,
                _FLOCK.pack(kind, os.SEEK_SET, LEASE_START, LEASE_LENGTH, 0))


def try_lock(fd: int, shared: bool) -> bool:
    """Take (or convert to) a shared or exclusive lease lock without waiting.

    False when another open file description holds a conflicting lock; any
    other failure raises OSError.
    """
    try:
        _set(fd, fcntl.F_RDLCK if shared else fcntl.F_WRLCK)
    except OSError as err:
        if err.errno in BUSY_ERRNOS:
            return False
        raise
    return True


def unlock(fd: int) -> None:
    """Drop the lock from the open file description, whoever else holds a duplicate of it."""
    _set(fd, fcntl.F_UNLCK)

