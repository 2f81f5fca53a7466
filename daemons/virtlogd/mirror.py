"""Mirroring a domain's output to the journal, line by line and rate-limited.

With mirror_to_journal = 1, `journalctl VIRTD_DOMAIN_NAME=demo` shows the
guest's console next to the host's own records. A guest printing in a loop
must not flood the journal: past `journal_rate_limit` lines in a second the
rest of that second goes to the log file only, and one record says how many
lines were left out.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from systemd import journal

from daemons.virtlogd.records import DomainLabel

MAX_LINE = 8192
"""A longer run of bytes without a newline is sent as a line of its own."""

_PRIORITY_INFO = "6"
_PRIORITY_WARNING = "4"

JournalSender = Callable[..., Any]


class JournalMirror:
    """Splits one domain's output into lines and sends them to the journal."""

    def __init__(self, domain: DomainLabel, rate_limit: int,
                 send: JournalSender = journal.send,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._domain = domain
        self._rate_limit = rate_limit
        self._send = send
        self._clock = clock
        self.partial = b""
        """The start of a line whose newline has not arrived yet (kept across a re-exec)."""
        self._window_start = 0.0
        self._sent_in_window = 0
        self._suppressed = 0

    def feed(self, data: bytes | memoryview) -> None:
        lines = (self.partial + bytes(data)).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) >= MAX_LINE:
            lines.append(self.partial)
            self.partial = b""
        if lines:
            self._emit(lines)

    def flush(self) -> None:
        """The pipe ended: send the last line even without its newline."""
        if self.partial:
            self._emit([self.partial])
            self.partial = b""

    def _emit(self, lines: list[bytes]) -> None:
        allowed = self._admit(len(lines))
        for line in lines[:allowed]:
            self._record(line.rstrip(b"\r").decode("utf-8", "replace"), _PRIORITY_INFO)
        self._suppressed += len(lines) - allowed

    def _admit(self, wanted: int) -> int:
        """How many of `wanted` lines fit in the current one-second window."""
        if self._rate_limit == 0:
            return wanted
        now = self._clock()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._sent_in_window = 0
            if self._suppressed:
                self._record(f"{self._suppressed} lines of output not sent to the journal "
                             f"(more than {self._rate_limit} lines per second)",
                             _PRIORITY_WARNING)
                self._suppressed = 0
        allowed = min(wanted, self._rate_limit - self._sent_in_window)
        self._sent_in_window += allowed
        return allowed

    def _record(self, message: str, priority: str) -> None:
        domain = self._domain
        self._send(MESSAGE=message, PRIORITY=priority,
                   SYSLOG_IDENTIFIER=f"{domain.driver}-{domain.name}",
                   VIRTD_DOMAIN_NAME=domain.name, VIRTD_DOMAIN_UUID=str(domain.uuid),
                   VIRTD_DRIVER=domain.driver)
