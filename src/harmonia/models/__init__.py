"""All SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from .activities import MESSAGE_STATUSES, ActivityCount, Calendar, Conversation, Event, Message, Note, Task
from .audit import AuditEvent
from .base import Base, TenantOwned, TenantScoped, utcnow
from .contacts import CHANNELS, Account, Contact, Tag, Tagging
from .deals import Opportunity, Pipeline, Stage, StageChange
from .events import DomainEventRow
from .mca import CashflowMonth, Lender, Submission
from .tenancy import ROLES, SCOPES, AccessToken, AuditHead, Tenant, User
from .workflows import Enrollment, StepRun, Workflow, WorkflowVersion

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
    "Enrollment",
    "Event",
    "Lender",
    "Message",
    "Note",
    "Opportunity",
    "Pipeline",
    "Stage",
    "StageChange",
    "StepRun",
    "Submission",
    "Tag",
    "Tagging",
    "Task",
    "Tenant",
    "TenantOwned",
    "TenantScoped",
    "User",
    "Workflow",
    "WorkflowVersion",
    "utcnow",
]
