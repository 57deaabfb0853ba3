"""How values and errors read to a person: the templates' filters (money, dates, idle days, phone numbers…) and
`for_people`, which words an operation's error (written for a model) for someone filling in a form.

Results reach the pages as plain data, nested parts with ISO strings in them; every filter takes either form and
never shows a Python repr, "None" or a negative age.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

__all__ = ["FILTERS", "LABELS", "for_people"]


def _instant(value: Any) -> datetime | None:
    """A datetime, or an ISO 8601 string of one (what nested results carry), as an aware UTC instant."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _money(value: Any, cents: bool = False) -> str:
    if value is None or value == "":
        return "—"
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}" if cents else f"{sign}${abs(amount):,.0f}"


def _when(value: Any, tz: str = "UTC") -> str:
    instant = _instant(value)
    if instant is None:
        return "" if value is None else str(value)
    return instant.astimezone(ZoneInfo(tz)).strftime("%b %-d, %Y %-I:%M %p")


def _day(value: Any) -> str:
    """A calendar date (`date` or "2026-12-18") as "Dec 18, 2026"; a month ("2026-11") as "Nov 2026"."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        text = value
        try:
            if len(text) == 7:
                return datetime.strptime(text, "%Y-%m").strftime("%b %Y")
            value = date.fromisoformat(text[:10])
        except ValueError:
            return text
    if isinstance(value, date):
        return value.strftime("%b %-d, %Y")
    return "" if value is None else str(value)


def _ago(value: Any) -> str:
    instant = _instant(value)
    if instant is None:
        return ""
    # A time a little in the future (clock skew, or seeded data anchored later in the day) is "just now", never
    # a negative age.
    seconds = (datetime.now(UTC) - instant).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def _idle(days: Any) -> str:
    """`days_idle` as a person reads it. Never negative: a last activity stamped later than now is "today"."""
    if days is None:
        return ""
    days = max(0, int(days))
    return "active today" if days == 0 else f"{days}d idle"


def _human(value: Any) -> str:
    """An enum-ish value (`opted_in`, `restricted_industry`) in words."""
    return "" if value is None else str(value).replace("_", " ")


def _phone(value: Any) -> str:
    """E.164 as people write it: +1 305-555-0123."""
    if not value:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(str(value)), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return str(value)


def _ordinal(n: Any) -> str:
    try:
        k = int(n)
    except (TypeError, ValueError):
        return str(n)
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _reason(value: Any) -> str:
    """Why a message was blocked or held, without the rule's code name: "blocked: outbound_off. outbound is off…"
    reads "Outbound is off…"."""
    text = re.sub(r"^(?:blocked|held|failed|refused): [a-z_]+\.\s*", "", str(value or "")).replace("`", "")
    return text[:1].upper() + text[1:]


# The lender match's rules carry raw numbers ("28370.92", "≥ 8000.0", 0.277): these are dollars or shares.
_MONEY_RULES = ("avg monthly revenue", "avg daily balance", "deal size")
_SHARE_RULES = ("withholding after funding",)


def _rule_value(value: Any, rule: Any = "") -> str:
    """A lender-match rule's actual or required value as a person reads it: "$28,371", "≥ $8,000", "27.7%"."""
    if value is None or value == "":
        return "not known"
    if isinstance(value, bool):
        return "yes" if value else "no"
    name = str(rule).lower()
    if isinstance(value, str):
        found = re.fullmatch(r"([≥≤<>]=?)?\s*(-?[\d,]+(?:\.\d+)?)", value.strip())
        if not found:
            return {"False": "no", "True": "yes", "None": "not known"}.get(value, value)
        op, number = found.groups()
        if not op and name not in _MONEY_RULES + _SHARE_RULES:
            return value  # a code (NAICS 811111) or a count, as written
        amount = float(number.replace(",", ""))
        shown = _rule_value(int(amount) if amount.is_integer() and "." not in number else amount, rule)
        return f"{op} {shown}" if op else shown
    if not isinstance(value, int | float):
        return str(value)
    if name in _MONEY_RULES:
        return _money(value)
    if name in _SHARE_RULES and value <= 1:
        return f"{value * 100:.1f}%".replace(".0%", "%")
    return f"{value:,.1f}".removesuffix(".0") if isinstance(value, float) else f"{value:,}"


def _rule_name(value: Any) -> str:
    """ "FICO", "avg daily balance" → "FICO", "Avg daily balance" (capitalize() would say "Fico")."""
    text = str(value or "").replace("_", " ")
    return text[:1].upper() + text[1:]


