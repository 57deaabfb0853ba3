"""The secrets vault: a workspace's secret values (API keys for its own tools and upstream MCP servers), encrypted at
rest with `cryptography`'s MultiFernet.

Keys come from `HARMONIA_SECRETS_KEYS` (comma-separated Fernet keys), never from the session key: a leaked session
key must not open the vault, and the vault's keys rotate on their own schedule. The first key encrypts, every key
decrypts; `rotate()` re-encrypts a value under the first key, so an operator adds a new key in front, runs
`harmonia secrets rotate`, then drops the old key. A value leaves the vault only to be sent to the host it was
configured for; everywhere else (lists, audit, logs) it is a digest.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .errors import HarmoniaError, InvalidArguments

__all__ = ["SecretsNotConfigured", "Vault", "digest"]

HOW_TO_SET = (
    'set HARMONIA_SECRETS_KEYS to one or more Fernet keys, comma-separated (make one with `python -c "from '
    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`), and restart the server'
)


class SecretsNotConfigured(HarmoniaError):
    code = "secrets_not_configured"
    http_status = 409


def digest(value: str) -> str:
    """What stands for a secret value in the audit and in lists: enough to tell two values apart, never to recover."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


class Vault:
    def __init__(self, keys: str | None) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        self._fernet: Any = None
        if not parts:
            return
        from cryptography.fernet import Fernet, MultiFernet  # loaded only by a server that has a vault key

        try:
            self._fernet = MultiFernet([Fernet(k) for k in parts])
        except ValueError:
            raise InvalidArguments(
                "HARMONIA_SECRETS_KEYS holds a value that is not a Fernet key; " + HOW_TO_SET
            ) from None

    @property
    def configured(self) -> bool:
        return self._fernet is not None

    def _keys(self) -> Any:
        if self._fernet is None:
            raise SecretsNotConfigured("secrets cannot be stored: this server has no vault key; " + HOW_TO_SET)
        return self._fernet

    def encrypt(self, value: str) -> str:
        return str(self._keys().encrypt(value.encode()).decode())

    def decrypt(self, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return str(self._keys().decrypt(ciphertext.encode()).decode())
        except InvalidToken:
            raise SecretsNotConfigured("a stored secret cannot be decrypted with the keys in HARMONIA_SECRETS_KEYS "
                                       "(was a key removed before `harmonia secrets rotate`?)") from None  # fmt: skip

    def rotate(self, ciphertext: str) -> str:
        return str(self._keys().rotate(ciphertext.encode()).decode())
