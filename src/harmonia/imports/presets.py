"""Which column is which: the export columns of the CRMs brokers leave, and the targets a column can map to.

Headers are compared squeezed (lower case, letters and digits only), so "E-mail Address", "email_address" and
"EmailAddress" are one header. A preset is the generic names plus the CRM's own (its report labels and its API
names); `auto` picks the preset whose own columns the header holds most of. Any column can also be mapped by hand
to a standard target or to a custom field (`custom:NAME`, or `custom_date:NAME` for a date).
"""

from __future__ import annotations

import re

__all__ = [
    "CONSENT_TARGETS",
    "IDENTITY_TARGETS",
    "PRESETS",
    "STANDARD_TARGETS",
    "guess_preset",
    "squeeze",
    "targets_for",
]

STANDARD_TARGETS: dict[str, str] = {
    "first_name": "first name",
    "last_name": "last name",
    "full_name": "whole name, split at the last space",
    "email": "email address",
    "phone": "phone number",
    "mobile_phone": "mobile number (preferred over phone for the contact's number)",
    "title": "job title",
    "timezone": "IANA timezone",
    "company": "company name: the contact's account, matched by domain then name, or created",
    "website": "company website or domain",
    "owner_email": "the owner, by the email of a user of this workspace",
    "tags": "tags, separated by commas or semicolons",
    "email_opt_out": "true when the person opted out of email",
    "sms_opt_out": "true when the person opted out of text messages",
    "call_opt_out": "true when the person must not be called (Do Not Call)",
    "dnd": "do not disturb on every channel",
    "dnd_email": "do not disturb by email",
    "dnd_sms": "do not disturb by SMS",
    "dnd_call": "do not disturb by phone",
    "email_consent": "explicit email consent: subscribed / unsubscribed",
    "sms_consent": "explicit SMS consent: opted_in / opted_out",
    "call_consent": "explicit call consent: opted_in / opted_out",
    "ignore": "not imported",
}
IDENTITY_TARGETS = ("first_name", "last_name", "full_name", "email", "phone", "mobile_phone")
CONSENT_TARGETS = ("email_consent", "sms_consent", "call_consent")


def squeeze(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def _names(pairs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {squeeze(name): target for target, names in pairs.items() for name in names}


GENERIC = _names(
    {
        "first_name": ("First Name", "Firstname", "Given Name", "First"),
        "last_name": ("Last Name", "Lastname", "Surname", "Family Name", "Last"),
        "full_name": ("Name", "Full Name", "Contact Name", "Contact"),
        "email": ("Email", "E-mail", "Email Address", "Work Email", "Primary Email"),
        "phone": ("Phone", "Phone Number", "Telephone", "Work Phone", "Business Phone", "Primary Phone"),
        "mobile_phone": ("Mobile", "Mobile Phone", "Cell", "Cell Phone", "Mobile Number"),
        "title": ("Title", "Job Title", "Position"),
        "timezone": ("Timezone", "Time Zone"),
        "company": ("Company", "Company Name", "Business Name", "Account", "Account Name", "Organization", "Business"),
        "website": ("Website", "Web Site", "Domain", "Company Domain", "URL", "Company Website"),
        "owner_email": ("Owner Email", "Owner", "Assigned To", "Assigned User Email"),
        "tags": ("Tags", "Tag", "Labels"),
    }
)

PRESETS: dict[str, dict[str, str]] = {
    # Salesforce Leads and Contacts reports, by report label and by API name (Data Export / Data Loader).
    "salesforce": _names(
        {
            "first_name": ("FirstName",),
            "last_name": ("LastName",),
            "mobile_phone": ("MobilePhone",),
            "company": ("Account Name", "Company / Account", "Company"),
            "website": ("Website",),
            "owner_email": ("Owner Email", "Lead Owner Email", "Contact Owner Email", "Owner.Email"),
            "email_opt_out": ("Email Opt Out", "HasOptedOutOfEmail"),
            "call_opt_out": ("Do Not Call", "DoNotCall"),
            "ignore": (
                "Lead ID",
                "Contact ID",
                "Id",
                "Fax Opt Out",
                "HasOptedOutOfFax",
                "Lead Owner",
                "Contact Owner",
                "OwnerId",
                "AccountId",
            ),
            "custom:salesforce_id": ("Lead ID 18", "Contact ID 18"),
            "custom:lead_source": ("Lead Source", "LeadSource"),
            "custom:lead_status": ("Lead Status", "Status"),
            "custom:industry": ("Industry",),
            "custom:state": ("State/Province", "State", "Mailing State/Province", "MailingState"),
            "custom_date:source_created_at": ("Created Date", "CreatedDate", "Create Date"),
        }
    ),
    # HubSpot contact exports (property labels).
    "hubspot": _names(
        {
            "phone": ("Phone Number",),
            "mobile_phone": ("Mobile Phone Number",),
            "title": ("Job Title",),
            "company": ("Company Name", "Associated Company"),
            "website": ("Website URL", "Company Domain Name"),
            "owner_email": ("Contact owner", "HubSpot Owner Email"),
            "email_opt_out": (
                "Unsubscribed from all email",
                "Opted out of all email",
                "Opted out of email: Marketing Information",
            ),
            "custom:hubspot_marketing_contact_status": ("Marketing contact status",),
            "custom:hubspot_record_id": ("Record ID",),
            "custom:lifecycle_stage": ("Lifecycle Stage",),
            "custom:lead_status": ("Lead Status",),
            "custom:state": ("State/Region",),
            "custom_date:source_created_at": ("Create Date",),
        }
    ),
    # GoHighLevel (LeadConnector) contact exports.
    "gohighlevel": _names(
        {
            "company": ("Business Name", "Company Name"),
            "owner_email": ("Assigned To", "Assigned User"),
            "tags": ("Tags",),
            "dnd": ("DND", "DND All"),
            "dnd_email": ("DND Email", "DND Emails"),
            "dnd_sms": ("DND SMS", "DND Text", "DND Text Messages"),
            "dnd_call": ("DND Calls", "DND Call", "DND Calls & Voicemails"),
            "custom:ghl_contact_id": ("Contact Id",),
            "custom:source": ("Source",),
            "custom:contact_type": ("Contact Type",),
            "custom_date:source_created_at": ("Created", "Date Created"),
        }
    ),
    # Close lead and contact exports.
    "close": _names(
        {
            "full_name": ("contact_name", "display_name", "Contact Name"),
            "email": ("primary_email", "contact_primary_email", "email_work", "email_office"),
            "phone": ("primary_phone", "contact_primary_phone", "phone_office", "phone_work"),
            "mobile_phone": ("phone_mobile",),
            "company": ("lead_name", "lead_display_name", "Company", "Lead Name"),
            "website": ("url", "lead_url"),
            "owner_email": ("lead_owner", "Lead Owner"),
            "custom:close_lead_id": ("lead_id",),
            "custom:close_contact_id": ("contact_id",),
            "custom:lead_status": ("lead_status", "status_label", "Lead Status"),
            "custom_date:source_created_at": ("date_created", "lead_date_created"),
        }
    ),
}


def targets_for(preset: str) -> dict[str, str]:
    """Squeezed header → target for `preset` (the generic names, overridden by the CRM's own)."""
    return {**GENERIC, **PRESETS.get(preset, {})}


def guess_preset(header: list[str]) -> str:
    """The CRM whose own export columns the header holds most of; `generic` when none stands out."""
    squeezed = {squeeze(h) for h in header}
    scores = {name: len(squeezed & set(names)) for name, names in PRESETS.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= 2 else "generic"
