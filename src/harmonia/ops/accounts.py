"""Account (merchant) operations: list, get with contacts, deals and a cashflow summary, upsert."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..models import Account
from ..services import accounts as svc
from ..services import tags as tag_service
from .common import AccountId, Page, PageArgs, Since, UserId
from .registry import OpContext, Operation, Scope
from .schema import NOT_BLANK, REST_ONLY, InputModel, OutputModel, rest_only

__all__ = ["OPERATIONS"]

ACCOUNT_FIELDS = ("name", "legal_name", "domain", "industry", "naics", "state", "phone", "owner_id",
                  "business_start_date", "entity_type", "owner_fico")  # fmt: skip


class AccountOut(OutputModel):
    id: str
    name: str
    domain: str | None = None
    industry: str | None = None
    naics: str | None = None
    state: str | None = None
    phone: str | None = None
    owner_id: str | None = None
    entity_type: str | None = None
    business_start_date: date | None = None
    tags: list[str] | None = None
    last_activity_at: datetime | None = None
    updated_at: datetime | None = None


def account_out(a: Account, tags: list[str] | None = None) -> AccountOut:
    return AccountOut(
        id=a.id,
        name=a.name,
        domain=a.domain,
        industry=a.industry,
        naics=a.naics,
        state=a.state,
        phone=a.phone,
        owner_id=a.owner_id,
        entity_type=a.entity_type,
        business_start_date=a.business_start_date,
        tags=tags or None,
        last_activity_at=a.last_activity_at,
        updated_at=a.updated_at,
    )


class AccountsList(PageArgs):
    industry: str | None = Field(None, description="name or NAICS prefix")
    state: str | None = Field(None, min_length=2, max_length=2)
    owner_id: UserId | None = None
    updated_since: Since | None = None


def accounts_list(ctx: OpContext, args: AccountsList) -> Page[AccountOut]:
    rows, cursor = svc.list_accounts(ctx.uow, industry=args.industry, state=args.state, owner_id=args.owner_id,
                                     updated_since=args.updated_since, limit=args.limit, cursor=args.cursor)  # fmt: skip
    tags = tag_service.names_for(ctx.uow, "account", [a.id for a in rows])
    return Page[AccountOut](items=[account_out(a, tags.get(a.id)) for a in rows], next_cursor=cursor)


class AccountsGet(InputModel):
    account_id: AccountId


class AccountDetail(AccountOut):
    legal_name: str | None = None
    owner_fico: int | None = None
    contacts: list[dict[str, Any]] = []
    deals: list[dict[str, Any]] = []
    cashflow: dict[str, Any] | None = None


def accounts_get(ctx: OpContext, args: AccountsGet) -> AccountDetail:
    view = svc.get_account(ctx.uow, args.account_id)
    a, contacts, deals, summary = view.account, view.contacts, view.deals, view.cashflow
    base = account_out(a, tag_service.names_for(ctx.uow, "account", [a.id]).get(a.id))
    return AccountDetail(
        **base.model_dump(exclude_none=True),
        legal_name=a.legal_name,
        owner_fico=a.owner_fico,
        contacts=[
            {
                k: v
                for k, v in {
                    "id": c.id,
                    "name": c.full_name,
                    "title": c.title,
                    "email": c.email,
                    "phone": c.phone,
                }.items()
                if v
            }
            for c in contacts
        ],
        deals=[
            {
                k: v
                for k, v in {
                    "id": d.id,
                    "name": d.name,
                    "status": d.status,
                    "amount": d.amount,
                    "stage_id": d.stage_id,
                }.items()
                if v is not None
            }
            for d in deals
        ],
        cashflow=summary,
    )


class AccountsUpsert(InputModel):
    # A domain alone is fine when it finds an account, but the schema cannot know that: it asks for an id or a name.
    model_config = ConfigDict(json_schema_extra={REST_ONLY: {"anyOf": [
        {"required": ["account_id"], "properties": {"account_id": {"type": "string"}}},
        {"required": ["name"], "properties": {"name": {"type": "string", "pattern": NOT_BLANK}}}]}})  # fmt: skip
    account_id: AccountId | None = Field(None, json_schema_extra=rest_only(description="update this account"))
    domain: str | None = Field(
        None, max_length=200, json_schema_extra=rest_only(description="or find the account by domain")
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    legal_name: str | None = Field(None, max_length=200)
    industry: str | None = Field(None, max_length=120)
    naics: str | None = Field(None, pattern=r"^\d{2,6}$")
    state: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")
    phone: str | None = Field(None, max_length=32, description="any format")
    owner_id: UserId | None = None
    business_start_date: date | None = None
    entity_type: Literal["llc", "s_corp", "c_corp", "sole_prop", "partnership", "nonprofit"] | None = None
    owner_fico: int | None = Field(None, ge=300, le=850)


class UpsertResult(AccountOut):
    created: bool


def accounts_upsert(ctx: OpContext, args: AccountsUpsert) -> UpsertResult:
    values = args.model_dump(exclude={"account_id"}, exclude_unset=True, exclude_none=True)
    if "domain" in values:
        values["domain"] = svc.normalize_domain(values["domain"])
    if "state" in values:
        values["state"] = values["state"].upper()
    account, created, before = svc.upsert_account(ctx.uow, args.account_id, values)
    if created:
        ctx.audit_target("account", account.id, after=values)
        return UpsertResult(**account_out(account).model_dump(exclude_none=True), created=True)
    ctx.audit_target("account", account.id, before=before, after={k: values[k] for k in before})
    tags = tag_service.names_for(ctx.uow, "account", [account.id]).get(account.id)
    return UpsertResult(**account_out(account, tags).model_dump(exclude_none=True), created=False)


OPERATIONS = [
    Operation(
        name="accounts_list",
        title="List accounts",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="Accounts (merchants), most recently changed first.",
        input=AccountsList,
        output=Page[AccountOut],
        handler=accounts_list,
        rest=("GET", "/accounts"),
    ),
    Operation(
        name="accounts_get",
        title="Get an account",
        scope=Scope.READ,
        read_only=True,
        idempotent=True,
        description="One account with its contacts, deals and a cashflow summary (deposits, balances, NSFs).",
        input=AccountsGet,
        output=AccountDetail,
        handler=accounts_get,
        rest=("GET", "/accounts/{account_id}"),
    ),
    Operation(
        name="accounts_upsert",
        title="Create or update an account",
        scope=Scope.WRITE,
        read_only=False,
        idempotent=True,
        description="Update the account with this account_id or domain, or else create it (name required); "
        "`created` says which.",
        input=AccountsUpsert,
        output=UpsertResult,
        handler=accounts_upsert,
        rest=("PUT", "/accounts"),
    ),
]
