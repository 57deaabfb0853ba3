"""The clock every time-dependent rule reads: quiet hours, leases, token expiry, waits, retries.

Production uses `SystemClock`. Tests inject a `ManualClock` through `bootstrap(clock=…)` (or `Database(clock=…)`)
and move it with `advance()`: time-dependent behaviour is tested by moving the clock, never by sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # 15:00 on a Tuesday in New York
        if start.tzinfo is None:
            raise ValueError("a ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)
