"""Settings, read once from `HARMONIA_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "url_host"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARMONIA_", extra="ignore")

    # Default: an embedded SQLite file under ./var/ (created on first use).
    database_url: str = "sqlite:///var/harmonia.db"
    # Optional owner DSN for migrations on PostgreSQL (the app role is not the table owner there).
    migration_database_url: str | None = None
    smtp_url: str | None = None
    # A provider that says nothing for this long is given up on (after the data went: outcome unknown).
    smtp_timeout_seconds: float = 10.0
    twilio_timeout_seconds: float = 10.0
    # Where `harmonia serve` listens (its --host/--port default to these).
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    # Where the server is reached (links, OAuth resource metadata, provider callbacks). Unset: this server's own
    # http://HOST:PORT (a wildcard host reads as 127.0.0.1: other machines need HARMONIA_PUBLIC_URL).
    public_url: str = ""
    # Hosts and origins the HTTP MCP endpoint accepts (DNS-rebinding protection); comma separated.
    allowed_hosts: str = "127.0.0.1:*,localhost:*,[::1]:*"
    allowed_origins: str = "http://127.0.0.1:*,http://localhost:*,http://[::1]:*"
    secret_key: str = "dev-only-change-me"
    # Deliver the outbox inside `harmonia serve` (set false when `harmonia worker` runs separately).
    inprocess_dispatch: bool = True
    # SQLite: MCP reads first tried on the event loop, each statement bounded by this many ms (0: always on a thread).
    loop_read_ms: float = 10
    # MCP over HTTP: a `tools/call` of a read answered in the HTTP handler, without the SDK's per-request session
    # (surfaces/mcp_fast.py); false sends every call through the SDK's pipeline.
    mcp_fast_reads: bool = True
    # Where uploaded import files wait for their job (every runner of the installation must read it).
    upload_dir: str = "var/uploads"
    token: str | None = None  # for `harmonia mcp` (stdio)
    toolsets: str | None = None  # for `harmonia mcp`: comma separated (SPEC §8); default core
    # Calls out (Client ID Metadata Documents): an extra CA bundle to trust; HARMONIA_EGRESS_ALLOW widens addresses.
    egress_ca_file: str | None = None
    # The secrets vault's Fernet keys, comma-separated: the first encrypts, all decrypt (rotation). Not the session key.
    secrets_keys: str | None = None
    # A routed call (to an upstream MCP server) deeper than this many hops is refused (harmonia.routing).
    max_hops: int = 3
    twilio_base_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None

    @model_validator(mode="after")
    def _public_url_from_host_and_port(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{url_host(self.host)}:{self.port}"
            self.model_fields_set.discard("public_url")
        return self

    @property
    def public_url_is_guess(self) -> bool:
        """No HARMONIA_PUBLIC_URL was given: the address a browser used says more than this server's own."""
        return "public_url" not in self.model_fields_set

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or ":memory:" in self.database_url:
            return None
        return Path(self.database_url.split("///", 1)[1])


def url_host(host: str) -> str:
    """`host` as it goes into a URL: a wildcard bind is reached locally on loopback; IPv6 in brackets."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
