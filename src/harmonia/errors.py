"""The error tree. Every error carries a message written for the caller (often a model) that says what to do next.

    HarmoniaError                      500  something we did not expect; the message never carries internals
     ├── Unauthenticated               401  no token, unknown token, revoked or expired token
     ├── ScopeDenied                   403  the token lacks the scope the operation needs (names it)
     ├── Forbidden                     403  the user's role does not allow it (e.g. outbound on needs an owner)
     ├── NotFound                      404  an id, stage, tag or record that does not exist *in this tenant*
     ├── InvalidArguments              422  arguments fail validation; lists each field and what is wrong
     ├── Conflict                      409  duplicate contact, tag near-duplicate, idempotency key reused…
     ├── OutboundBlocked               409  a send refused by the gate: `blocked: outbound_off`, `blocked: sms_consent`…
     └── RateLimited                   429  a per-tenant send budget is spent

Surfaces translate them: MCP → `isError` result with `structuredContent.error`, REST → problem+json with the status,
CLI → message on stderr and exit code 2. "Exists in another tenant" is always reported exactly as "not found".
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "Forbidden",
    "HarmoniaError",
    "InvalidArguments",
    "NotFound",
    "OutboundBlocked",
    "RateLimited",
    "ScopeDenied",
    "Unauthenticated",
]


class HarmoniaError(Exception):
    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    outcome: ClassVar[str] = "error"  # the audit outcome this error records

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class Unauthenticated(HarmoniaError):
    code = "unauthenticated"
    http_status = 401
    outcome = "denied"


class ScopeDenied(HarmoniaError):
    code = "insufficient_scope"
    http_status = 403
    outcome = "denied"

    def __init__(self, operation: str, required: str) -> None:
        super().__init__(
            f"'{operation}' needs the {required} scope, which this token does not carry. "
            f"Ask a workspace admin for a token with {required}.",
            required_scope=required,
            why=f"missing {required}",
        )
        self.required = required


class Forbidden(HarmoniaError):
    code = "forbidden"
    http_status = 403
    outcome = "denied"


class NotFound(HarmoniaError):
    code = "not_found"
    http_status = 404


class InvalidArguments(HarmoniaError):
    code = "invalid_arguments"
    http_status = 422


class Conflict(HarmoniaError):
    code = "conflict"
    http_status = 409


class OutboundBlocked(HarmoniaError):
    code = "blocked"
    http_status = 409
    outcome = "blocked"

    def __init__(self, rule: str, message: str, **details: Any) -> None:
        super().__init__(f"blocked: {rule}. {message}", rule=rule, **details)
        self.rule = rule


class RateLimited(HarmoniaError):
    code = "rate_limited"
    http_status = 429
    outcome = "blocked"
