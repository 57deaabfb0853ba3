"""Provider callbacks: inbound SMS (threaded, STOP/START honoured — even while outbound is off), delivery status
(forward only), and email bounces/unsubscribes. Every accepted callback is audited in its workspace.

Twilio requests must carry a valid `X-Twilio-Signature` made with `HARMONIA_TWILIO_AUTH_TOKEN`; with no token
configured every Twilio callback is refused (403), because nothing could tell a stranger's request from Twilio's.
The tenant comes from our own routing (the workspace's SMS number, or the tenant id we put in the status-callback
URL), never from a claim in the payload. A replayed `MessageSid` is stored and acted on once.

Email events carry an HMAC-SHA256 of the body in `X-Harmonia-Signature`, keyed with this installation's own random
key (`comms.email_webhook_key`, made on first use and kept in the `installation` table).

The one message that leaves outside the gate is the STOP confirmation, returned as TwiML in the reply to the
inbound STOP: the carriers' rules ask for exactly one, at once, and the switch must not silence it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from xml.sax.saxutils import escape

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..services import comms

__all__ = ["install", "twilio_signature"]

log = logging.getLogger("harmonia.webhooks")

TWIML_EMPTY = "<?xml version='1.0' encoding='UTF-8'?><Response></Response>"


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


async def _form(request: Request) -> dict[str, str] | Response:
    """The verified form, or the refusal to answer with."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    token = request.app.state.settings.twilio_auth_token
    if not token:
        log.warning("Twilio callback refused: HARMONIA_TWILIO_AUTH_TOKEN is not set, so it cannot be verified")
        return Response("Twilio callbacks are refused until HARMONIA_TWILIO_AUTH_TOKEN is set", status_code=403)
    url = request.app.state.settings.public_url + request.url.path
    expected = twilio_signature(token, url, form)
    if not hmac.compare_digest(expected, request.headers.get("x-twilio-signature", "")):
        log.warning("Twilio callback to %s refused: bad signature", request.url.path)
        return Response("bad signature", status_code=403)
    # A NUL cannot be stored (PostgreSQL refuses it in text) and a provider retries a refused callback for days:
    # the sender's text is kept without it (after the signature, which covers what was sent).
    return {k: v.replace("\x00", "") for k, v in form.items()}


async def inbound_sms(request: Request) -> Response:
    form = await _form(request)
    if isinstance(form, Response):
        return form
    db = request.app.state.db
    tenant_id = await anyio.to_thread.run_sync(comms.tenant_for_number, db, form.get("To", ""))
    if tenant_id is None:
        return Response("unknown number", status_code=404)
    reply = await anyio.to_thread.run_sync(
        comms.receive_sms, db, tenant_id, form.get("From", ""), form.get("Body", ""), form.get("MessageSid") or None
    )
    body = TWIML_EMPTY if reply is None else (
        f"<?xml version='1.0' encoding='UTF-8'?><Response><Message>{escape(reply)}</Message></Response>")  # fmt: skip
    return Response(body, media_type="application/xml")


async def status(request: Request) -> Response:
    form = await _form(request)
    if isinstance(form, Response):
        return form
    found = await anyio.to_thread.run_sync(comms.provider_status, request.app.state.db,
                                           request.path_params["tenant_id"], form.get("MessageSid", ""),
                                           form.get("MessageStatus", ""))  # fmt: skip
    return Response(status_code=204 if found else 404)


async def email_event(request: Request) -> Response:
    raw = await request.body()
    db = request.app.state.db
    key = (await anyio.to_thread.run_sync(comms.email_webhook_key, db)).encode()
    expected = hmac.new(key, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("x-harmonia-signature", "")):
        log.warning("email event refused: bad signature")
        return JSONResponse({"error": "bad signature"}, status_code=403)
    try:
        event = orjson.loads(raw)
        tenant_id, email, kind = event["tenant_id"], event["email"], event["type"]
        if not all(isinstance(v, str) and "\x00" not in v and len(v) <= 320 for v in (tenant_id, email, kind)):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return JSONResponse({"error": "expected {tenant_id, email, type: bounce|unsubscribe}"}, status_code=422)
    if kind not in ("bounce", "unsubscribe"):
        return JSONResponse({"error": "type must be bounce or unsubscribe"}, status_code=422)
    found = await anyio.to_thread.run_sync(comms.email_event, db, tenant_id, email, kind)
    return Response(status_code=204 if found else 404)


def install(app: Starlette) -> None:
    app.router.routes.extend([
        Route("/webhooks/twilio/sms", inbound_sms, methods=["POST"]),
        Route("/webhooks/twilio/{tenant_id}/status", status, methods=["POST"]),
        Route("/webhooks/email", email_event, methods=["POST"]),
    ])  # fmt: skip
