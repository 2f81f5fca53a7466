"""What a record says: its source module, its message text, and libvirt's text line.

Shared by every output so stderr, files, syslog and journald agree on the
module name and on when a traceback is shown.
"""

from __future__ import annotations

import logging
import time
import traceback

from common.errors import VirtError
from common.log.priority import Priority

LOGGER_PREFIX = "virtd."


def source_module(logger_name: str) -> str:
    """The module name filters match and records carry: "virtd.rpc.server" -> "rpc.server"."""
    return logger_name.removeprefix(LOGGER_PREFIX)


def message_text(record: logging.LogRecord) -> str:
    """The message, followed by the traceback of an unexpected exception.

    A VirtError is an expected outcome with a code and a message for the user,
    not a bug, so it never drags a traceback into the log.
    """
    text = record.getMessage()
    if record.exc_info and not isinstance(record.exc_info[1], VirtError):
        text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


def text_line(record: logging.LogRecord) -> str:
    """`2024-01-01 10:00:00.000+0000: 1234: info : rpc.server : message`, newline-terminated."""
    seconds = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
    millis = int(record.msecs)
    priority = Priority.of_record_level(record.levelno)
    return (
        f"{seconds}.{millis:03d}+0000: {record.process}: {priority.label} : "
        f"{source_module(record.name)} : {message_text(record)}\n"
    )
