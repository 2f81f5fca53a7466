"""The shipped config files are exactly what the key registry renders.

So every key a daemon reads is documented where users look, with its real
default, and every value the file shows is one the daemon accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.config import Schema, parse_text
from daemons.virtd.config import SCHEMA as VIRTD
from daemons.virtlockd.config import SCHEMA as VIRTLOCKD
from daemons.virtlogd.config import SCHEMA as VIRTLOGD

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [VIRTD, VIRTLOCKD, VIRTLOGD]
_SETTING_LINE = re.compile(r"^#([a-z_]+) = ", re.MULTILINE)


def shipped_path(schema: Schema) -> Path:
    return REPO / "daemons" / schema.daemon / f"{schema.daemon}.conf"


@pytest.mark.parametrize("schema", SHIPPED, ids=lambda s: s.daemon)
def test_shipped_file_is_the_rendered_registry(schema: Schema) -> None:
    path = shipped_path(schema)
    assert path.read_text() == schema.render(), (
        f"{path.relative_to(REPO)} is out of date; regenerate it with: "
        f"python -m common.config daemons.{schema.daemon}.config > {path.relative_to(REPO)}"
    )


@pytest.mark.parametrize("schema", SHIPPED, ids=lambda s: s.daemon)
def test_shipped_file_as_installed_gives_the_defaults(schema: Schema) -> None:
    path = shipped_path(schema)
    assert dict(parse_text(path.read_text(), str(path))) == {}
    assert schema.load(path) == schema.defaults()


@pytest.mark.parametrize("schema", SHIPPED, ids=lambda s: s.daemon)
def test_shipped_file_shows_every_key_once(schema: Schema) -> None:
    shown = _SETTING_LINE.findall(shipped_path(schema).read_text())
    assert shown == list(schema.keys)


@pytest.mark.parametrize("schema", SHIPPED, ids=lambda s: s.daemon)
def test_every_shown_value_is_accepted_when_uncommented(schema: Schema, tmp_path: Path) -> None:
    uncommented = tmp_path / f"{schema.daemon}.conf"
    uncommented.write_text(_SETTING_LINE.sub(r"\1 = ", shipped_path(schema).read_text()))
    cfg = schema.load(uncommented)
    for name, key in schema.keys.items():
        expected = key.default if key.default is not None else key.example
        assert getattr(cfg, name) == expected, name


def test_shipped_files_document_libvirts_defaults() -> None:
    text = shipped_path(VIRTD).read_text()
    for line in ["#max_clients = 5000", "#admin_max_workers = 20", '#unix_sock_admin_perms = "0700"']:
        assert f"\n{line}\n" in text
    assert "\n#max_backups = 3\n" in shipped_path(VIRTLOGD).read_text()
    assert "\n#max_clients = 1024\n" in shipped_path(VIRTLOCKD).read_text()
