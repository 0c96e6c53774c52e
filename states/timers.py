"""The clock's rules (pure): which timed work is due for a consultation at `now`, and
when its next timer falls. The store keeps that instant in an indexed column, so a tick
finds due work with one query whose cost follows the work, not the number of
consultations.

- Transitions: open at `opens_at`; close once the deadline has passed; compile as soon
  as closed. After downtime each fires once, in order.
- Reminders at policy offsets before the deadline. After downtime only the latest one
  due is sent (never "7 days left" when one day is left), and none once the deadline
  has passed.
- Staff alerts: the meeting is 7 days away and there is no compilation; the meeting
  was 3 days ago and no summary is recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from states.stages import Stage, Trigger
from states.timing import Plan, start_instant

ALERT_NO_COMPILATION = "alert_no_compilation"
ALERT_NO_SUMMARY = "alert_no_summary"
ALERT_BEFORE_MEETING = timedelta(days=7)
ALERT_AFTER_MEETING = timedelta(days=3)
NOT_YET_COMPILED = frozenset({Stage.LETTER_ISSUED, Stage.OPEN, Stage.CLOSED})
CLOSE_AFTER = timedelta(seconds=1)  # the deadline second itself still accepts responses


@dataclass(frozen=True, slots=True)
class Marks:
    """What the clock has already done for a consultation."""

    last_reminder_days: int | None = None
    alerts_done: frozenset[str] = frozenset()


def due_transition(stage: Stage, plan: Plan, now: datetime) -> Trigger | None:
    if stage is Stage.LETTER_ISSUED and plan.opens_at is not None and now >= plan.opens_at:
        return Trigger.OPEN_SUBMISSIONS
    if stage is Stage.OPEN and plan.deadline is not None and now > plan.deadline:
        return Trigger.CLOSE_SUBMISSIONS
    if stage is Stage.CLOSED:
        return Trigger.COMPILE
    return None


def reminder_at(plan: Plan, days: int) -> datetime:
    assert plan.deadline is not None
    return plan.deadline - timedelta(days=days)


def due_reminder(stage: Stage, plan: Plan, offsets: Sequence[int], marks: Marks, now: datetime) -> int | None:
    """The offset (days before the deadline) of the one reminder to send now, if any."""
    if stage is not Stage.OPEN or plan.deadline is None or now > plan.deadline:
        return None
    passed = [d for d in offsets if reminder_at(plan, d) <= now]
    if not passed:
        return None
    latest = min(passed)
    if marks.last_reminder_days is not None and latest >= marks.last_reminder_days:
        return None  # this one, or a later one, already went out
    return latest


def due_alerts(stage: Stage, plan: Plan, marks: Marks, now: datetime) -> list[str]:
    if plan.meeting_on is None:
        return []
    meeting = start_instant(plan.meeting_on, plan.timezone)
    alerts = []
    if stage in NOT_YET_COMPILED and meeting - ALERT_BEFORE_MEETING <= now < meeting:
        alerts.append(ALERT_NO_COMPILATION)
    if stage is Stage.COMPILED and now >= meeting + ALERT_AFTER_MEETING:
        alerts.append(ALERT_NO_SUMMARY)
    return [a for a in alerts if a not in marks.alerts_done]


def next_timer(stage: Stage, plan: Plan, offsets: Collection[int], marks: Marks, now: datetime) -> datetime | None:
    """The earliest instant at which something above becomes due (None: nothing timed).

    A timer whose window closed unused (an alert for a meeting already past) is dropped,
    so a consultation never stays due for work that will not happen.
    """
    candidates: list[datetime] = []
    if stage is Stage.LETTER_ISSUED and plan.opens_at is not None:
        candidates.append(plan.opens_at)
    if stage is Stage.OPEN and plan.deadline is not None:
        candidates.append(plan.deadline + CLOSE_AFTER)
        pending = [d for d in offsets if marks.last_reminder_days is None or d < marks.last_reminder_days]
        candidates += [reminder_at(plan, d) for d in pending]
    if stage is Stage.CLOSED and plan.deadline is not None:
        candidates.append(plan.deadline + CLOSE_AFTER)
    if plan.meeting_on is not None:
        meeting = start_instant(plan.meeting_on, plan.timezone)
        if stage in NOT_YET_COMPILED and ALERT_NO_COMPILATION not in marks.alerts_done and now < meeting:
            candidates.append(meeting - ALERT_BEFORE_MEETING)
        if stage is Stage.COMPILED and ALERT_NO_SUMMARY not in marks.alerts_done:
            candidates.append(meeting + ALERT_AFTER_MEETING)
    return min(candidates) if candidates else None
