"""Guards: small named pure functions of a consultation's facts and `now`.

Each returns True when the transition may happen. The first line of its docstring is
the reason a refusal quotes, so it is written for the person who was refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time

from states.stages import Stage
from states.timing import Plan, check_plan, deadline_over, start_instant


@dataclass(frozen=True, slots=True)
class Facts:
    """What the guards may look at: the plan, the policy numbers, and the request."""

    plan: Plan
    min_open_days: int = 30
    meeting_gap_days: int = 30
    has_meeting_summary: bool = False
    reason: str | None = None
    new_deadline: datetime | None = None
    letter_issued: bool = False
    letter_number_given: bool = False
    tool_numbers_letters: bool = False
    first_letter_number: int = 1
    reminder_offsets: tuple[int, ...] = ()  # days before the deadline
    reminder_time: time = time(9)  # local time they go at


def plan_complete(facts: Facts, now: datetime) -> bool:
    """The council decision must fix every date (decision, letter, opening, deadline, meeting) first."""
    return facts.plan.complete


def plan_in_order(facts: Facts, now: datetime) -> bool:
    """The dates must follow the timing rules (decision ≤ letter ≤ opening < deadline < meeting)."""
    check_plan(facts.plan, min_open_days=facts.min_open_days, meeting_gap_days=facts.meeting_gap_days)
    return True


def decision_taken(facts: Facts, now: datetime) -> bool:
    """A letter cannot announce a council decision that has not yet been taken."""
    plan = facts.plan
    return plan.decided_on is not None and now >= start_instant(plan.decided_on, plan.timezone)


def deadline_not_passed(facts: Facts, now: datetime) -> bool:
    """A letter whose deadline has already passed would invite responses nobody can send."""
    return facts.plan.deadline is not None and now < facts.plan.deadline


def opening_reached(facts: Facts, now: datetime) -> bool:
    """Submissions open at opens_at, not before, so the letter's announced date holds."""
    return facts.plan.opens_at is not None and now >= facts.plan.opens_at


def deadline_passed(facts: Facts, now: datetime) -> bool:
    """Submissions close only after the deadline, which every stakeholder was promised."""
    return facts.plan.deadline is not None and deadline_over(facts.plan.deadline, now)


def meeting_day_reached(facts: Facts, now: datetime) -> bool:
    """A meeting can only be recorded as held on or after its day."""
    plan = facts.plan
    return plan.meeting_on is not None and now >= start_instant(plan.meeting_on, plan.timezone)


def summary_recorded(facts: Facts, now: datetime) -> bool:
    """The meeting's summary, agreed by its participants, must be recorded with it."""
    return facts.has_meeting_summary


def reason_given(facts: Facts, now: datetime) -> bool:
    """Stakeholders are told why a consultation is cancelled, so a reason is required."""
    return bool(facts.reason and facts.reason.strip())


def reason_recorded(facts: Facts, now: datetime) -> bool:
    """A discarded consultation keeps why in its audit log, so a reason is required."""
    return bool(facts.reason and facts.reason.strip())


def letter_number_known(facts: Facts, now: datetime) -> bool:
    """The letter's number is the secretariat registry's: give it (e.g. CL-17/30); a number of our own would clash."""
    return facts.letter_number_given or facts.tool_numbers_letters


def letter_was_issued(facts: Facts, now: datetime) -> bool:
    """Stakeholders hear of a cancellation only if a letter had invited them."""
    return facts.letter_issued


def new_deadline_later(facts: Facts, now: datetime) -> bool:
    """An extension must move the deadline later than both the current deadline and now."""
    new, old = facts.new_deadline, facts.plan.deadline
    return new is not None and old is not None and new > old and new > now


def extended_plan_in_order(facts: Facts, now: datetime) -> bool:
    """The extended deadline must still come before the meeting (timing rules)."""
    if facts.new_deadline is None:
        return False
    extended = replace(facts.plan, deadline=facts.new_deadline)
    check_plan(extended, min_open_days=facts.min_open_days, meeting_gap_days=facts.meeting_gap_days)
    return True


# Guards that only wait for a moment to come: before it, staff are not offered the button
# (the board says when it falls due); the other guards explain themselves when refused.
WAITING = frozenset({opening_reached, deadline_passed, meeting_day_reached})


def accepting_responses(stage: Stage, plan: Plan, now: datetime) -> bool:
    """Responses are accepted while open, from opens_at to the deadline's last second."""
    return (
        stage is Stage.OPEN
        and plan.opens_at is not None
        and plan.deadline is not None
        and plan.opens_at <= now
        and not deadline_over(plan.deadline, now)
    )
