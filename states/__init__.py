"""The consultation lifecycle: pure, no I/O, no SQLModel, Prefect, Jinja2 or SMTP.

Guards take data and `now`; the lifecycle service (store/lifecycle.py) carries out a
row of the table inside its transaction.
"""

from states.contract import Actor, Changes, Param, ParamKind, Request, Role, Transition
from states.errors import (
    Conflict,
    ConsultError,
    GuardRefused,
    Kind,
    NotFound,
    TimingError,
    TriggerNotAllowed,
    UnknownTrigger,
)
from states.guards import Facts
from states.machine import Change, create, ensure_allowed, fire
from states.replay import ReplayError, Step, replay
from states.requests import parse_request
from states.stages import FINAL_STAGES, SYSTEM_ACTOR, Action, Document, Notice, Stage, Trigger
from states.table import TRANSITIONS, allowed_triggers, transition_for
from states.timing import Plan, check_plan, deadline_instant, local_date, start_instant

__all__ = [
    "Action",
    "Document",
    "FINAL_STAGES",
    "SYSTEM_ACTOR",
    "TRANSITIONS",
    "Actor",
    "Change",
    "Changes",
    "Conflict",
    "ConsultError",
    "Facts",
    "GuardRefused",
    "Kind",
    "NotFound",
    "Notice",
    "Param",
    "ParamKind",
    "Plan",
    "ReplayError",
    "Request",
    "Role",
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
    "parse_request",
    "replay",
    "start_instant",
    "transition_for",
]
