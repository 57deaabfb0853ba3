"""Cells a spreadsheet will never run: a value that starts like a formula (`=cmd|' /C calc'!A0`, `+`, `-`, `@`, a
tab or a carriage return) is written with a leading apostrophe, which spreadsheets read as "this is text" (the
OWASP guidance for CSV injection). Numbers, including +1 phone numbers and negative amounts, are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["safe_cell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?[0-9][0-9 .,()-]*$")


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text
