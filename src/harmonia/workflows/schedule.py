"""When a step may run: the recipient's allowed hours, business hours for waits, and the retry backoff.

A step is moved into the window before it is tried — an SMS due at 21:01 their time waits until 08:00 the next
morning instead of being refused by the gate. The gate still checks at delivery; this only keeps the engine from
knocking on a door it knows is shut.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["BACKOFF", "allowed_from", "backoff", "business_hours_from"]

ALLOWED_START, ALLOWED_END = time(8, 0), time(21, 0)  # SMS and calls, the recipient's time (SPEC §5)
BUSINESS_START, BUSINESS_END = time(9, 0), time(17, 0)  # "until business hours", Monday to Friday
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))  # then the enrollment fails


def allowed_from(now: datetime, zone: str) -> datetime:
    """`now` when it is inside 08:00–21:00 in `zone`, else the next 08:00 there (as UTC)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    if ALLOWED_START <= local.time() < ALLOWED_END:
        return now
    day = local.date() if local.time() < ALLOWED_START else local.date() + timedelta(days=1)
    return datetime.combine(day, ALLOWED_START, tz).astimezone(now.tzinfo)


def business_hours_from(now: datetime, zone: str) -> datetime:
    """`now` when it is within business hours on a business day in `zone`, else the next opening (as UTC)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    if local.weekday() < 5 and BUSINESS_START <= local.time() < BUSINESS_END:
        return now
    day = local.date() if local.time() < BUSINESS_START else local.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, BUSINESS_START, tz).astimezone(now.tzinfo)


def backoff(attempts: int) -> timedelta | None:
    """How long to wait after the `attempts`-th failure of a step; None when it has failed for good."""
    return BACKOFF[attempts - 1] if 1 <= attempts <= len(BACKOFF) else None
