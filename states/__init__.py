"""The consultation lifecycle: pure, no I/O, no SQLModel, Prefect, Jinja2 or SMTP.

Guards take data and `now`; the storage layer calls `fire` inside its transaction.
"""

from states.errors import (
    ConsultError,
    GuardRefused,
    TimingError,
    TriggerNotAllowed,
    UnknownTrigger,
)
from states.guards import Facts
from states.machine import Change, create, ensure_allowed, fire
from states.replay import ReplayError, Step, replay
from states.stages import FINAL_STAGES, SYSTEM_ACTOR, Notice, Stage, Trigger
from states.table import (
    TRANSITIONS,
    Actor,
    Transition,
    allowed_triggers,
    transition_for,
)
from states.timing import Plan, check_plan, deadline_instant, local_date, start_instant

__all__ = [
    "FINAL_STAGES",
    "SYSTEM_ACTOR",
    "TRANSITIONS",
    "Actor",
    "Change",
    "ConsultError",
    "Facts",
    "GuardRefused",
    "Notice",
    "Plan",
    "ReplayError",
    "Stage",
    "Step",
    "TimingError",
    "Transition",
    "Trigger",
    "TriggerNotAllowed",
    "UnknownTrigger",
    "allowed_triggers",
    "check_plan",
    "create",
    "deadline_instant",
    "ensure_allowed",
    "fire",
    "local_date",
    "replay",
    "start_instant",
    "transition_for",
]
