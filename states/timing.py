"""Timing rules: the order of a consultation's dates and what "the deadline" means.

All instants are aware datetimes in UTC; dates are calendar days in the consultation's
zone. Pure functions: the caller passes the policy numbers and, where relevant, `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.policy import resolve_zone
from states.errors import ConsultError, TimingError


def zone(name: str) -> ZoneInfo:
    try:
        return resolve_zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConsultError(f"unknown time zone {name!r} (use an IANA name such as Europe/Geneva)") from None


def local_instant(day: date, at: time, tz: str) -> datetime:
    """A wall-clock time in `tz` as a UTC instant, refusing times that DST makes
    ambiguous or non-existent rather than guessing which one staff meant."""
    zi = zone(tz)
    local = datetime.combine(day, at, tzinfo=zi)
    roundtrip = local.astimezone(UTC).astimezone(zi)
    if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise TimingError(
            "existing_local_time", f"{day} {at} does not exist in {tz} (clocks go forward): give another time"
        )
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise TimingError(
            "unambiguous_local_time", f"{day} {at} happens twice in {tz} (clocks go back): give a UTC offset"
        )
    return local.astimezone(UTC)


def deadline_instant(value: date | datetime, tz: str) -> datetime:
    """A date means the end of that day in the consultation's zone (its last second, the
    second before the next day starts, whatever DST does); a datetime is taken as is (a
    naive one is read in the zone)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return local_instant(value.date(), value.time(), tz)
        return value.astimezone(UTC)
    return start_instant(value + timedelta(days=1), tz) - timedelta(seconds=1)  # the day's last second


def deadline_over(deadline: datetime, now: datetime) -> bool:
    """The deadline's own last second is still on time, all of it: 23:59:59.999 is too."""
    return now >= deadline.replace(microsecond=0) + timedelta(seconds=1)


def start_instant(value: date | datetime, tz: str) -> datetime:
    """A date means the start of that day in the zone (used for opens_at and meetings): its
    first instant, even where the clocks change at midnight (no 00:00 that day: the day
    starts at 01:00; 00:00 twice: at the first)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return local_instant(value.date(), value.time(), tz)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0, 0), tzinfo=zone(tz)).astimezone(UTC)  # fold=0: before the change


def local_date(instant: datetime, tz: str) -> date:
    return instant.astimezone(zone(tz)).date()


@dataclass(frozen=True, slots=True)
class Plan:
    """The dates a council decision fixes. Any may be missing while only proposed."""

    timezone: str
    decided_on: date | None = None
    letter_date: date | None = None
    opens_at: datetime | None = None
    deadline: datetime | None = None
    meeting_on: date | None = None

    @property
    def complete(self) -> bool:
        return None not in (self.decided_on, self.letter_date, self.opens_at, self.deadline, self.meeting_on)


def check_plan(plan: Plan, *, min_open_days: int, meeting_gap_days: int) -> list[str]:
    """Refuse dates out of order; return warnings for what is unusual but allowed.

    Checks only the dates that are present, so a proposed topic with no dates passes.
    """
    zone(plan.timezone)
    tz = plan.timezone
    if plan.decided_on and plan.letter_date and plan.decided_on > plan.letter_date:
        raise TimingError(
            "decision_before_letter",
            f"the letter ({plan.letter_date}) cannot precede the council decision ({plan.decided_on})",
        )
    if plan.letter_date and plan.opens_at and local_date(plan.opens_at, tz) < plan.letter_date:
        raise TimingError(
            "letter_before_opening",
            f"submissions cannot open ({local_date(plan.opens_at, tz)}) before the letter ({plan.letter_date})",
        )
    if plan.opens_at and plan.deadline and not plan.opens_at < plan.deadline:
        raise TimingError(
            "opening_before_deadline",
            f"the deadline ({plan.deadline.isoformat()}) must come after opening ({plan.opens_at.isoformat()})",
        )
    if plan.opens_at and plan.deadline and plan.deadline - plan.opens_at < timedelta(days=min_open_days):
        days = (plan.deadline - plan.opens_at) / timedelta(days=1)
        raise TimingError(
            "min_open_days",
            f"the online period is {days:.1f} days; the policy minimum is {min_open_days}",
        )
    warnings: list[str] = []
    if plan.deadline and plan.meeting_on:
        deadline_day = local_date(plan.deadline, tz)
        if plan.meeting_on <= deadline_day:
            raise TimingError(
                "deadline_before_meeting",
                f"the meeting ({plan.meeting_on}) must come after the deadline ({deadline_day})",
            )
        gap = (plan.meeting_on - deadline_day).days
        if gap != meeting_gap_days:
            warnings.append(
                f"meeting_gap_days: the meeting is {gap} days after the deadline (policy: {meeting_gap_days})"
            )
    return warnings


def reminder_at(plan: Plan, days: int, at: time) -> datetime:
    """`at` local time on the day `days` before the deadline (a sensible hour for mail):
    always before the deadline, offsets being whole days, at least one."""
    assert plan.deadline is not None
    tz = zone(plan.timezone)
    day = (plan.deadline.astimezone(tz) - timedelta(days=days)).date()
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


# A consultation's dates lie in this window: the organisation's archive starts in the
# 1990s, and nothing is planned two centuries ahead. Beyond it, arithmetic on the dates
# (a reminder 366 days before year 1, a deadline in year 9999 plus a day) overflows.
FIRST_YEAR, LAST_YEAR = 1990, 2199


def check_year(value: date | datetime, what: str) -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise TimingError("year_window", f"{what}: the year {value.year} is outside {FIRST_YEAR}–{LAST_YEAR}")
