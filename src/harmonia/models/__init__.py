"""All SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from .activities import MESSAGE_STATUSES, ActivityCount, Calendar, Conversation, Event, Message, Note, Task
from .audit import AuditEvent
from .base import Base, TenantOwned, TenantScoped, utcnow
from .contacts import CHANNELS, Account, Contact, Tag, Tagging
from .deals import Opportunity, Pipeline, Stage, StageChange
from .events import DomainEventRow
from .mca import CashflowMonth, Lender, Submission
from .oauth import OAuthClient, OAuthCode
from .tenancy import ROLES, SCOPES, AccessToken, AuditHead, Tenant, User

__all__ = [
    "CHANNELS",
    "MESSAGE_STATUSES",
    "ROLES",
    "SCOPES",
    "AccessToken",
    "Account",
    "ActivityCount",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Calendar",
    "CashflowMonth",
    "Contact",
    "Conversation",
    "DomainEventRow",
    "Event",
    "Lender",
    "Message",
    "Note",
    "OAuthClient",
    "OAuthCode",
    "Opportunity",
    "Pipeline",
    "Stage",
    "StageChange",
    "Submission",
    "Tag",
    "Tagging",
    "Task",
    "Tenant",
    "TenantOwned",
    "TenantScoped",
    "User",
    "utcnow",
]
