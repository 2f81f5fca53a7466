"""The shipped journal catalog explains every MESSAGE_ID the daemons emit, and nothing else.

The real `journalctl` indexes the file the way `journalctl --update-catalog`
does on an installed system, which proves the file is in a format it accepts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from common.log import MessageId

CATALOG = Path(__file__).resolve().parents[2] / "units" / "virtd.catalog"
HEADER = re.compile(r"^-- ([0-9a-f]{32})$", re.MULTILINE)


def entries() -> dict[str, str]:
    """Catalog entries by id: the text from the header line to the next header."""
    text = CATALOG.read_text()
    starts = list(HEADER.finditer(text))
    ends = [match.start() for match in starts[1:]] + [len(text)]
    return {match[1]: text[match.end() : end] for match, end in zip(starts, ends, strict=True)}


def test_every_message_id_has_exactly_one_catalog_entry_and_vice_versa():
    ids = HEADER.findall(CATALOG.read_text())
    assert len(ids) == len(set(ids))
    assert set(ids) == {message_id.value for message_id in MessageId}


def test_message_ids_are_distinct_128_bit_ids():
    values = [message_id.value for message_id in MessageId]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in values)


@pytest.mark.parametrize("message_id", list(MessageId), ids=lambda m: m.name)
def test_entry_has_subject_owner_support_and_explanation(message_id):
    headers, _, body = entries()[message_id.value].strip("\n").partition("\n\n")
    lines = headers.splitlines()
    assert lines[0].startswith("Subject: ") and len(lines[0]) > len("Subject: ")
    assert "Defined-By: virtd" in lines
    assert any(line.startswith("Support: ") for line in lines)
    assert len(body.split()) >= 10


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="journalctl is not installed")
def test_journalctl_indexes_the_catalog(tmp_path):
    catalog_dir = tmp_path / "usr/lib/systemd/catalog"
    catalog_dir.mkdir(parents=True)
    shutil.copy(CATALOG, catalog_dir)
    subprocess.run(["journalctl", f"--root={tmp_path}", "--update-catalog"], check=True, timeout=60)
    listed = subprocess.run(
        ["journalctl", f"--root={tmp_path}", "--list-catalog"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    indexed = dict(line.split(" ", 1) for line in listed.splitlines())
    assert set(indexed) == {message_id.value for message_id in MessageId}
    assert (
        indexed[MessageId.VM_STARTED.value] == "virtd: Virtual machine @VIRTD_DOMAIN_NAME@ started"
    )
