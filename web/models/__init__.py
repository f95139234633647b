"""All models, imported so that ``Base.metadata`` knows every table (alembic, tests)."""

from web.models.agreements import Agreement
from web.models.audit import AuditLog
from web.models.craftsmen import (
    Availability,
    ConflictLink,
    Craftsman,
    CraftsmanHonour,
    CraftsmanSkill,
    Studio,
    craftsman_industry,
)
from web.models.demands import (
    Demand,
    DemandRole,
    DemandSkill,
    DemandStatus,
    DemandStatusEvent,
    demand_industry,
)
from web.models.engagements import (
    Attachment,
    Engagement,
    EngagementMember,
    Feedback,
    FollowUp,
    FollowUpNote,
    PointsEntry,
    RegionTarget,
    VisitLog,
)
from web.models.enterprises import Enterprise, enterprise_industry
from web.models.outcomes import Outcome, outcome_industry
from web.models.rounds import (
    MatchingRound,
    Notification,
    Proposal,
    RoundCraftsman,
    RoundDemand,
    RoundFeatures,
)
from web.models.summaries import (
    CompletionDays,
    CompletionMonth,
    CompletionValue,
    DemandMonth,
    EngagementMonth,
    IndustryMonth,
    MatchDays,
    MatchValue,
    OpenFollowUpDay,
    OpenMonth,
    RatingMonth,
    ServiceMonth,
)
from web.models.taxonomy import DemandCategory, HonourLevel, Industry, Region, Skill
from web.models.users import ApiToken, User

__all__ = [
    "Agreement", "ApiToken", "CompletionDays", "CompletionMonth", "CompletionValue", "MatchDays", "MatchValue", "DemandMonth", "OpenFollowUpDay", "OpenMonth", "RatingMonth", "Attachment", "AuditLog", "Availability", "ConflictLink", "Craftsman", "CraftsmanHonour",
    "CraftsmanSkill", "Demand", "DemandCategory", "DemandRole", "DemandSkill", "DemandStatus", "DemandStatusEvent", "Engagement", "EngagementMonth",
    "EngagementMember", "Enterprise", "Feedback", "FollowUp", "FollowUpNote", "HonourLevel", "Industry", "IndustryMonth",
    "MatchingRound", "Notification", "Outcome", "PointsEntry", "Proposal", "Region", "RegionTarget",
    "RoundCraftsman", "RoundDemand", "RoundFeatures", "ServiceMonth", "Skill", "Studio", "User", "VisitLog", "craftsman_industry",
    "demand_industry", "enterprise_industry", "outcome_industry",
]
