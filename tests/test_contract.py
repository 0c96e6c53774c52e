"""The one trigger contract: the table's rows, the clock's pure question, the typed
parameters — without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from states import ConsultError, Request, Stage, Trigger, parse_request
from states.clock import Alert, Marks, Reminders, next_step, next_timer, owed
from states.contract import Actor
from states.table import CLOSE_AFTER, TRANSITIONS, staff_rows, transition_for
from tests.test_table import PLAN

OFFSETS = Reminders((14, 7, 1))  # at 09:00 in Geneva
DEADLINE = PLAN.deadline
assert DEADLINE is not None and PLAN.opens_at is not None


def test_every_trigger_has_a_row_and_every_row_is_whole() -> None:
    assert {t.trigger for t in TRANSITIONS} == set(Trigger)
    for row in TRANSITIONS:
        assert row.by is Actor.STAFF or row.due is not None, f"{row.trigger}: the clock needs to know when"
        assert {p.name for p in row.params} <= set(Request.__slots__), row.trigger
        for guard in row.guards:
            assert guard.__doc__, f"{guard.__name__}: a refusal quotes the guard's docstring"


@pytest.mark.parametrize(
    ("stage", "now", "transitions"),
    [
        (Stage.LETTER_ISSUED, PLAN.opens_at - timedelta(seconds=1), ()),
        (Stage.LETTER_ISSUED, PLAN.opens_at, (Trigger.OPEN_SUBMISSIONS,)),
        (Stage.OPEN, DEADLINE, ()),  # the deadline's own second still accepts responses
        (Stage.OPEN, DEADLINE + CLOSE_AFTER, (Trigger.CLOSE_SUBMISSIONS, Trigger.COMPILE)),
        # after downtime across the whole online period: each fires once, in order
        (
            Stage.LETTER_ISSUED,
            DEADLINE + timedelta(days=2),
            (Trigger.OPEN_SUBMISSIONS, Trigger.CLOSE_SUBMISSIONS, Trigger.COMPILE),
        ),  # fmt: skip
        (Stage.DECIDED, DEADLINE + timedelta(days=2), ()),  # issuing the letter is staff's, never the clock's
        (Stage.COMPILED, DEADLINE + timedelta(days=2), ()),
    ],
)
def test_what_the_clock_owes(stage: Stage, now: datetime, transitions: tuple[Trigger, ...]) -> None:
    assert owed(stage, PLAN, OFFSETS, Marks(), now).transitions == transitions


def test_reminders_and_alerts_are_typed() -> None:
    seven_days_before = DEADLINE - timedelta(days=7)
    owes = owed(Stage.OPEN, PLAN, OFFSETS, Marks(last_reminder_days=14), seven_days_before)
    assert owes.reminder_days == 7 and owes.transitions == () and owes.alerts == ()
    # down across the 7- and 1-day reminders: only the latest goes
    assert (
        owed(Stage.OPEN, PLAN, OFFSETS, Marks(last_reminder_days=14), DEADLINE - timedelta(hours=2)).reminder_days == 1
    )
    meeting = datetime(2017, 9, 17, 22, tzinfo=UTC)  # 18 September, 00:00 in Geneva
    late = owed(Stage.PUBLISHED, PLAN, OFFSETS, Marks(), meeting + timedelta(days=3))
    assert late.alerts == (Alert.NO_SUMMARY,) and late.reminder_days is None
    done = Marks(alerts_done=frozenset({Alert.NO_SUMMARY.value}))
    assert owed(Stage.PUBLISHED, PLAN, OFFSETS, done, meeting + timedelta(days=3)).nothing
    # still a draft six days before the meeting: staff are told no compilation is published
    draft = owed(Stage.COMPILED, PLAN, OFFSETS, Marks(), meeting - timedelta(days=6))
    assert draft.alerts == (Alert.NO_COMPILATION,)


def test_next_timer_and_next_step_come_from_the_rows() -> None:
    now = datetime(2017, 6, 1, tzinfo=UTC)
    assert next_timer(Stage.LETTER_ISSUED, PLAN, OFFSETS, Marks(), now) == PLAN.opens_at
    assert next_timer(Stage.OPEN, PLAN, OFFSETS, Marks(), now) == datetime(2017, 8, 5, 7, tzinfo=UTC)  # 09:00 CEST
    assert next_timer(Stage.OPEN, PLAN, OFFSETS, Marks(last_reminder_days=1), now) == DEADLINE + CLOSE_AFTER
    assert next_timer(Stage.REPORTED, PLAN, OFFSETS, Marks(), now) is None
    step = next_step(Stage.PUBLISHED, PLAN)
    assert (
        step is not None and step.trigger is Trigger.HOLD_MEETING and step.at == datetime(2017, 9, 17, 22, tzinfo=UTC)
    )
    assert next_step(Stage.MEETING_HELD, PLAN) == next_step(Stage.MEETING_HELD, PLAN)
    assert next_step(Stage.CANCELLED, PLAN) is None


def test_staff_rows_are_the_board_s_buttons() -> None:
    assert [r.trigger for r in staff_rows(Stage.DECIDED)] == [Trigger.ISSUE_LETTER, Trigger.CANCEL, Trigger.DISCARD]
    assert Trigger.COMPILE not in [r.trigger for r in staff_rows(Stage.CLOSED)]  # the flow's, not staff's
    drafted = [r.trigger for r in staff_rows(Stage.COMPILED)]
    assert Trigger.COMPILE in drafted and Trigger.PUBLISH_COMPILATION in drafted  # re-draft, or publish


def test_parameters_are_typed_and_bounded() -> None:
    extend = transition_for(Stage.OPEN, Trigger.EXTEND_DEADLINE)
    assert extend is not None
    request = parse_request(extend, {"new_deadline": "2017-08-26", "reason": " more time "}, timezone="Europe/Geneva")
    assert request == Request(reason="more time", new_deadline=datetime(2017, 8, 26, 21, 59, 59, tzinfo=UTC))
    # a date on the night clocks go forward is still the end of that day, not refused
    spring = parse_request(extend, {"new_deadline": date(2018, 3, 25)}, timezone="Europe/Geneva")
    assert spring.new_deadline == datetime(2018, 3, 25, 21, 59, 59, tzinfo=UTC)
    with pytest.raises(ConsultError, match="letter number is recorded with issue-letter only, not with extend"):
        parse_request(extend, {"letter_number": "CL-17/30"}, timezone="Europe/Geneva")
    with pytest.raises(ConsultError, match="not a date"):
        parse_request(extend, {"new_deadline": "next week"}, timezone="Europe/Geneva")
    cancel = transition_for(Stage.OPEN, Trigger.CANCEL)
    assert cancel is not None
    with pytest.raises(ConsultError, match="at most 500 characters"):
        parse_request(cancel, {"reason": "x" * 501}, timezone="Europe/Geneva")
    with pytest.raises(ConsultError, match="one line"):
        parse_request(cancel, {"reason": "a\r\nBcc: everyone"}, timezone="Europe/Geneva")


@pytest.mark.parametrize(("deadline_day", "days", "expected"), [
    (date(2017, 10, 29), 1, datetime(2017, 10, 28, 7, tzinfo=UTC)),  # the day before the clocks go back: 09:00 CEST
    (date(2017, 11, 5), 7, datetime(2017, 10, 29, 8, tzinfo=UTC)),  # the day they go back: 09:00 CET
    (date(2018, 3, 26), 1, datetime(2018, 3, 25, 7, tzinfo=UTC)),  # the day they go forward: 09:00 CEST
])  # fmt: skip
def test_reminders_go_at_nine_local_time_across_dst(deadline_day: date, days: int, expected: datetime) -> None:
    from dataclasses import replace

    from states.timing import deadline_instant, reminder_at

    plan = replace(PLAN, deadline=deadline_instant(deadline_day, "Europe/Geneva"))
    assert reminder_at(plan, days, Reminders().at) == expected
