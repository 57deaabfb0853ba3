"""The floor under the seed's danger story: an imported list arrives with consent unknown everywhere, and nothing
can be sent to it — with outbound on — until a person records consent."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from harmonia.errors import HarmoniaError
from harmonia.models import Contact
from harmonia.services.tenancy import set_outbound

from ..conftest import Workspace
from .conftest import SALESFORCE_HEADER

CSV = f"""{SALESFORCE_HEADER}
Maria,Lopez,Owner,Lopez Tacos LLC,maria@lopeztacos.example,(305) 555-0101,,false,false,Web
Dan,Reyes,CFO,Reyes Trucking,dan@reyestrucking.example,212-555-0102,,true,true,Referral
"""


def _contacts(ws: Workspace) -> list[Contact]:
    with ws.db.unit_of_work(ws.actor(), write=False) as uow:
        return list(uow.session.scalars(select(Contact).order_by(Contact.email)))


def test_imported_contacts_have_source_import_and_unknown_consent_on_every_channel(acme: Workspace) -> None:
    result = acme.call("imports_start", content=CSV, preset="salesforce")
    assert (result["rows"], result["created"], result["failed"]) == (2, 2, 0)
    job = acme.call("jobs_get", job_id=result["job_id"])
    assert job["status"] == "done" and job["done"] == 2
    dan, maria = _contacts(acme)
    assert maria.source == "import"
    assert (maria.email_consent, maria.sms_consent, maria.call_consent) == ("unknown", "unknown", "unknown")
    assert maria.phone == "+13055550101"
    # the opt-out columns always win
    assert (dan.email_consent, dan.call_consent, dan.sms_consent) == ("unsubscribed", "opted_out", "unknown")


@pytest.mark.parametrize(
    "tool, args", [("email_send", {"subject": "Hi", "body": "Offer"}), ("sms_send", {"body": "Hi"})]
)
def test_a_send_to_an_imported_contact_is_refused_naming_the_consent_rule_with_outbound_on(
    acme: Workspace, tool: str, args: dict[str, str]
) -> None:
    set_outbound(acme.db, acme.slug, True, actor=acme.owner_actor(), reason="test")
    acme.call("imports_start", content=CSV, preset="salesforce")
    maria = next(c for c in _contacts(acme) if c.first_name == "Maria")
    with pytest.raises(HarmoniaError) as info:
        acme.call(tool, contact_id=maria.id, **args)
    channel = "email" if tool == "email_send" else "sms"
    assert f"{channel}_consent" in info.value.message
    assert "unknown" in info.value.message
