"""Key events reach the journal whatever the log level; other outputs follow the level."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import pytest

from common.log.fields import fields
from common.log.manager import LogConfig, LogManager
from common.log.message_ids import MessageId


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[tuple[LogManager, list[dict[str, Any]]]]:
    sent: list[dict[str, Any]] = []
    manager = LogManager("virtd", journal_sender=lambda **kw: sent.append(kw),
                         journal_socket=str(tmp_path / "none"))
    manager.install()
    yield manager, sent
    manager.close()


def test_vm_lifecycle_is_journaled_at_the_default_level(
        journal: tuple[LogManager, list[dict[str, Any]]], tmp_path: Path) -> None:
    manager, sent = journal
    text_log = tmp_path / "text.log"
    manager.apply(LogConfig(3, None, f"3:journald 3:file:{text_log}"))
    log = logging.getLogger("virtd.virtd.events")
    log.info("domain demo started",
             extra=fields(message_id=MessageId.VM_STARTED, domain_name="demo"))
    log.info("an ordinary info record")
    log.info("client 3 connected", extra=fields(message_id=MessageId.CLIENT_CONNECT))

    assert [r["MESSAGE"] for r in sent] == ["domain demo started"]
    assert sent[0]["VIRTD_DOMAIN_NAME"] == "demo"
    assert sent[0]["MESSAGE_ID"] == MessageId.VM_STARTED
    assert text_log.read_text() == "", "text outputs keep following the level"


def test_debug_key_events_stay_below_the_level(
        journal: tuple[LogManager, list[dict[str, Any]]]) -> None:
    manager, sent = journal
    manager.apply(LogConfig(3, None, "3:journald"))
    logging.getLogger("virtd.x").debug("noise", extra=fields(message_id=MessageId.VM_STARTED))
    assert sent == []
