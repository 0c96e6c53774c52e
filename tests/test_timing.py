"""Timing rules with a fixed clock, DST days included (Europe/Geneva)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from states import Facts, GuardRefused, Plan, Stage, TimingError, Trigger, check_plan, fire
from states.timing import deadline_instant, local_instant, start_instant
from tests.test_table import PLAN, Row

TZ = "Europe/Geneva"


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        (date(2017, 3, 26), datetime(2017, 3, 26, 21, 59, 59, tzinfo=UTC)),  # spring forward: CEST at midnight
        (date(2017, 10, 29), datetime(2017, 10, 29, 22, 59, 59, tzinfo=UTC)),  # fall back: CET at midnight
        (date(2017, 3, 25), datetime(2017, 3, 25, 22, 59, 59, tzinfo=UTC)),  # the day before: still CET
        (date(2017, 8, 19), datetime(2017, 8, 19, 21, 59, 59, tzinfo=UTC)),  # CL-17/30's deadline
    ],
)
def test_date_deadline_is_end_of_day_in_the_zone(day: date, expected_utc: datetime) -> None:
    assert deadline_instant(day, TZ) == expected_utc


def test_deadline_datetime_with_offset_is_taken_as_is() -> None:
    given = datetime.fromisoformat("2017-08-19T12:00:00+02:00")
    assert deadline_instant(given, TZ) == datetime(2017, 8, 19, 10, tzinfo=UTC)


def test_naive_datetime_is_read_in_the_zone_and_dst_gaps_are_refused() -> None:
    assert deadline_instant(datetime(2017, 3, 26, 3, 30), TZ) == datetime(2017, 3, 26, 1, 30, tzinfo=UTC)
    with pytest.raises(TimingError, match="existing_local_time"):
        deadline_instant(datetime(2017, 3, 26, 2, 30), TZ)
    with pytest.raises(TimingError, match="unambiguous_local_time"):
        deadline_instant(datetime(2017, 10, 29, 2, 30), TZ)


def test_close_on_a_dst_day_fires_only_after_the_true_instant() -> None:
    plan = replace(PLAN, deadline=deadline_instant(date(2017, 10, 29), TZ), meeting_on=date(2017, 11, 28))
    just_before = datetime(2017, 10, 29, 22, 59, 59, tzinfo=UTC)
    with pytest.raises(GuardRefused, match="deadline_passed"):
        fire(Row(Stage.OPEN), Trigger.CLOSE_SUBMISSIONS, facts=Facts(plan=plan), now=just_before)
    row = Row(Stage.OPEN)
    fire(row, Trigger.CLOSE_SUBMISSIONS, facts=Facts(plan=plan), now=datetime(2017, 10, 29, 23, 0, tzinfo=UTC))
    assert row.stage == "closed"


def test_opening_on_spring_forward_day_starts_at_local_midnight() -> None:
    assert start_instant(date(2017, 3, 26), TZ) == datetime(2017, 3, 25, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"decided_on": date(2017, 6, 15)}, "decision_before_letter"),
        ({"opens_at": start_instant(date(2017, 6, 13), TZ)}, "letter_before_opening"),
        ({"deadline": start_instant(date(2017, 6, 14), TZ)}, "opening_before_deadline"),
        ({"deadline": deadline_instant(date(2017, 7, 13), TZ)}, "min_open_days"),
        ({"meeting_on": date(2017, 8, 19)}, "deadline_before_meeting"),
    ],
)
def test_each_ordering_rule_is_named(change: dict, rule: str) -> None:
    with pytest.raises(TimingError, match=rule):
        check_plan(replace(PLAN, **change), min_open_days=30, meeting_gap_days=30)


def test_minimum_online_period_boundary() -> None:
    opens = local_instant(date(2017, 6, 14), datetime.min.time(), TZ)
    exactly_30 = replace(PLAN, opens_at=opens, deadline=opens + timedelta(days=30))
    assert check_plan(exactly_30, min_open_days=30, meeting_gap_days=30) is not None
    with pytest.raises(TimingError, match="min_open_days"):
        check_plan(exactly_30, min_open_days=31, meeting_gap_days=30)


def test_meeting_gap_warns_but_does_not_refuse() -> None:
    assert check_plan(PLAN, min_open_days=30, meeting_gap_days=30) == []  # CL-17/30: exactly 30 days
    warnings = check_plan(replace(PLAN, meeting_on=date(2017, 9, 11)), min_open_days=30, meeting_gap_days=30)
    assert warnings == ["meeting_gap_days: the meeting is 23 days after the deadline (policy: 30)"]


def test_partial_plan_of_a_proposal_passes() -> None:
    assert check_plan(Plan(timezone=TZ), min_open_days=30, meeting_gap_days=30) == []


@pytest.mark.parametrize(
    ("trigger", "stage", "now", "request_", "rule"),
    [
        (Trigger.ISSUE_LETTER, Stage.DECIDED, datetime(2017, 5, 24, tzinfo=UTC), {}, "decision_taken"),
        (Trigger.ISSUE_LETTER, Stage.DECIDED, datetime(2017, 8, 20, tzinfo=UTC), {}, "deadline_not_passed"),
        (
            Trigger.OPEN_SUBMISSIONS,
            Stage.LETTER_ISSUED,
            datetime(2017, 6, 13, 21, 59, tzinfo=UTC),
            {},
            "opening_reached",
        ),
        (Trigger.CLOSE_SUBMISSIONS, Stage.OPEN, datetime(2017, 8, 19, 21, 59, 59, tzinfo=UTC), {}, "deadline_passed"),
        (
            Trigger.HOLD_MEETING,
            Stage.PUBLISHED,
            datetime(2017, 9, 17, 21, 59, tzinfo=UTC),
            {"has_meeting_summary": True},
            "meeting_day_reached",
        ),
        (Trigger.HOLD_MEETING, Stage.PUBLISHED, datetime(2017, 9, 18, 12, tzinfo=UTC), {}, "summary_recorded"),
        (Trigger.CANCEL, Stage.OPEN, datetime(2017, 7, 1, tzinfo=UTC), {"reason": "  "}, "reason_given"),
        (
            Trigger.EXTEND_DEADLINE,
            Stage.OPEN,
            datetime(2017, 7, 1, tzinfo=UTC),
            {"new_deadline": deadline_instant(date(2017, 8, 18), TZ)},
            "new_deadline_later",
        ),
    ],
)
def test_guards_name_the_rule_and_leave_the_stage(trigger, stage, now, request_, rule) -> None:
    row = Row(stage)
    with pytest.raises(GuardRefused, match=rule) as info:
        fire(row, trigger, facts=Facts(plan=PLAN, **request_), now=now)
    assert info.value.rule == rule
    assert row.stage == stage.value


def test_extension_past_the_meeting_is_a_timing_error() -> None:
    row = Row(Stage.OPEN)
    facts = Facts(plan=PLAN, new_deadline=deadline_instant(date(2017, 9, 18), TZ))
    with pytest.raises(TimingError, match="deadline_before_meeting"):
        fire(row, Trigger.EXTEND_DEADLINE, facts=facts, now=datetime(2017, 8, 1, tzinfo=UTC))
    assert row.stage == "open"


def test_naive_now_is_refused() -> None:
    from states import ConsultError

    with pytest.raises(ConsultError, match="aware"):
        fire(Row(Stage.OPEN), Trigger.CLOSE_SUBMISSIONS, facts=Facts(plan=PLAN), now=datetime(2017, 9, 1))


@pytest.mark.parametrize(("day", "start_local", "end_local"), [
    (date(2022, 9, 11), "2022-09-11T01:00:00-03:00", "2022-09-11T23:59:59-03:00"),  # no 00:00 that day
    (date(2022, 4, 2), "2022-04-02T00:00:00-03:00", "2022-04-02T23:59:59-04:00"),  # 23:00-24:00 twice
])  # fmt: skip
def test_date_only_values_on_days_the_clocks_change_at_midnight(day: date, start_local: str, end_local: str) -> None:
    """Santiago de Chile changes its clocks at midnight: a date alone is never refused."""
    from zoneinfo import ZoneInfo

    from states.timing import deadline_instant, start_instant

    chile = ZoneInfo("America/Santiago")
    assert start_instant(day, "America/Santiago").astimezone(chile).isoformat() == start_local
    assert deadline_instant(day, "America/Santiago").astimezone(chile).isoformat() == end_local


def test_the_deadline_includes_its_whole_last_second() -> None:
    from datetime import UTC, datetime, timedelta

    from states.guards import accepting_responses
    from states.stages import Stage
    from states.timing import Plan, deadline_instant

    deadline = deadline_instant(date(2017, 8, 19), "Europe/Geneva")  # 23:59:59 CEST
    plan = Plan("Europe/Geneva", opens_at=datetime(2017, 6, 14, tzinfo=UTC), deadline=deadline)
    assert accepting_responses(Stage.OPEN, plan, deadline + timedelta(microseconds=999_999))
    assert not accepting_responses(Stage.OPEN, plan, deadline + timedelta(seconds=1))
