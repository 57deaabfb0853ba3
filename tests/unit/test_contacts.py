"""Contacts: duplicates refused with the existing contact named, phones normalised, tags by the rules."""

from __future__ import annotations

import pytest

from harmonia.errors import Conflict, InvalidArguments, NotFound

from ..conftest import Workspace


def test_a_duplicate_email_is_refused_and_the_existing_contact_is_named(acme: Workspace) -> None:
    first = acme.call("contacts_create", first_name="Jane", last_name="Doe", email="Jane@Example.com")
    with pytest.raises(Conflict) as info:
        acme.call("contacts_create", first_name="J.", email="jane@example.com ")
    assert first["id"] in info.value.message and "Jane Doe" in info.value.message
    assert info.value.details["existing_id"] == first["id"]


def test_a_duplicate_phone_in_another_format_is_refused(acme: Workspace) -> None:
    acme.call("contacts_create", first_name="Raj", phone="+1 (555) 201-3344")
    with pytest.raises(Conflict, match="phone"):
        acme.call("contacts_create", first_name="R", phone="555.201.3344")


def test_the_same_email_in_two_tenants_is_two_contacts(acme: Workspace, rival: Workspace) -> None:
    a = acme.call("contacts_create", email="shared@example.com")
    b = rival.call("contacts_create", email="shared@example.com")
    assert a["id"] != b["id"]


def test_phones_are_stored_in_e164_and_nonsense_is_refused(acme: Workspace) -> None:
    assert acme.call("contacts_create", phone="(212) 555-0147")["phone"] == "+12125550147"
    with pytest.raises(InvalidArguments, match=r"E\.164"):
        acme.call("contacts_create", phone="12")


def test_imported_contacts_start_with_unknown_sms_and_call_consent(acme: Workspace) -> None:
    c = acme.call("contacts_create", email="imp@example.com", source="import")
    assert c["consent"] == {"email": "subscribed", "sms": "unknown", "call": "unknown"}


def test_an_unknown_tag_is_refused_unless_asked_to_create_it(acme: Workspace) -> None:
    with pytest.raises(NotFound, match="create_missing"):
        acme.call("contacts_create", email="a@example.com", tags=["hot lead"])
    c = acme.call("contacts_create", email="a@example.com", tags=["hot lead"], create_missing_tags=True)
    assert c["tags"] == ["hot lead"]


def test_a_near_duplicate_tag_is_named_in_the_refusal(acme: Workspace) -> None:
    acme.call("contacts_create", email="a@example.com", tags=["lead"], create_missing_tags=True)
    with pytest.raises(Conflict) as info:
        acme.call("contacts_create", email="b@example.com", tags=["leads"], create_missing_tags=True)
    assert "'lead'" in info.value.message


def test_listing_pages_with_a_cursor_without_repeats_or_gaps(acme: Workspace) -> None:
    made = {acme.call("contacts_create", email=f"p{i}@example.com")["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        args = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = acme.call("contacts_list", **args)
        seen += [c["id"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 7


def test_a_garbled_cursor_is_refused_with_what_to_do(acme: Workspace) -> None:
    with pytest.raises(InvalidArguments, match="next_cursor"):
        acme.call("contacts_list", cursor="not-a-cursor")


def test_listing_by_an_unknown_tag_names_the_tags_that_exist(acme: Workspace) -> None:
    acme.call("contacts_create", email="a@example.com", tags=["vip"], create_missing_tags=True)
    with pytest.raises(NotFound, match="tags are: vip"):
        acme.call("contacts_list", tag=["gold"])


def test_updating_consent_records_when_and_how(acme: Workspace) -> None:
    c = acme.call("contacts_create", email="a@example.com", phone="+12125550100")
    updated = acme.call("contacts_update", acme.actor(channel="ui"), contact_id=c["id"], sms_consent="opted_in",
                        consent_source="signed application form")  # fmt: skip
    assert updated["consent"]["sms"] == "opted_in"


def test_date_times_are_iso_text_a_bare_number_is_refused_and_no_offset_means_utc(acme: Workspace) -> None:
    acme.call("contacts_create", email="a@example.com")
    with pytest.raises(InvalidArguments, match="ISO 8601"):
        acme.call("contacts_list", updated_since=0.5)
    assert len(acme.call("contacts_list", updated_since="2020-01-01T00:00:00")["items"]) == 1
    assert acme.call("contacts_list", updated_since="2999-01-01T00:00:00Z")["items"] == []
