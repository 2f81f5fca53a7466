"""Domain objects and the registry that indexes them by name, uuid and id."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from uuid import UUID

from common.errors import ErrorCode, VirtError
from daemons.virtd.domain.definition import DomainDefinition
from daemons.virtd.domain.events import DomainRef
from daemons.virtd.domain.state import DomainState


@dataclass
class DomainObject:
    """One domain: its persistent config, its live definition while active, and its state.

    `config` is None for a transient domain; `live` is None while inactive. The
    name and uuid never change for the object's lifetime (a redefinition must keep both).
    """

    name: str
    uuid: UUID
    config: DomainDefinition | None
    live: DomainDefinition | None = None
    id: int = -1
    state: DomainState = DomainState.SHUTOFF
    reason: int = 0
    autostart: bool = False
    started_at: float = 0.0
    messages: list[str] = field(default_factory=list)
    hv: dict[str, Any] = field(default_factory=dict)
    """The driver's runtime handle on an active domain (kept in the status file)."""
    job: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Held across a lifecycle change, which may wait on the hypervisor; the registry lock
    is never held that long, so lookups and queries never wait for a VM to start."""

    @property
    def definition(self) -> DomainDefinition:
        current = self.live or self.config
        assert current is not None, "a domain always has a live or a persistent definition"
        return current

    @classmethod
    def persistent_from(cls, definition: DomainDefinition) -> "DomainObject":
        return cls(definition.name, definition.uuid, definition)

    @classmethod
    def transient_from(cls, definition: DomainDefinition) -> "DomainObject":
        return cls(definition.name, definition.uuid, None, live=definition)

    @property
    def active(self) -> bool:
        return self.id != -1

    @property
    def persistent(self) -> bool:
        return self.config is not None

    def ref(self) -> DomainRef:
        return DomainRef(self.name, self.uuid, self.id)

    def set_state(self, state: DomainState, reason: int) -> None:
        self.state = state
        self.reason = int(reason)

    def activate(self, domain_id: int, state: DomainState, reason: int) -> None:
        self.id = domain_id
        self.live = self.config if self.live is None else self.live
        self.started_at = time.time()
        self.set_state(state, reason)

    def deactivate(self, reason: int) -> None:
        self.id = -1
        self.live = None
        self.set_state(DomainState.SHUTOFF, reason)


NotFound = Callable[[str], VirtError]


class DomainRegistry:
    """All domains of one driver. Callers hold `lock` across lookup-and-change sequences."""

    def __init__(self, not_found: NotFound) -> None:
        self.lock = threading.RLock()
        self._by_uuid: dict[UUID, DomainObject] = {}
        self._by_name: dict[str, DomainObject] = {}
        self._next_id = 1
        self._not_found = not_found

    def all(self) -> list[DomainObject]:
        with self.lock:
            return list(self._by_uuid.values())

    def active_count(self) -> int:
        with self.lock:
            return sum(1 for d in self._by_uuid.values() if d.active)

    def allocate_id(self) -> int:
        with self.lock:
            domain_id = self._next_id
            self._next_id += 1
            return domain_id

    def note_id(self, domain_id: int) -> None:
        """Keep new ids above one adopted from saved status."""
        with self.lock:
            self._next_id = max(self._next_id, domain_id + 1)

    def add(self, obj: DomainObject) -> None:
        with self.lock:
            self._by_uuid[obj.uuid] = obj
            self._by_name[obj.name] = obj

    def remove(self, obj: DomainObject) -> None:
        with self.lock:
            self._by_uuid.pop(obj.uuid, None)
            self._by_name.pop(obj.name, None)

    def by_name(self, name: str) -> DomainObject:
        with self.lock:
            obj = self._by_name.get(name)
        if obj is None:
            raise self._not_found(f"no domain with matching name '{name}'")
        return obj

    def by_uuid(self, uuid: UUID, name: str | None = None) -> DomainObject:
        with self.lock:
            obj = self._by_uuid.get(uuid)
        if obj is None:
            suffix = f" ({name})" if name else ""
            raise self._not_found(f"no domain with matching uuid '{uuid}'{suffix}")
        return obj

    def by_id(self, domain_id: int) -> DomainObject:
        with self.lock:
            for obj in self._by_uuid.values():
                if obj.id == domain_id and domain_id != -1:
                    return obj
        raise self._not_found(f"no domain with matching id {domain_id}")

    def find_name(self, name: str) -> DomainObject | None:
        with self.lock:
            return self._by_name.get(name)

    def find_uuid(self, uuid: UUID) -> DomainObject | None:
        with self.lock:
            return self._by_uuid.get(uuid)


def no_domain(driver_domain: int) -> NotFound:
    return lambda detail: VirtError(ErrorCode.NO_DOMAIN, driver_domain, detail)
