"""The provider interface: `send(envelope, permit)` refuses without a permit minted by the gate for that message."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["Delivery", "Envelope", "Permit", "PermitError", "Provider"]


class PermitError(RuntimeError):
    """A provider was called without the gate's permit for this very message: a programming error."""


@dataclass(frozen=True)
class Envelope:
    message_id: str
    channel: str  # email / sms / call
    to: str
    from_: str | None
    subject: str | None
    body: str


@dataclass(frozen=True)
class Permit:
    message_id: str
    token: object  # an object only the gate holds; identity, not value, is checked


@dataclass(frozen=True)
class Delivery:
    status: str  # sent / delivered / failed / unknown
    provider_id: str | None = None
    detail: str | None = None


class Provider(ABC):
    name: str = "provider"

    def send(self, envelope: Envelope, permit: Permit) -> Delivery:
        from ..gate import _permit_is_valid

        if not _permit_is_valid(permit, envelope.message_id):
            raise PermitError("provider called without the gate's permit for this message")
        return self._send(envelope)

    @abstractmethod
    def _send(self, envelope: Envelope) -> Delivery: ...
