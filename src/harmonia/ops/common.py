"""Shapes shared by many operations: paging arguments, list results, small record summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BeforeValidator, Field

from .schema import InputModel, OutputModel

__all__ = ["Cursor", "Instant", "Limit", "Page", "PageArgs", "Ref", "Since"]

T = TypeVar("T")

Limit = Annotated[int, Field(ge=1, le=100)]  # page size; default 25
Cursor = Annotated[str, Field(max_length=400)]  # the previous page's next_cursor


def _iso_instant(value: Any) -> Any:
    """Date-times arrive as ISO 8601 text. A bare number is refused (pydantic would read it as a Unix timestamp, so
    "0.5" silently meant 1970); text without an offset is taken as UTC rather than failing deep in the database."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-20T17:00:00-05:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-20T17:00:00-05:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Instant = Annotated[datetime, BeforeValidator(_iso_instant), Field(description="ISO 8601; no offset means UTC")]
Since = Instant
RecordId = Annotated[str, Field(min_length=3, max_length=40)]


class PageArgs(InputModel):
    limit: Limit | None = None
    cursor: Cursor | None = None


class Page(OutputModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Ref(OutputModel):
    """A compact pointer to another record."""

    id: str
    name: str | None = None
