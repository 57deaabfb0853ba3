"""Provider adapters. Only `harmonia.comms.gate` may call them; `send()` demands a permit only the gate mints.

`Providers` is the set a process sends through, built once from the settings (`Providers.from_settings`) and handed
explicitly to whatever delivers (the in-process dispatch of `harmonia serve`, `harmonia worker`, a test): no module
keeps a provider of its own. A channel with no real provider configured goes to the sandbox, which sends nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .base import Provider
from .sandbox import SandboxProvider

if TYPE_CHECKING:
    from ...config import Settings

__all__ = ["Providers"]


class Providers:
    def __init__(
        self,
        by_channel: dict[str, Provider] | None = None,
        sandbox: SandboxProvider | None = None,
        *,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.sandbox = sandbox or SandboxProvider()
        self._by_channel = dict(by_channel or {})
        # How long a `sending` row is ours: a conversation is a handful of steps, each bounded by the timeout.
        # Past this the dispatcher is presumed dead and the message's outcome unknown.
        self.send_lease = timedelta(seconds=8 * timeout_seconds + 60)

    @classmethod
    def from_settings(cls, settings: Settings) -> Providers:
        by_channel: dict[str, Provider] = {}
        if settings.smtp_url:
            from .smtp import SmtpProvider

            by_channel["email"] = SmtpProvider(settings.smtp_url, timeout=settings.smtp_timeout_seconds)
        if settings.twilio_base_url and settings.twilio_account_sid:
            from .twilio import TwilioProvider

            twilio = TwilioProvider(settings.twilio_base_url, settings.twilio_account_sid,
                                    settings.twilio_auth_token or "", settings.twilio_from_number or "",
                                    settings.public_url, timeout=settings.twilio_timeout_seconds)  # fmt: skip
            by_channel["sms"] = by_channel["call"] = twilio
        return cls(by_channel, timeout_seconds=max(settings.smtp_timeout_seconds, settings.twilio_timeout_seconds))

    def for_channel(self, channel: str) -> Provider:
        return self._by_channel.get(channel, self.sandbox)
