"""Accounts (merchants): the list, one account with what hangs off it, and create-or-update by id or domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from ..db import UnitOfWork
from ..errors import InvalidArguments
from ..ids import new_id
from ..models import Account, CashflowMonth, Contact, Opportunity, User
from .paging import page
from .records import apply_changes, get_or_404

__all__ = ["AccountView", "cashflow_summary", "get_account", "list_accounts", "normalize_domain", "upsert_account"]


def list_accounts(
    uow: UnitOfWork,
    *,
    industry: str | None,
    state: str | None,
    owner_id: str | None,
    updated_since: datetime | None,
    limit: int | None,
    cursor: str | None,
) -> tuple[list[Account], str | None]:
    """Most recently changed first. `industry` is a name, or a NAICS prefix when it is all digits."""
    stmt: Select[Any] = select(Account)
    if industry:
        if industry.isdigit():
            stmt = stmt.where(Account.naics.startswith(industry))
        else:
            stmt = stmt.where(Account.industry == industry)
    if state:
        stmt = stmt.where(Account.state == state.upper())
    if owner_id:
        stmt = stmt.where(Account.owner_id == owner_id)
    if updated_since:
        stmt = stmt.where(Account.updated_at >= updated_since)
    return page(uow.session, stmt, sort=Account.updated_at, tiebreak=Account.id, limit=limit, cursor=cursor)


@dataclass
class AccountView:
    account: Account
    contacts: list[Contact]  # by last name, at most 20
    deals: list[Opportunity]  # most recently changed first, at most 20
    cashflow: dict[str, Any] | None


def get_account(uow: UnitOfWork, account_id: str) -> AccountView:
    s = uow.session
    a = get_or_404(uow, Account, account_id, "account")
    contacts = s.scalars(select(Contact).where(Contact.account_id == a.id).order_by(Contact.last_name).limit(20))
    deals = s.scalars(
        select(Opportunity).where(Opportunity.account_id == a.id).order_by(Opportunity.updated_at.desc()).limit(20)
    )
    months = list(
        s.scalars(
            select(CashflowMonth).where(CashflowMonth.account_id == a.id).order_by(CashflowMonth.month.desc()).limit(7)
        )
    )
    return AccountView(a, list(contacts), list(deals), cashflow_summary(months))


def cashflow_summary(months: list[CashflowMonth]) -> dict[str, Any] | None:
    """Averages over the newest six whole months (a partial month would understate them); None without any."""
    full = [m for m in months if not m.is_partial][:6]
    if not full:
        return None
    n = len(full)
    return {
        "months": [m.month for m in reversed(full)],
        "avg_deposits": round(sum(m.deposits_total for m in full) / n, 2),
        "avg_revenue": round(sum(m.true_revenue or m.deposits_total for m in full) / n, 2),
        "avg_daily_balance": round(sum(m.avg_daily_balance for m in full) / n, 2),
        "nsf_total": sum(m.nsf_count for m in full),
        "negative_days_total": sum(m.negative_days for m in full),
    }


def normalize_domain(domain: str) -> str:
    return domain.lower().removeprefix("https://").removeprefix("www.").strip("/")


def upsert_account(
    uow: UnitOfWork, account_id: str | None, values: dict[str, Any]
) -> tuple[Account, bool, dict[str, Any]]:
    """Update the account with this id, or the one with `values["domain"]`, or else create one (a name required).
    Returns (account, created, the previous values of what changed). `values` are already normalized."""
    if values.get("owner_id"):
        get_or_404(uow, User, values["owner_id"], "user", field="owner_id")
    account = None
    if account_id:
        account = get_or_404(uow, Account, account_id, "account")
    elif values.get("domain"):
        account = uow.session.scalar(select(Account).where(Account.domain == values["domain"]).limit(1))
    if account is None:
        if not values.get("name"):
            raise InvalidArguments("a new account needs a `name` (no account matched the id or domain given)")
        account = Account(id=new_id("account"), **values)
        uow.session.add(account)
        return account, True, {}
    before = apply_changes(account, values)
    uow.session.flush()
    return account, False, before
