"""The clock's one question, pure: what does the clock owe a consultation at `now`, and
when does its next timer fall? Read off the table (the rows fired by the clock and their
`due`), the policy's reminder offsets and what the clock already did (`Marks`).

- Transitions: every clock row whose `due` has come, in order (after downtime: open,
  close and compile fire once each, in that order).
- Reminders at policy offsets before the deadline, at a sensible local hour (09:00 in the
  consultation's zone by default, on the day `offset` days before the deadline). After
  downtime only the latest one due is sent (never "7 days left" when one day is left),
  and none once the deadline has passed.
- Staff alerts: the meeting is 7 days away and no compilation is published; the meeting
  was 3 days ago and no summary is recorded.

The store only indexes `next_at`; the tick acts on the typed `Owed`, never on text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from states.stages import Stage, Trigger
from states.table import meeting_day, next_row, rows_from
from states.timing import Plan, deadline_over, reminder_at


class Alert(StrEnum):
    NO_COMPILATION = "alert_no_compilation"
    NO_SUMMARY = "alert_no_summary"


ALERT_BEFORE_MEETING = timedelta(days=7)
ALERT_AFTER_MEETING = timedelta(days=3)
NOT_YET_PUBLISHED = frozenset({Stage.LETTER_ISSUED, Stage.OPEN, Stage.CLOSED, Stage.COMPILED})


@dataclass(frozen=True, slots=True)
class Reminders:
    """When reminders go: `offsets` days before the deadline (largest first), at local `at`."""

    offsets: tuple[int, ...] = (14, 7, 1)
    at: time = time(9)


@dataclass(frozen=True, slots=True)
class Marks:
    """What the clock has already done for a consultation."""

    last_reminder_days: int | None = None
    alerts_done: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Owed:
    transitions: tuple[Trigger, ...] = ()
    reminder_days: int | None = None  # the reminder to send now: days before the deadline
    alerts: tuple[Alert, ...] = ()

    @property
    def nothing(self) -> bool:
        return not (self.transitions or self.reminder_days is not None or self.alerts)


def clock_row_due(stage: Stage, plan: Plan):
    """The row the clock fires from `stage`, with the instant it falls due (or None)."""
    for row in rows_from(stage):
        if row.by_clock and row.due is not None and (at := row.due(plan)) is not None:
            return row, at
    return None


def owed(stage: Stage, plan: Plan, reminders: Reminders, marks: Marks, now: datetime) -> Owed:
    transitions: list[Trigger] = []
    while (found := clock_row_due(stage, plan)) is not None and found[1] <= now:
        transitions.append(found[0].trigger)
        stage = found[0].dest
    reminder = due_reminder(stage, plan, reminders, marks, now)
    return Owed(tuple(transitions), reminder, due_alerts(stage, plan, marks, now))


def due_reminder(stage: Stage, plan: Plan, reminders: Reminders, marks: Marks, now: datetime) -> int | None:
    """The offset (days before the deadline) of the one reminder to send now, if any."""
    if stage is not Stage.OPEN or plan.deadline is None or deadline_over(plan.deadline, now):
        return None
    passed = [d for d in reminders.offsets if reminder_at(plan, d, reminders.at) <= now]
    if not passed:
        return None
    latest = min(passed)
    if marks.last_reminder_days is not None and latest >= marks.last_reminder_days:
        return None  # this one, or a later one, already went out
    return latest


def due_alerts(stage: Stage, plan: Plan, marks: Marks, now: datetime) -> tuple[Alert, ...]:
    meeting = meeting_day(plan)
    if meeting is None:
        return ()
    alerts = []
    if stage in NOT_YET_PUBLISHED and meeting - ALERT_BEFORE_MEETING <= now < meeting:
        alerts.append(Alert.NO_COMPILATION)
    if stage is Stage.PUBLISHED and now >= meeting + ALERT_AFTER_MEETING:
        alerts.append(Alert.NO_SUMMARY)
    return tuple(a for a in alerts if a.value not in marks.alerts_done)


def next_timer(stage: Stage, plan: Plan, reminders: Reminders, marks: Marks, now: datetime) -> datetime | None:
    """The earliest instant at which something above becomes due (None: nothing timed).

    A timer whose window closed unused (an alert for a meeting already past) is dropped,
    so a consultation never stays due for work that will not happen.
    """
    candidates: list[datetime] = []
    if (found := clock_row_due(stage, plan)) is not None:
        candidates.append(found[1])
    if stage is Stage.OPEN and plan.deadline is not None:
        pending = [d for d in reminders.offsets if marks.last_reminder_days is None or d < marks.last_reminder_days]
        candidates += [reminder_at(plan, d, reminders.at) for d in pending]
    meeting = meeting_day(plan)
    if meeting is not None:
        if stage in NOT_YET_PUBLISHED and Alert.NO_COMPILATION not in marks.alerts_done and now < meeting:
            candidates.append(meeting - ALERT_BEFORE_MEETING)
        if stage is Stage.PUBLISHED and Alert.NO_SUMMARY not in marks.alerts_done:
            candidates.append(meeting + ALERT_AFTER_MEETING)
    return min(candidates) if candidates else None


@dataclass(frozen=True, slots=True)
class NextStep:
    """What the board shows as a consultation's next step, and when (None: when staff act)."""

    trigger: Trigger
    at: datetime | None
    late_at: datetime | None = None  # overdue from then (a day's step: the day after)

    def overdue(self, now: datetime) -> bool:
        late = self.late_at or self.at
        return late is not None and late <= now


def next_step(stage: Stage, plan: Plan) -> NextStep | None:
    row = next_row(stage)
    if row is None:
        return None
    return NextStep(row.trigger, row.due(plan) if row.due else None, row.late(plan) if row.late else None)
