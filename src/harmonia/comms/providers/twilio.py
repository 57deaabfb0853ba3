"""SMS and voice through a Twilio-compatible REST API (`HARMONIA_TWILIO_BASE_URL`, account sid and auth token).

Twilio documents no idempotency key for Messages/Calls create, so a timeout after the request left is reported as
`unknown` and never retried blindly: a duplicate text is user harm and a per-message compliance exposure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Delivery, Envelope, Provider

if TYPE_CHECKING:
    import httpx

__all__ = ["TwilioProvider"]


class TwilioProvider(Provider):
    name = "twilio"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, from_number: str,
                 status_callback: str | None = None, timeout: float = 10) -> None:  # fmt: skip
        self.base = base_url.rstrip("/")
        self.sid = account_sid
        self.auth = (account_sid, auth_token)
        self.from_number = from_number
        self.status_callback = status_callback
        self.timeout = timeout

    def _send(self, envelope: Envelope) -> Delivery:
        resource = "Messages" if envelope.channel == "sms" else "Calls"
        data = {"To": envelope.to, "From": envelope.from_ or self.from_number}
        if envelope.channel == "sms":
            data["Body"] = envelope.body
        else:
            data["Twiml"] = f"<Response><Say>{_xml(envelope.body or 'Hello')}</Say></Response>"
        if self.status_callback:
            data["StatusCallback"] = self.status_callback
        url = f"{self.base}/2010-04-01/Accounts/{self.sid}/{resource}.json"
        import httpx  # here, not at the top: every process imports the gate, few of them send (stdio start-up)

        try:
            response = httpx.post(url, data=data, auth=self.auth, timeout=self.timeout)
        except httpx.ConnectError:
            return Delivery(status="failed", detail="voice/SMS provider unreachable (nothing was sent)")
        except httpx.TransportError:
            return Delivery(status="unknown", detail="provider timed out after the request was sent; outcome unknown")
        if response.status_code >= 400:
            code = _json(response).get("code")
            return Delivery(status="failed", detail=f"provider refused ({response.status_code}, code {code})")
        body = _json(response)
        return Delivery(status="sent", provider_id=str(body.get("sid") or ""), detail=None)


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