def _counted(n: Any, noun: str) -> str:
    """`3 | counted("open deal")` → "3 open deals", and "1 open deal" (never "1 open deals")."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _sentence(value: Any) -> str:
    """Capital first letter, the rest as written: "ISO partner" stays that (Jinja's `capitalize` gives "Iso partner")."""
    text = "" if value is None else str(value)
    return text[:1].upper() + text[1:]


FILTERS: dict[str, Callable[..., str]] = {
    "rule_value": _rule_value,
    "rule_name": _rule_name,
    "money": _money,
    "when": _when,
    "day": _day,
    "ago": _ago,
    "idle": _idle,
    "human": _human,
    "phone": _phone,
    "ordinal": _ordinal,
    "reason": _reason,
    "counted": _counted,
    "sentence": _sentence,
}


# How the forms name the arguments they send; a page passes its own where a form says it differently.
LABELS = {"first_name": "First name", "last_name": "Last name", "email": "Email", "phone": "Phone", "title": "Title",
          "timezone": "Time zone", "subject": "Subject", "body": "Message", "name": "Name", "scopes": "Scopes",
          "reason": "Reason", "due_at": "Due", "role": "Role", "password": "Password",
          "sms_consent": "SMS consent", "call_consent": "Call consent"}  # fmt: skip
_CHECKS = (
    (re.compile(r"String should have at least 1 character"), "is required"),
    (re.compile(r"String should have at least (\d+) characters"), r"needs at least \1 characters"),
    (re.compile(r"String should have at most (\d+) characters"), r"can be at most \1 characters"),
    (re.compile(r"List should have at least 1 item.*"), "needs at least one choice"),
    (re.compile(r"Value error, (.*)"), r"\1"),
)


_NOT_A = {"email": "must be an email address, like name@example.com",
          "phone": "must be a phone number in the international form, like +15551234567",
          "timezone": "must be a time zone name, like America/Chicago"}  # fmt: skip


def _structured_for_people(errors: list[dict[str, Any]], names: Mapping[str, str]) -> str:
    """The structured problems of an `InvalidArguments` (`{field, type, limit…}`), in a person's words."""
    parts = []
    for e in errors:
        name = str(e.get("field", ""))
        label = names.get(name, name.replace("_", " ").replace(".", " ").capitalize())
        kind, limit = e.get("type"), e.get("limit")
        if kind == "required" or (kind == "too_short" and limit == 1):
            text = "is required"
        elif kind == "too_short":
            text = f"needs at least {limit} characters"
        elif kind == "too_long":
            text = f"can be at most {limit} characters"
        elif kind == "too_few":
            text = "needs at least one choice" if limit == 1 else f"needs at least {limit} choices"
        elif kind == "too_many":
            text = f"can have at most {limit}"
        elif kind == "format":
            text = _NOT_A.get(name, "is not in a form Harmonia accepts")
        elif kind == "too_small":
            text = f"must be at least {limit}"
        elif kind == "too_large":
            text = f"can be at most {limit}"
        elif kind == "choice":
            text = f"must be one of {e.get('expected', 'the choices offered')}"
        elif kind == "unknown":
            text = "is not something this form takes"
        else:
            text = re.sub(r"^Value error, ", "", str(e.get("message", "is not valid")))
        parts.append(f"{label} {text}")
    return "; ".join(parts).replace("`", "") + "."


def for_people(error: Any, labels: Mapping[str, str] | None = None) -> str:
    """An operation's error, worded for a model, as a person filling in the form reads it ("Note is required.").
    Given the error itself, its structured problems are worded (no English to parse); given only its message (a
    string), the message is reworded."""
    names = {**LABELS, **(labels or {})}
    structured = getattr(error, "details", {}).get("errors") if not isinstance(error, str) else None
    if structured:
        return _structured_for_people(structured, names)
    message = error if isinstance(error, str) else str(getattr(error, "message", error))
    found = re.fullmatch(r"Invalid arguments for \w+: (.*)", message, re.S)
    if not found:
        text = (message[:1].upper() + message[1:]).replace("`", "").rstrip()
        return text if text.endswith((".", "!", "?", ")")) else text + "."
    parts = []
    for part in re.split(r"; (?=')", found.group(1)):
        field = re.fullmatch(r"'([^']+)'(?:: | )(.*)", part, re.S)
        if not field:
            parts.append(part)
            continue
        name, text = field.groups()
        if text.startswith("String should match pattern"):  # the pattern itself means nothing to a person
            text = _NOT_A.get(name, "is not in a form Harmonia accepts")
        for pattern, words in _CHECKS:
            if pattern.fullmatch(text):
                text = pattern.sub(words, text)
                break
        parts.append(f"{names.get(name, name.replace('_', ' ').capitalize())} {text}")
    return "; ".join(parts).replace("`", "") + "."
