"""Shapes shared by many operations: paging arguments, list results, small record summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import Field

from .schema import InputModel, OutputModel

__all__ = ["Cursor", "Limit", "Page", "PageArgs", "Ref", "Since"]

T = TypeVar("T")

Limit = Annotated[int, Field(ge=1, le=100)]  # page size; default 25
Cursor = Annotated[str, Field(max_length=400)]  # the previous page's next_cursor
Since = Annotated[datetime, Field(description="ISO 8601 date-time")]
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
