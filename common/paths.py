"""Where a daemon keeps its sockets, state, config and logs, privileged or session."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _xdg(var: str, fallback: str) -> str:
    value = os.environ.get(var)
    return value if value and os.path.isabs(value) else os.path.expanduser(fallback)


@dataclass(frozen=True, slots=True)
class Paths:
    privileged: bool
    runtime_dir: str
    state_dir: str
    config_dir: str
    log_dir: str

    @classmethod
    def for_mode(cls, privileged: bool) -> "Paths":
        if privileged:
            return cls(True, "/run/virtd", "/var/lib/virtd", "/etc/virtd", "/var/log/virtd")
        runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
        state = os.path.join(_xdg("XDG_STATE_HOME", "~/.local/state"), "virtd")
        return cls(
            False,
            os.path.join(runtime, "virtd"),
            state,
            os.path.join(_xdg("XDG_CONFIG_HOME", "~/.config"), "virtd"),
            os.path.join(state, "log"),
        )

    def config_file(self, daemon: str) -> str:
        return os.path.join(self.config_dir, f"{daemon}.conf")
