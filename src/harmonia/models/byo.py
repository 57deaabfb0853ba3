"""A workspace's own tools (bring-your-own): secrets kept for them, HTTP endpoints served as tools, and other MCP
servers whose tools join the workspace's catalogue (SPEC §12).

Secret values are stored only as vault ciphertext (`harmonia.vault`, keys from HARMONIA_SECRETS_KEYS) next to a
digest for the audit; each secret names the one host it may be sent to. Tools and upstreams refer to secrets by name,
never by value, so a definition can be shown, exported and audited without leaking one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Json, TenantScoped

__all__ = ["TenantSecret", "TenantTool", "Upstream"]


class TenantSecret(TenantScoped, Base):
    __tablename__ = "tenant_secrets"
    __extra_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(253))  # the only host this value is ever sent to
    ciphertext: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(24))  # what the audit and the lists show instead of the value


class TenantTool(TenantScoped, Base):
    """An HTTP endpoint of the workspace, served as an MCP tool in the toolset `custom`."""

    __tablename__ = "tenant_tools"
    __extra_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1000))
    input_schema: Mapped[dict[str, Any]] = mapped_column(Json)
    method: Mapped[str] = mapped_column(String(8))
    url_template: Mapped[str] = mapped_column(String(2000))
    headers: Mapped[dict[str, str]] = mapped_column(Json, default=dict)  # values: literal, or "{secret:NAME}"
    timeout_seconds: Mapped[float] = mapped_column(Float)
    max_bytes: Mapped[int] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(String(16))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    sends: Mapped[bool] = mapped_column(Boolean, default=False)  # it sends to people: mcp:comms, under the switch


class Upstream(TenantScoped, Base):
    """Another MCP server whose tools the workspace serves as toolset `name`, each as `name_<tool>`."""

    __tablename__ = "tenant_upstreams"
    __extra_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2000))
    headers: Mapped[dict[str, str]] = mapped_column(Json, default=dict)  # header → secret name (values in the vault)
    scope: Mapped[str] = mapped_column(String(16))
    sending_tools: Mapped[list[str]] = mapped_column(Json, default=list)  # tools the owner says send to people
