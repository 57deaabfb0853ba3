"""One row of the file → a `Draft` of the contact it describes, or a `Failure` naming the row, column and reason.

Values are normalised with the libraries of their field: phonenumbers (E.164, the workspace's region for numbers
written without a country code), email-validator (syntax only: an import never waits on DNS), python-dateutil for
dates. Consent is never invented here: the draft carries only what the file says (explicit consent columns, opt-out
and do-not-disturb flags); what an import *does* with it is decided where it is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import available_timezones

from .mapping import Mapping

__all__ = ["Draft", "Failure", "Normalizer"]

TRUE = {"true", "yes", "y", "1", "x", "t", "checked", "on", "optedout", "opted out", "unsubscribed", "dnd"}
FALSE = {"false", "no", "n", "0", "f", "", "unchecked", "off", "none", "-"}
_EMAIL_CONSENT = {"subscribed": "subscribed", "optedin": "subscribed", "yes": "subscribed", "true": "subscribed",
                  "unsubscribed": "unsubscribed", "optedout": "unsubscribed", "no": "unsubscribed",
                  "false": "unsubscribed", "bounced": "bounced"}  # fmt: skip
_PHONE_CONSENT = {"optedin": "opted_in", "subscribed": "opted_in", "yes": "opted_in", "true": "opted_in",
                  "optedout": "opted_out", "unsubscribed": "opted_out", "no": "opted_out", "false": "opted_out"}  # fmt: skip
_LIMITS = {"first_name": 100, "last_name": 100, "title": 120, "company": 200}
MAX_CUSTOM = 1000
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
# The everyday address, checked in microseconds; anything else goes to email-validator. Every address this accepts
# email-validator accepts too (no leading, trailing or doubled dots; letter-only top-level domain).
_PLAIN_EMAIL = re.compile(r"^[a-z0-9_+-]+(\.[a-z0-9_+-]+)*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$")
_NANP_WRITTEN = re.compile(r"^(\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Draft:
    row: int
    values: dict[str, Any]  # contact columns: first_name, last_name, email, phone, title, timezone
    custom: dict[str, Any] = field(default_factory=dict)
    company: str | None = None
    domain: str | None = None
    owner_email: str | None = None
    tags: list[str] = field(default_factory=list)
    consent: dict[str, str] = field(default_factory=dict)  # channel → explicit value from a consent column
    opt_out: set[str] = field(default_factory=set)  # channels the file says the person opted out of
    dnd: bool = False
    dnd_channels: list[str] = field(default_factory=list)


@dataclass
class Failure:
    row: int
    column: str
    reason: str
    cells: list[str]


class _Bad(Exception):
    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason


class Normalizer:
    def __init__(self, mapping: Mapping, region: str = "US") -> None:
        self.mapping = mapping
        self.region = region
        self.width = len(mapping.header)
        self._zones: set[str] | None = None
        self._columns = [(i, target, mapping.header[i]) for i, target in sorted(mapping.columns.items())]

    def __call__(self, row: int, cells: list[str], unreadable: str | None = None) -> Draft | Failure:
        if unreadable:
            return Failure(row, "", unreadable, cells)
        if len(cells) > self.width and any(c.strip() for c in cells[self.width :]):
            return Failure(row, "", f"the row has {len(cells)} cells but the header names {self.width} columns; "
                           "a value probably holds an unquoted delimiter", cells[: self.width])  # fmt: skip
        try:
            return self._draft(row, cells)
        except _Bad as bad:
            return Failure(row, bad.column, bad.reason, cells)

    def _draft(self, row: int, cells: list[str]) -> Draft:
        draft = Draft(row=row, values={})
        given: dict[str, tuple[str, str]] = {}  # target → (column, value): the first non-empty column wins
        width = len(cells)
        for i, target, column in self._columns:
            value = cells[i].strip() if i < width else ""
            if value and target not in given:
                given[target] = (column, value)
            elif value and target == "tags":
                given[target] = (given[target][0], f"{given[target][1]},{value}")
        for target, (column, value) in given.items():
            self._apply(draft, target, column, value)
        first, last = draft.values.get("first_name"), draft.values.get("last_name")
        if "full_name" in given and not (first or last):
            column, whole = given["full_name"]
            first, _, last = whole.rpartition(" ") if " " in whole else (whole, "", "")
            self._text(draft, "first_name", column, first.strip())
            self._text(draft, "last_name", column, last.strip())
        phone = given.get("mobile_phone") or given.get("phone")
        if phone:
            draft.values["phone"] = self._phone(*phone)
        if not any(draft.values.get(k) for k in ("first_name", "last_name", "email", "phone")):
            raise _Bad("", "the row has no name, email or phone")
        return draft

    def _apply(self, draft: Draft, target: str, column: str, value: str) -> None:
        if target in ("first_name", "last_name", "title"):
            self._text(draft, target, column, value)
        elif target == "email":
            draft.values["email"] = self._email(column, value)
        elif target == "timezone":
            self._zones = self._zones or available_timezones()
            if value not in self._zones:
                raise _Bad(column, f"{value!r} is not an IANA timezone (like America/New_York)")
            draft.values["timezone"] = value
        elif target == "company":
            if len(value) > _LIMITS["company"]:
                raise _Bad(column, f"the company name is longer than {_LIMITS['company']} characters")
            draft.company = value
        elif target == "website":
            draft.domain = self._domain(column, value)
        elif target == "owner_email":
            draft.owner_email = value.lower() if "@" in value else None
        elif target == "tags":
            draft.tags = list(dict.fromkeys(t.strip() for t in re.split(r"[,;|]", value) if t.strip()))
        elif target.endswith("_opt_out"):
            if self._flag(column, value):
                draft.opt_out.add(target.removesuffix("_opt_out"))
        elif target == "dnd":
            draft.dnd = self._flag(column, value)
        elif target.startswith("dnd_"):
            if self._flag(column, value):
                draft.dnd_channels.append(target.removeprefix("dnd_"))
        elif target.endswith("_consent"):
            channel = target.removesuffix("_consent")
            table = _EMAIL_CONSENT if channel == "email" else _PHONE_CONSENT
            key = re.sub(r"[^a-z]", "", value.lower())
            if key not in ("", "unknown"):
                if key not in table:
                    raise _Bad(column, f"{value!r} is not a consent value ({', '.join(sorted(set(table.values())))})")
                draft.consent[channel] = table[key]
        elif target.startswith("custom_date:"):
            draft.custom[target.split(":", 1)[1]] = self._date(column, value)
        elif target.startswith("custom:"):
            if len(value) > MAX_CUSTOM:
                raise _Bad(column, f"the value is longer than {MAX_CUSTOM} characters")
            draft.custom[target.split(":", 1)[1]] = value
        # full_name, phone and mobile_phone are read after every column (see _draft)

    def _text(self, draft: Draft, target: str, column: str, value: str) -> None:
        if len(value) > _LIMITS[target]:
            raise _Bad(column, f"longer than {_LIMITS[target]} characters")
        draft.values[target] = value

    def _email(self, column: str, value: str) -> str:
        lowered = value.lower()
        if len(lowered) <= 254 and _PLAIN_EMAIL.match(lowered) and len(lowered.partition("@")[0]) <= 64:
            return lowered
        from email_validator import EmailNotValidError, validate_email

        try:
            return str(validate_email(value, check_deliverability=False).normalized).lower()
        except EmailNotValidError as exc:
            raise _Bad(column, f"{value!r} is not an email address ({exc})") from None

    def _phone(self, column: str, value: str) -> str:
        if self.region in ("US", "CA") and _NANP_WRITTEN.match(value):
            # The North American number as most lists write it; E.164 without the parser's 0.3 ms (same result).
            digits = re.sub(r"\D", "", value)
            digits = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
            if len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789":
                return f"+1{digits}"
        import phonenumbers

        try:
            parsed = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_possible_number(parsed):
            raise _Bad(column, f"{value!r} is not a phone number (write it with its country code, e.g. +15551234567)")
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))

    def _flag(self, column: str, value: str) -> bool:
        word = value.strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise _Bad(column, f"{value!r} is not a yes/no value (true/false, yes/no, 1/0)")

    def _domain(self, column: str, value: str) -> str:
        host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.strip().lower()).split("/", 1)[0].split(":", 1)[0]
        host = host.removeprefix("www.")
        if not _DOMAIN.match(host) or len(host) > 200:
            raise _Bad(column, f"{value!r} is not a website or domain")
        return host

    def _date(self, column: str, value: str) -> str:
        if _ISO_DATE.match(value):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                raise _Bad(column, f"{value!r} is not a date") from None
        from dateutil import parser

        try:
            return str(parser.parse(value).date().isoformat())
        except (ValueError, OverflowError):
            raise _Bad(column, f"{value!r} is not a date") from None
