"""Domain events and the in-process bus that hands them out after commit.

A change that others react to calls `uow.emit(name, subject=(type, id), **data)`. The event is written as a row of
`domain_events` in the same transaction (so a crash after commit loses nothing: the workflow engine reads the rows),
and, once the unit of work has committed, handed to the handlers subscribed on the database's `EventBus` — in
process, in order. A handler that fails is logged and isolated: it never turns a committed change into an error,
and never stops the next handler. Nothing is handed out for a unit that rolled back.

Names are past tense: contact_created, tag_applied, stage_entered, message_queued, message_sent, message_received,
message_bounced, consent_changed…
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["DomainEvent", "EventBus", "Handler"]

log = logging.getLogger("harmonia.events")


@dataclass(frozen=True)
class DomainEvent:
    id: str
    name: str
    tenant_id: str
    at: datetime
    subject_type: str | None = None
    subject_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    actor_user_id: str | None = None
    channel: str = "system"
    client: str | None = None


Handler = Callable[[DomainEvent], None]


class EventBus:
    """Handlers by event name ("*" receives every event). One per process, built by `bootstrap()`."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def subscribe(self, name: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(name, []).append(handler)

    def unsubscribe(self, name: str, handler: Handler) -> None:
        with self._lock:
            handlers = self._handlers.get(name, [])
            if handler in handlers:
                handlers.remove(handler)

    def publish(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            with self._lock:
                handlers = [*self._handlers.get(event.name, ()), *self._handlers.get("*", ())]
            for handler in handlers:
                try:
                    handler(event)
                except Exception:  # isolated: the change is committed whatever a reaction does
                    log.exception("handler %s failed on %s %s", getattr(handler, "__name__", handler), event.name,
                                  event.id)  # fmt: skip
