"""Text formats shared by validation and the published schemas, written so Python's `re` and the ECMA regexes of
JSON Schema tools read them the same way (ASCII classes only: `\\s` differs between the two on characters like U+0085).
"""

from __future__ import annotations

__all__ = ["EMAIL_CORE", "EMAIL_PATTERN"]

EMAIL_CORE = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
EMAIL_PATTERN = rf"^{EMAIL_CORE}$"
