"""Domain lifecycle events: every transition is journaled once and fanned out to listeners.

Listeners are the remote connections that registered for events; they may be
called from worker threads and must hand the event to the event loop themselves.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable
from uuid import UUID

from common.log.fields import fields
from common.log.message_ids import MessageId
from daemons.virtd.domain.state import Event

log = logging.getLogger("virtd.virtd.events")


@dataclass(frozen=True, slots=True)
class DomainRef:
    """A domain as a client names it: name, uuid, and id (-1 when inactive)."""

    name: str
    uuid: UUID
    id: int


Listener = Callable[[DomainRef, int, int], None]

_EVENT_WORDS = {
    Event.DEFINED: ("defined", MessageId.VM_DEFINED),
    Event.UNDEFINED: ("undefined", MessageId.VM_UNDEFINED),
    Event.STARTED: ("started", MessageId.VM_STARTED),
    Event.SUSPENDED: ("suspended", MessageId.VM_SUSPENDED),
    Event.RESUMED: ("resumed", MessageId.VM_RESUMED),
    Event.STOPPED: ("stopped", MessageId.VM_STOPPED),
    Event.SHUTDOWN: ("shutting down", None),
    Event.CRASHED: ("crashed", MessageId.VM_CRASHED),
}


class EventBus:
    def __init__(self, driver: str) -> None:
        self.driver = driver
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._next = 1

    def subscribe(self, listener: Listener) -> int:
        with self._lock:
            token = self._next
            self._next += 1
            self._listeners[token] = listener
            return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)

    def emit(self, dom: DomainRef, event: Event, detail: int) -> None:
        word, message_id = _EVENT_WORDS.get(event, (event.name.lower(), None))
        log.info(
            "domain %s %s",
            dom.name,
            word,
            extra=fields(
                message_id=message_id,
                domain_name=dom.name,
                domain_uuid=str(dom.uuid),
                domain_id=dom.id,
                event=int(event),
                event_detail=int(detail),
                driver=self.driver,
            ),
        )
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(dom, int(event), int(detail))
            except Exception:
                log.exception("event listener failed")
