"""Property: random trigger sequences, at random moving moments, never leave the table,
and the audit log's replay always equals the stored stage."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from states import ConsultError, Stage, Trigger, TriggerNotAllowed, transition_for
from store import consultations as repo
from tests.factories import POLICY, STAFF, change_stage, decision, geneva, unique_slug

steps = st.lists(
    st.tuples(
        st.sampled_from([t for t in Trigger if t is not Trigger.PROPOSE]),
        st.integers(min_value=0, max_value=40),  # hours to move the clock forward (×12)
        st.integers(min_value=-3, max_value=20),  # days to move the deadline when extending
        st.booleans(),  # give a reason / summary
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(proposed=st.booleans(), sequence=steps)
def test_random_sequences_stay_in_the_table(session: Session, proposed: bool, sequence) -> None:
    now = geneva(date(2017, 5, 25), 12)
    c = repo.create_consultation(
        session=session, data=decision(slug=unique_slug("prop")), proposed=proposed, actor=STAFF, now=now,
        policy=POLICY,
    ).consultation  # fmt: skip
    session.commit()
    for trigger, hours, days, with_text in sequence:
        now += timedelta(hours=12 * hours)
        before = Stage(c.stage)
        request: dict = {}
        if trigger is Trigger.EXTEND_DEADLINE:
            request["new_deadline"] = c.deadline + timedelta(days=days)
        if trigger is Trigger.CANCEL and with_text:
            request["reason"] = "withdrawn"
        if trigger is Trigger.HOLD_MEETING and with_text:
            request["meeting_summary"] = "agreed"
        try:
            entry = change_stage(
                session=session, consultation=c, trigger=trigger, actor=STAFF, now=now, policy=POLICY, **request
            )
            session.commit()
        except TriggerNotAllowed:  # a refusal by the table: the stage stays
            session.rollback()
            session.refresh(c)
            assert c.stage == before.value
        except repo.ConflictError:
            raise
        except ConsultError:
            session.rollback()
            session.refresh(c)
            assert c.stage == before.value  # a refusal never moves the stage
        else:
            row = transition_for(before, trigger)
            assert row is not None and row.dest.value == c.stage == entry.to_stage
        assert Stage(c.stage) in Stage
        assert repo.replayed_stage(session=session, consultation_id=c.id) == Stage(c.stage)
