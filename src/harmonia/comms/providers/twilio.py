"""SMS and voice through a Twilio-compatible REST API (`HARMONIA_TWILIO_BASE_URL`, account sid and auth token).

Twilio documents no idempotency key for Messages/Calls create, so a timeout after the request left is reported as
`unknown` and never retried blindly: a duplicate text is user harm and a per-message compliance exposure. Only
failures that provably happened before Twilio took the request (no connection, 429) are `retry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Delivery, Envelope, Provider

if TYPE_CHECKING:
    import httpx

__all__ = ["UNSUBSCRIBED", "TwilioProvider"]

UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient": the recipient texted STOP to this sender


class TwilioProvider(Provider):
    name = "twilio"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, from_number: str,
                 public_url: str | None = None, timeout: float = 10) -> None:  # fmt: skip
        self.base = base_url.rstrip("/")
        self.sid = account_sid
        self.auth = (account_sid, auth_token)
        self.from_number = from_number
        self.public_url = public_url.rstrip("/") if public_url else None
        self.timeout = timeout

    def _send(self, envelope: Envelope) -> Delivery:
        resource = "Messages" if envelope.channel == "sms" else "Calls"
        data = {"To": envelope.to, "From": envelope.from_ or self.from_number}
        if envelope.channel == "sms":
            data["Body"] = envelope.body
        else:
            data["Twiml"] = f"<Response><Say>{_xml(envelope.body or 'Hello')}</Say></Response>"
        if self.public_url and envelope.tenant_id:
            data["StatusCallback"] = f"{self.public_url}/webhooks/twilio/{envelope.tenant_id}/status"
        url = f"{self.base}/2010-04-01/Accounts/{self.sid}/{resource}.json"
        import httpx  # here, not at the top: every process imports the gate, few of them send (stdio start-up)

        try:
            response = httpx.post(url, data=data, auth=self.auth, timeout=self.timeout)
        except httpx.ConnectError:
            return Delivery(status="retry", detail="voice/SMS provider unreachable; nothing was sent")
        except httpx.TransportError:
            return Delivery(status="unknown", detail="provider timed out after the request was sent; outcome unknown")
        code = _json(response).get("code")
        if response.status_code == 429:
            return Delivery(status="retry", detail="provider rate limit (429); nothing was sent")
        if response.status_code >= 500:
            return Delivery(status="unknown", detail=f"provider error {response.status_code} after the request; "
                            "outcome unknown")  # fmt: skip
        if response.status_code >= 400 and code == UNSUBSCRIBED:
            return Delivery(status="failed", recipient_opted_out=True,
                            detail=f"the recipient texted STOP to this number; the carrier blocks it (code {code})")  # fmt: skip
        if response.status_code >= 400:
            return Delivery(status="failed", detail=f"provider refused ({response.status_code}, code {code})")
        sid = _json(response).get("sid")
        return Delivery(status="sent", provider_id=str(sid) if sid else None, detail=None)


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
