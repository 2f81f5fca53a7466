"""A resizable worker thread pool with priority workers, as libvirt's servers have.

Normal workers take any job in FIFO order; priority workers take only jobs
flagged high priority, so a stuck normal job never blocks e.g. a destroy.
The numbers reported (nWorkers, freeWorkers, prioWorkers, jobQueueDepth) are
the pool's real state at that moment.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from common.errors import ErrorCode, ErrorDomain, VirtError

log = logging.getLogger("virtd.rpc.workers")

EAGER_WORKERS_MAX = 4096
"""Most minimum or priority workers: those threads start at once, so a typo must not try
to start billions of them (maxWorkers is only a ceiling and needs no bound)."""


@dataclass(slots=True)
class _Job:
    run: Callable[[], None]
    priority: bool


@dataclass(frozen=True, slots=True)
class PoolStats:
    min_workers: int
    max_workers: int
    n_workers: int
    free_workers: int
    prio_workers: int
    job_queue_depth: int


class WorkerPool:
    """Threads that run blocking jobs for one server."""

    def __init__(self, name: str, min_workers: int, max_workers: int, prio_workers: int) -> None:
        if min_workers > max_workers:
            raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                            "minWorkers cannot be larger than maxWorkers")
        self.name = name
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._min = min_workers
        self._max = max_workers
        self._prio_target = prio_workers
        self._n_workers = 0
        self._free = 0
        self._n_prio = 0
        self._serial = 0
        self._stopping = False
        with self._cond:
            self._spawn(self._min, priority=False)
            self._spawn(self._prio_target, priority=True)

    @property
    def synchronous(self) -> bool:
        """A pool with max 0 workers: jobs run in the caller (virtlockd/virtlogd)."""
        return self._max == 0

    def submit(self, run: Callable[[], None], priority: bool = False) -> None:
        if self.synchronous:
            run()
            return
        with self._cond:
            self._jobs.append(_Job(run, priority))
            if self._free == 0 and self._n_workers < self._max:
                self._spawn(1, priority=False)
            self._cond.notify_all()

    def stats(self) -> PoolStats:
        with self._cond:
            return PoolStats(self._min, self._max, self._n_workers, self._free, self._n_prio,
                             len(self._jobs))

    def set_limits(self, min_workers: int | None, max_workers: int | None,
                   prio_workers: int | None) -> None:
        """Change limits live; omitted values keep theirs (libvirt's semantics)."""
        with self._cond:
            new_min = self._min if min_workers is None else min_workers
            new_max = self._max if max_workers is None else max_workers
            new_prio = self._prio_target if prio_workers is None else prio_workers
            if new_min > new_max:
                raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                "minWorkers cannot be larger than maxWorkers")
            for label, value in (("minWorkers", new_min), ("prioWorkers", new_prio)):
                if value > EAGER_WORKERS_MAX:
                    raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                    f"{label} must not exceed {EAGER_WORKERS_MAX}")
            if (new_max == 0) != (self._max == 0):
                raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                "maxWorkers must not be switched from zero to non-zero and vice versa")
            self._min, self._max, self._prio_target = new_min, new_max, new_prio
            if self._n_workers < self._min:
                self._spawn(self._min - self._n_workers, priority=False)
            waiting = len(self._jobs) - self._free
            if waiting > 0 and self._n_workers < self._max:
                self._spawn(min(waiting, self._max - self._n_workers), priority=False)
            if self._n_prio < self._prio_target:
                self._spawn(self._prio_target - self._n_prio, priority=True)
            self._cond.notify_all()

    def stop(self) -> None:
        """Let workers finish their current job and exit; queued jobs are dropped."""
        with self._cond:
            self._stopping = True
            self._jobs.clear()
            self._cond.notify_all()

    def _spawn(self, count: int, priority: bool) -> None:
        for _ in range(count):
            self._serial += 1
            kind = "prio" if priority else "worker"
            thread = threading.Thread(target=self._work, args=(priority,),
                                      name=f"{self.name}-{kind}-{self._serial}", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                raise VirtError(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                                "Failed to create thread: Resource temporarily unavailable"
                                ) from None
            if priority:
                self._n_prio += 1
            else:
                self._n_workers += 1

    def _surplus(self, priority: bool) -> bool:
        if self._stopping:
            return True
        if priority:
            return self._n_prio > self._prio_target
        return self._n_workers > self._max

    def _take(self, priority: bool) -> _Job | None:
        if not priority:
            return self._jobs.popleft() if self._jobs else None
        for index, job in enumerate(self._jobs):
            if job.priority:
                del self._jobs[index]
                return job
        return None

    def _work(self, priority: bool) -> None:
        while True:
            with self._cond:
                job = None
                while not self._surplus(priority):
                    job = self._take(priority)
                    if job is not None:
                        break
                    idle = 0 if priority else 1
                    self._free += idle
                    self._cond.wait()
                    self._free -= idle
                if job is None:
                    if priority:
                        self._n_prio -= 1
                    else:
                        self._n_workers -= 1
                    return
            try:
                job.run()
            except Exception:
                log.exception("worker job failed in pool %s", self.name)
