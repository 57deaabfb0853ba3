"""The default provider: keeps what it would have delivered, for viewing, and sends nothing anywhere."""

from __future__ import annotations

import threading

from .base import Delivery, Envelope, Provider

__all__ = ["SandboxProvider"]


class SandboxProvider(Provider):
    name = "sandbox"

    def __init__(self) -> None:
        self.delivered: list[Envelope] = []
        self._lock = threading.Lock()

    def _send(self, envelope: Envelope) -> Delivery:
        with self._lock:
            self.delivered.append(envelope)
        return Delivery(status="delivered", provider_id=f"sandbox-{envelope.message_id}")
