"""Live tuning made persistent: what `persist` saves and the next start re-applies.

The file sits in the daemon's state directory and overrides the config file's
values for the keys it holds; deleting it returns to the config file.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

from common.files import atomic_write
from common.paths import Paths

log = logging.getLogger("virtd.admin.tuning")

VERSION = 1


def tuning_path(paths: Paths, daemon: str) -> str:
    return os.path.join(paths.state_dir, f"{daemon}-tuning.json")


@dataclass(frozen=True)
class Tuning:
    servers: dict[str, dict[str, int]]
    log_level: int
    log_filters: str | None
    log_outputs: str | None
    idle_timeout: int

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        atomic_write(path, json.dumps({"version": VERSION, **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str) -> "Tuning | None":
        try:
            with open(path, encoding="utf-8") as f:
                raw: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            return None
        except ValueError as exc:
            log.error("ignoring unreadable tuning file %s: %s", path, exc)
            return None
        if raw.pop("version", None) != VERSION:
            log.error("ignoring tuning file %s of another version", path)
            return None
        return cls(**raw)
