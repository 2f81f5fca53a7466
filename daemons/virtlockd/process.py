"""Lease owners as processes: watched and signalled through pidfds, never by bare pid.

A pidfd names one process for good: it becomes readable when that process
exits, and signals sent through it can never hit a later process that reuses
the pid. A recorded start time (from /proc) does the same job across a daemon
restart, where only the pid and start time were written down.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal

from common.rpc.identity import process_start_time

TERMINATE_POLL = 0.2
TERMINATE_KILL_STEP = 8
TERMINATE_STEPS = 15
"""libvirt's schedule for an owner that lost its lock connection while holding leases:
SIGTERM, a check every 200 ms, SIGKILL at the 9th check, give up after the 15th."""


class Process:
    """One running process, held by a pidfd."""

    def __init__(self, pid: int, fd: int, start_time: int) -> None:
        self.pid = pid
        self.fd = fd
        self.start_time = start_time

    @classmethod
    def open(cls, pid: int, start_time: int = 0) -> "Process | None":
        """The live process `pid`; None if there is none, it has already exited, or
        (when `start_time` is given) the pid now belongs to a later process."""
        if pid <= 0:
            return None
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        process = cls(pid, fd, process_start_time(pid))
        if process.exited() or (start_time and process.start_time != start_time):
            process.close()
            return None
        return process

    def exited(self) -> bool:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(0))

    def send(self, signum: int) -> bool:
        """Signal the process; False if it is already gone."""
        try:
            signal.pidfd_send_signal(self.fd, signum)
        except ProcessLookupError:
            return False
        return True

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the process to exit; True if it has."""
        if self.exited():
            return True
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        loop.add_reader(self.fd, lambda: gone.done() or gone.set_result(None))
        try:
            await asyncio.wait_for(gone, timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            loop.remove_reader(self.fd)
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


async def terminate(process: Process) -> str | None:
    """Make `process` exit on libvirt's schedule; returns the signal that ended it
    ("SIGTERM" or "SIGKILL"), or None if it outlived every step. Closes `process`."""
    sent: str | None = None
    try:
        for step in range(TERMINATE_STEPS):
            signum = (signal.SIGTERM if step == 0
                      else signal.SIGKILL if step == TERMINATE_KILL_STEP else None)
            if signum is not None:
                if not process.send(signum):
                    return sent
                sent = signum.name
            if await process.wait(TERMINATE_POLL):
                return sent
        return None
    finally:
        process.close()
