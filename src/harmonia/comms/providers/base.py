"""The provider interface: `send(envelope, permit)` refuses without a permit minted by the gate for that message.

A provider reports one of four outcomes, and the difference between the last two is what keeps a message from
going out twice:
- `sent` / `delivered`: the provider took it;
- `failed`: the provider refused it for good (a 5xx, an invalid number); nothing left;
- `retry`: it provably never left (no connection, a 4xx before the data was accepted): safe to try again later;
- `unknown`: it may have left (the connection dropped or timed out after the data went): never retried by itself.
"""

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
    tenant_id: str = ""  # for the status-callback address the provider is given


@dataclass(frozen=True)
class Permit:
    message_id: str
    token: object  # an object only the gate holds; identity, not value, is checked


@dataclass(frozen=True)
class Delivery:
    status: str  # sent / delivered / failed / retry / unknown
    provider_id: str | None = None
    detail: str | None = None
    # The provider says the recipient has opted out at its end (Twilio 21610: they texted STOP to this number): the
    # text is refused for good and the contact's consent on the channel becomes opted_out (services/comms.record).
    recipient_opted_out: bool = False


class Provider(ABC):
    name: str = "provider"

    def send(self, envelope: Envelope, permit: Permit) -> Delivery:
        from ..gate import _permit_is_valid

        if not _permit_is_valid(permit, envelope.message_id):
            raise PermitError("provider called without the gate's permit for this message")
        return self._send(envelope)

    @abstractmethod
    def _send(self, envelope: Envelope) -> Delivery: ...
