"""Every (stage, trigger) pair, table-driven, against an expectation written out by hand
from DESIGN §2 (not derived from states/table.py, so the table is actually checked)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from states import Facts, Plan, Stage, Trigger, TriggerNotAllowed, allowed_triggers, fire
from states.timing import deadline_instant, start_instant

S, T = Stage, Trigger
EXPECTED: dict[tuple[Stage, Trigger], Stage] = {
    (S.PROPOSED, T.DECIDE): S.DECIDED,
    (S.DECIDED, T.ISSUE_LETTER): S.LETTER_ISSUED,
    (S.LETTER_ISSUED, T.OPEN_SUBMISSIONS): S.OPEN,
    (S.OPEN, T.CLOSE_SUBMISSIONS): S.CLOSED,
    (S.OPEN, T.EXTEND_DEADLINE): S.OPEN,
    (S.CLOSED, T.EXTEND_DEADLINE): S.OPEN,
    (S.COMPILED, T.EXTEND_DEADLINE): S.OPEN,  # the draft is dropped; published, it would not be
    (S.CLOSED, T.COMPILE): S.COMPILED,
    (S.COMPILED, T.COMPILE): S.COMPILED,
    (S.COMPILED, T.PUBLISH_COMPILATION): S.PUBLISHED,
    (S.PUBLISHED, T.HOLD_MEETING): S.MEETING_HELD,
    (S.MEETING_HELD, T.REPORT): S.REPORTED,
    **{(s, T.CANCEL): S.CANCELLED for s in Stage if s not in (S.REPORTED, S.CANCELLED)},
    (S.PROPOSED, T.DISCARD): S.CANCELLED,  # before the letter only: nothing went out
    (S.DECIDED, T.DISCARD): S.CANCELLED,
}

TZ = "Europe/Geneva"
PLAN = Plan(
    timezone=TZ,
    decided_on=date(2017, 5, 25),
    letter_date=date(2017, 6, 14),
    opens_at=start_instant(date(2017, 6, 14), TZ),
    deadline=deadline_instant(date(2017, 8, 19), TZ),
    meeting_on=date(2017, 9, 18),
)
# For each trigger, a moment and request at which all its guards agree.
WHEN: dict[Trigger, tuple[datetime, dict]] = {
    T.DECIDE: (datetime(2017, 5, 26, tzinfo=UTC), {}),
    T.ISSUE_LETTER: (datetime(2017, 6, 14, 8, tzinfo=UTC), {"letter_number_given": True}),
    T.OPEN_SUBMISSIONS: (datetime(2017, 6, 14, 9, tzinfo=UTC), {}),
    T.CLOSE_SUBMISSIONS: (datetime(2017, 8, 20, tzinfo=UTC), {}),
    T.COMPILE: (datetime(2017, 8, 20, 1, tzinfo=UTC), {}),
    T.PUBLISH_COMPILATION: (datetime(2017, 9, 1, tzinfo=UTC), {}),
    T.HOLD_MEETING: (datetime(2017, 9, 18, 15, tzinfo=UTC), {"has_meeting_summary": True}),
    T.REPORT: (datetime(2017, 10, 1, tzinfo=UTC), {}),
    T.CANCEL: (datetime(2017, 7, 1, tzinfo=UTC), {"reason": "council withdrew the topic"}),
    T.EXTEND_DEADLINE: (datetime(2017, 8, 20, tzinfo=UTC), {"new_deadline": deadline_instant(date(2017, 8, 26), TZ)}),
    T.PROPOSE: (datetime(2017, 5, 1, tzinfo=UTC), {}),
    T.DISCARD: (datetime(2017, 5, 27, tzinfo=UTC), {"reason": "a rehearsal"}),
}


class Row:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage.value


@pytest.mark.parametrize("stage", list(Stage), ids=str)
@pytest.mark.parametrize("trigger", list(Trigger), ids=str)
def test_every_stage_trigger_pair(stage: Stage, trigger: Trigger) -> None:
    row = Row(stage)
    now, request = WHEN[trigger]
    facts = Facts(plan=PLAN, **request)
    expected = EXPECTED.get((stage, trigger))
    if expected is None:
        with pytest.raises(TriggerNotAllowed) as info:
            fire(row, trigger, facts=facts, now=now)
        message = str(info.value)
        assert repr(stage.value) in message and repr(trigger.dashed) in message
        for allowed in allowed_triggers(stage):
            assert allowed.dashed in message
        assert row.stage == stage.value
    else:
        change = fire(row, trigger, facts=facts, now=now)
        assert (change.from_stage, change.to_stage, change.trigger) == (stage, expected, trigger)
        assert row.stage == expected.value


def test_final_stages_allow_nothing() -> None:
    assert allowed_triggers(Stage.REPORTED) == [] and allowed_triggers(Stage.CANCELLED) == []
    with pytest.raises(TriggerNotAllowed, match="none \\(final stage\\)"):
        fire(Row(Stage.REPORTED), Trigger.CANCEL, facts=Facts(plan=PLAN, reason="x"), now=WHEN[T.CANCEL][0])


@pytest.mark.parametrize("text", ["issue-letter", "issue_letter", " Issue-Letter "])
def test_trigger_spellings(text: str) -> None:
    assert Trigger.parse(text) is Trigger.ISSUE_LETTER


def test_unknown_trigger_names_the_known_ones() -> None:
    from states import UnknownTrigger

    with pytest.raises(UnknownTrigger, match="issue-letter"):
        Trigger.parse("publish")
