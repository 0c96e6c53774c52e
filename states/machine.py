"""The lifecycle machine: one shared `transitions.Machine` built from the table.

`transitions` cannot sit on a SQLModel row (pydantic refuses the attributes it adds), and
a Machine per object is costly, so one machine is shared and each firing binds a thin
`_Subject` wrapper for the duration of the call (DESIGN §12).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from transitions import EventData, Machine

from states.errors import ConsultError, GuardRefused, TriggerNotAllowed
from states.guards import Facts
from states.stages import Stage, Trigger
from states.table import TRANSITIONS, Guard, allowed_triggers, creation_stage


class HasStage(Protocol):
    stage: str


class _Subject:
    """Reads and writes the record's plain-string `stage` column as a Stage."""

    def __init__(self, record: HasStage) -> None:
        self._record = record

    @property
    def stage(self) -> Stage:
        return Stage(self._record.stage)

    @stage.setter
    def stage(self, value: Stage | str) -> None:
        self._record.stage = Stage(value).value


def _condition(guard: Guard):
    def check(event: EventData) -> bool:
        return guard(event.kwargs["facts"], event.kwargs["now"])

    check.__name__ = guard.__name__
    return check


def _build_machine() -> Machine:
    specs: list[dict[str, Any]] = []
    for t in TRANSITIONS:
        if not t.sources:
            continue
        specs.append(
            {
                "trigger": t.trigger.value,
                "source": list(t.sources),
                "dest": t.dest,
                "conditions": [_condition(guard) for guard in t.guards],
            }
        )
    return Machine(
        model=None,
        states=Stage,
        transitions=specs,
        initial=None,
        model_attribute="stage",
        auto_transitions=False,
        send_event=True,
    )


_MACHINE = _build_machine()
_LOCK = threading.Lock()  # add_model/remove_model mutate the shared machine's model list


@dataclass(frozen=True, slots=True)
class Change:
    """What a firing did, for the audit row."""

    from_stage: Stage | None
    to_stage: Stage
    trigger: Trigger


def _first_refusal(trigger: Trigger, stage: Stage | None, facts: Facts, now: datetime) -> GuardRefused | None:
    from states.table import transition_for

    transition = transition_for(stage, trigger)
    assert transition is not None
    for guard in transition.guards:
        if not guard(facts, now):
            reason = (guard.__doc__ or guard.__name__).strip().splitlines()[0]
            return GuardRefused(trigger=trigger.dashed, rule=guard.__name__, explanation=reason)
    return None


def ensure_allowed(stage: Stage, trigger: Trigger) -> None:
    """Raise TriggerNotAllowed, naming the stage and what is allowed there."""
    if trigger not in allowed_triggers(stage):
        raise TriggerNotAllowed(
            stage=stage.value, trigger=trigger.dashed, allowed=[t.dashed for t in allowed_triggers(stage)]
        )


def fire(record: HasStage, trigger: Trigger, *, facts: Facts, now: datetime) -> Change:
    """Move `record.stage` by `trigger` if the table allows it and its guards agree.

    Raises TriggerNotAllowed (naming the stage and the allowed triggers), GuardRefused
    (naming the rule), or the TimingError a guard raised. The record is untouched on error.
    """
    if now.tzinfo is None:
        raise ConsultError("now must be an aware datetime (UTC)")
    stage = Stage(record.stage)
    ensure_allowed(stage, trigger)
    subject = _Subject(record)
    with _LOCK:
        _MACHINE.add_model(subject, initial=stage)
        try:
            moved = subject.trigger(trigger.value, facts=facts, now=now)  # type: ignore[attr-defined]
        finally:
            _MACHINE.remove_model(subject)
    if not moved:
        refusal = _first_refusal(trigger, stage, facts, now)
        raise refusal or GuardRefused(trigger=trigger.dashed, rule="unknown", explanation="a guard refused")
    return Change(from_stage=stage, to_stage=Stage(record.stage), trigger=trigger)


def create(trigger: Trigger, *, facts: Facts, now: datetime) -> Change:
    """The stage a new consultation starts in when created by `trigger` (propose or decide)."""
    dest = creation_stage(trigger)
    if dest is None:
        raise ConsultError(f"a consultation is created by propose or decide, not {trigger.dashed}")
    refusal = _first_refusal(trigger, None, facts, now)
    if refusal:
        raise refusal
    return Change(from_stage=None, to_stage=dest, trigger=trigger)
