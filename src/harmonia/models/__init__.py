"""All SQLAlchemy models. Importing this package registers every table on `Base.metadata`."""

from .activities import (
    MESSAGE_STATUSES,
    ActivityCount,
    Calendar,
    Conversation,
    Event,
    Message,
    Note,
    SendConfirmation,
    Task,
)
from .audit import AuditEvent
from .base import Base, TenantOwned, TenantScoped, utcnow
from .byo import TenantSecret, TenantTool, Upstream
from .consent import ConsentEvent
from .contacts import CHANNELS, Account, Contact, Tag, Tagging
from .deals import Opportunity, Pipeline, Stage, StageChange, StageFlowCount
from .events import DomainEventRow
from .installation import Installation
from .jobs import JOB_STATUSES, Job, JobItem
from .mca import CashflowMonth, Lender, LenderOutcomeCount, Submission
from .oauth import OAuthClient, OAuthCode
from .tenancy import ROLES, SCOPES, AccessToken, AuditHead, Scope, Tenant, User, WebSession
from .workflows import Enrollment, StepRun, Workflow, WorkflowVersion

__all__ = [
    "CHANNELS",
    "JOB_STATUSES",
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
    "ConsentEvent",
    "Contact",
    "Conversation",
    "DomainEventRow",
    "Enrollment",
    "Event",
    "Installation",
    "Job",
    "JobItem",
    "Lender",
    "LenderOutcomeCount",
    "Message",
    "Note",
    "OAuthClient",
    "OAuthCode",
    "Opportunity",
    "Pipeline",
    "Scope",
    "SendConfirmation",
    "Stage",
    "StageChange",
    "StageFlowCount",
    "StepRun",
    "Submission",
    "Tag",
    "Tagging",
    "Task",
    "Tenant",
    "TenantOwned",
    "TenantScoped",
    "TenantSecret",
    "TenantTool",
    "Upstream",
    "User",
    "WebSession",
    "Workflow",
    "WorkflowVersion",
    "utcnow",
]
