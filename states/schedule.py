"""What is due next for a consultation, read off its stage and plan (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from states.stages import Stage, Trigger
from states.timing import Plan, start_instant


@dataclass(frozen=True, slots=True)
class Due:
    trigger: Trigger
    at: datetime | None  # None: whenever staff act

    def overdue(self, now: datetime) -> bool:
        return self.at is not None and self.at <= now


def next_due(stage: Stage, plan: Plan) -> Due | None:
    tz = plan.timezone
    if stage is Stage.PROPOSED:
        return Due(Trigger.DECIDE, None)
    if stage is Stage.DECIDED:
        at = start_instant(plan.letter_date, tz) if plan.letter_date else None
        return Due(Trigger.ISSUE_LETTER, at)
    if stage is Stage.LETTER_ISSUED:
        return Due(Trigger.OPEN_SUBMISSIONS, plan.opens_at)
    if stage is Stage.OPEN:
        return Due(Trigger.CLOSE_SUBMISSIONS, plan.deadline)
    if stage is Stage.CLOSED:
        return Due(Trigger.COMPILE, plan.deadline)
    if stage is Stage.COMPILED:
        at = start_instant(plan.meeting_on, tz) if plan.meeting_on else None
        return Due(Trigger.HOLD_MEETING, at)
    if stage is Stage.MEETING_HELD:
        return Due(Trigger.REPORT, None)
    return None
