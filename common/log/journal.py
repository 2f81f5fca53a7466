"""The journald output: one structured journal entry per record.

The fields are what `journalctl -o json` users filter on (VIRTD_SOURCE,
VIRTD_DOMAIN_NAME, MESSAGE_ID, ...). The sender is a parameter because it is
the boundary to journald: systemd-python's `journal.send` in a daemon, any
callable taking the same keyword fields elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from systemd import journal

from common.errors import VirtError
from common.log.priority import Priority
from common.log.text import message_text, source_module

JournalSender = Callable[..., Any]

# syslog's "daemon" facility, which every record carries.
_FACILITY_DAEMON = "3"


class JournaldSink:
    def __init__(self, identifier: str, sender: JournalSender = journal.send) -> None:
        self._identifier = identifier
        self._send = sender

    def emit(self, record: logging.LogRecord) -> None:
        self._send(**journal_fields(record, self._identifier))

    def close(self) -> None:
        pass


def journal_fields(record: logging.LogRecord, identifier: str) -> dict[str, Any]:
    """The entry for one record; all values are text but CODE_LINE, an int as `journal.send` wants.

    Fields passed through `extra=` (see `common.log.fields`) come last and win,
    so a caller can always state a field precisely.
    """
    entry: dict[str, Any] = {
        "MESSAGE": message_text(record),
        "PRIORITY": str(Priority.of_record_level(record.levelno).syslog),
        "SYSLOG_IDENTIFIER": identifier,
        "SYSLOG_FACILITY": _FACILITY_DAEMON,
        "CODE_FILE": record.pathname,
        "CODE_LINE": record.lineno,
        "CODE_FUNC": record.funcName,
        "VIRTD_SOURCE": source_module(record.name),
    }
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, VirtError):
        entry["VIRTD_ERROR_CODE"] = str(error.code)
        entry["VIRTD_ERROR_DOMAIN"] = str(error.domain)
    for key, value in vars(record).items():
        if key.startswith("VIRTD_") or key == "MESSAGE_ID":
            entry[key] = str(value)
    return entry
