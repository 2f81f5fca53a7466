"""The journald output: the exact entry each record becomes.

journald does not run on this machine, so the entry is taken at the boundary:
the sender is the function that would hand it to journald (systemd-python's
`journal.send` by default). The booted-systemd system tests read the same
fields back with `journalctl -o json`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log import LogManager, MessageId, fields, log_error

lockspace_log = logging.getLogger("virtd.virtlockd.lockspace")


class Journal:
    """Collects the entries a LogManager sends, in order."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def send(self, **entry: Any) -> None:
        self.entries.append(entry)


@pytest.fixture
def journal(tmp_path):
    sink = Journal()
    manager = LogManager("virtlockd", journal_sender=sink.send, journal_socket=str(tmp_path / "x"))
    manager.install()
    manager.set_level(1)
    manager.set_outputs("1:journald")
    yield sink
    manager.close()


def caller_line() -> int:
    """The line of the statement just before the call."""
    return sys._getframe(1).f_lineno - 1


def test_every_record_carries_the_core_fields(journal):
    lockspace_log.info("lockspace %s opened", "/var/lib/virtd/lockd")
    line = caller_line()
    assert journal.entries == [
        {
            "MESSAGE": "lockspace /var/lib/virtd/lockd opened",
            "PRIORITY": "6",
            "SYSLOG_IDENTIFIER": "virtlockd",
            "SYSLOG_FACILITY": "3",
            "CODE_FILE": __file__,
            "CODE_LINE": line,
            "CODE_FUNC": "test_every_record_carries_the_core_fields",
            "VIRTD_SOURCE": "virtlockd.lockspace",
        }
    ]


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        (logging.DEBUG, "7"),
        (logging.INFO, "6"),
        (logging.WARNING, "4"),
        (logging.ERROR, "3"),
        (logging.CRITICAL, "3"),
    ],
)
def test_priority_uses_syslog_numbers(journal, level, priority):
    lockspace_log.log(level, "x")
    assert journal.entries[0]["PRIORITY"] == priority


def test_context_fields_and_message_id(journal):
    lockspace_log.info(
        "lease acquired",
        extra=fields(
            domain_name="web1",
            domain_uuid="4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
            client_id=12,
            lease="/var/lib/virtd/lockd/c4ca4238",
            message_id=MessageId.LEASE_ACQUIRED,
        ),
    )
    entry = journal.entries[0]
    assert {
        key: entry[key] for key in entry if key.startswith("VIRTD_") or key == "MESSAGE_ID"
    } == {
        "VIRTD_SOURCE": "virtlockd.lockspace",
        "VIRTD_DOMAIN_NAME": "web1",
        "VIRTD_DOMAIN_UUID": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
        "VIRTD_CLIENT_ID": "12",
        "VIRTD_LEASE": "/var/lib/virtd/lockd/c4ca4238",
        "MESSAGE_ID": "89f4fc55f76a497aaf141490c3d985d3",
    }


def test_fields_helper_names_and_omits_unknown_values():
    assert fields(client_id=3, domain_uuid=None, message_id=MessageId.CLIENT_CONNECT) == {
        "VIRTD_CLIENT_ID": 3,
        "MESSAGE_ID": MessageId.CLIENT_CONNECT,
    }
    assert fields() == {}


def test_raw_virtd_extras_are_passed_through_and_others_are_not(journal):
    lockspace_log.info("x", extra={"VIRTD_OWNER_PID": 4242, "unrelated": "no"})
    entry = journal.entries[0]
    assert entry["VIRTD_OWNER_PID"] == "4242"
    assert "unrelated" not in entry and "UNRELATED" not in entry


def test_log_error_records_code_domain_and_the_callers_line(journal):
    err = VirtError(
        ErrorCode.INVALID_ARG, ErrorDomain.NONE, "unsupported flags (0x4) in function x"
    )
    log_error(lockspace_log, err, client_id=5)
    line = caller_line()
    assert journal.entries == [
        {
            "MESSAGE": "invalid argument: unsupported flags (0x4) in function x",
            "PRIORITY": "3",
            "SYSLOG_IDENTIFIER": "virtlockd",
            "SYSLOG_FACILITY": "3",
            "CODE_FILE": __file__,
            "CODE_LINE": line,
            "CODE_FUNC": "test_log_error_records_code_domain_and_the_callers_line",
            "VIRTD_SOURCE": "virtlockd.lockspace",
            "VIRTD_ERROR_CODE": "8",
            "VIRTD_ERROR_DOMAIN": "0",
            "VIRTD_CLIENT_ID": "5",
        }
    ]


def test_log_error_message_with_percent_signs_is_kept_verbatim(journal):
    log_error(
        lockspace_log, VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, "100% (%s) full")
    )
    assert journal.entries[0]["MESSAGE"] == "internal error: 100% (%s) full"


def test_log_error_with_message_id(journal):
    err = VirtError(ErrorCode.RESOURCE_BUSY, ErrorDomain.LOCKING, "lease held by pid 77")
    log_error(lockspace_log, err, message_id=MessageId.OWNER_KILLED)
    entry = journal.entries[0]
    assert entry["MESSAGE_ID"] == MessageId.OWNER_KILLED.value
    assert (entry["VIRTD_ERROR_CODE"], entry["VIRTD_ERROR_DOMAIN"]) == ("87", "42")


def test_logged_virt_error_exception_gets_fields_and_no_traceback(journal):
    try:
        raise VirtError(ErrorCode.NO_CLIENT, ErrorDomain.ADMIN, "no client with matching id '9'")
    except VirtError:
        lockspace_log.exception("disconnect failed")
    entry = journal.entries[0]
    assert entry["MESSAGE"] == "disconnect failed"
    assert (entry["VIRTD_ERROR_CODE"], entry["VIRTD_ERROR_DOMAIN"]) == ("96", "62")


def test_unexpected_exception_traceback_goes_into_the_message(journal):
    try:
        raise RuntimeError("lockspace table corrupt")
    except RuntimeError:
        lockspace_log.exception("cannot load leases")
    message = journal.entries[0]["MESSAGE"]
    assert message.startswith("cannot load leases\nTraceback (most recent call last):\n")
    assert message.endswith("RuntimeError: lockspace table corrupt")
    assert "VIRTD_ERROR_CODE" not in journal.entries[0]


def test_filters_decide_what_reaches_journald(tmp_path):
    sink = Journal()
    manager = LogManager("virtd", journal_sender=sink.send, journal_socket=str(tmp_path / "x"))
    manager.install()
    try:
        manager.set_outputs("2:journald")
        manager.set_filters("4:lockspace 2:virtlockd")
        lockspace_log.warning("suppressed by the first filter")
        logging.getLogger("virtd.virtlockd.daemon").info("passes the second filter")
        logging.getLogger("virtd.virtlockd.daemon").debug("below the output's priority")
    finally:
        manager.close()
    assert [entry["MESSAGE"] for entry in sink.entries] == ["passes the second filter"]


def test_real_sender_accepts_the_entry_and_a_missing_journald_costs_nothing(tmp_path, capfd):
    """systemd-python's send is the default; without journald the record is dropped quietly."""
    manager = LogManager("virtd", journal_socket=str(tmp_path / "x"))
    manager.install()
    try:
        manager.set_outputs("1:journald")
        lockspace_log.error(
            "sent to journald", extra=fields(client_id=1, message_id=MessageId.DAEMON_START)
        )
    finally:
        manager.close()
    assert capfd.readouterr() == ("", "")
