"""Socket activation: the listening fds systemd passed us, by FileDescriptorName.

Unlike libvirt we do not insist on LISTEN_FDNAMES: without it fds are unnamed
and only a daemon that asks for exactly one socket may take them.
"""

from __future__ import annotations

import os
import socket

from common.errors import ErrorCode, ErrorDomain, VirtError

LISTEN_FDS_START = 3


class Activation:
    """The fds received from systemd, claimed one name at a time."""

    def __init__(self, fds_by_name: dict[str, list[int]]) -> None:
        self._unclaimed = fds_by_name

    @classmethod
    def from_environment(cls) -> "Activation | None":
        """Read and clear LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES; None if not activated."""
        pid = os.environ.pop("LISTEN_PID", None)
        count = os.environ.pop("LISTEN_FDS", None)
        names = os.environ.pop("LISTEN_FDNAMES", None)
        if pid is None or count is None or int(pid) != os.getpid():
            return None
        n = int(count)
        fds = list(range(LISTEN_FDS_START, LISTEN_FDS_START + n))
        for fd in fds:
            os.set_inheritable(fd, False)
        labels = names.split(":") if names else ["unknown"] * n
        if len(labels) != n:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.SYSTEMD,
                            f"LISTEN_FDNAMES has {len(labels)} names for {n} fds")
        by_name: dict[str, list[int]] = {}
        for label, fd in zip(labels, fds):
            by_name.setdefault(label, []).append(fd)
        return cls(by_name)

    def claim(self, *names: str) -> list[socket.socket]:
        """Take the sockets passed under any of `names` (empty if none: service disabled)."""
        taken: list[socket.socket] = []
        for name in names:
            for fd in self._unclaimed.pop(name, []):
                taken.append(socket.socket(fileno=fd))
        return taken

    def claim_stored(self, prefixes: tuple[str, ...]) -> dict[str, list[int]]:
        """The fds systemd kept for us in its fd store (named with one of our `prefixes`)."""
        stored = {name: fds for name, fds in self._unclaimed.items() if name.startswith(prefixes)}
        for name in stored:
            del self._unclaimed[name]
        return stored

    def complete(self) -> None:
        """Every fd systemd gave us must have a taker; leftovers mean a unit/daemon mismatch."""
        if self._unclaimed:
            left = ", ".join(sorted(self._unclaimed))
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.SYSTEMD,
                            f"Some activation file descriptors are unclaimed: {left}")
