"""The lifecycle machine: one shared `transitions.Machine` built from the table.

`transitions` cannot sit on a SQLModel row (pydantic refuses the attributes it adds), and
a Machine per object is costly, so one machine is shared and each firing binds a thin
`_Subject` wrapper for the duration of the call (DESIGN §12).

The guards are run once, here, before the machine moves: the first that says no is the
refusal, named by its rule. The machine then makes the move the table allows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from transitions import Machine

from states.contract import Transition
from states.errors import ConsultError, GuardRefused, TriggerNotAllowed
from states.guards import Facts
from states.stages import Stage, Trigger
from states.table import TRANSITIONS, allowed_triggers, transition_for


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


def _build_machine() -> Machine:
    specs: list[dict[str, Any]] = [
        {"trigger": t.trigger.value, "source": list(t.sources), "dest": t.dest} for t in TRANSITIONS if t.sources
    ]
    return Machine(
        model=None, states=Stage, transitions=specs, initial=None, model_attribute="stage", auto_transitions=False
    )


_MACHINE = _build_machine()
_LOCK = threading.Lock()  # add_model/remove_model mutate the shared machine's model list


@dataclass(frozen=True, slots=True)
class Change:
    """What a firing did, for the audit row."""

    from_stage: Stage | None
    to_stage: Stage
    trigger: Trigger
    row: Transition


def check_guards(row: Transition, facts: Facts, now: datetime) -> None:
    """Raise the first guard's refusal (the first line of its docstring says why)."""
    for guard in row.guards:
        if not guard(facts, now):
            reason = (guard.__doc__ or guard.__name__).strip().splitlines()[0]
            raise GuardRefused(trigger=row.trigger.dashed, rule=guard.__name__, explanation=reason)


def ensure_allowed(stage: Stage, trigger: Trigger) -> Transition:
    """The row for `trigger` from `stage`; TriggerNotAllowed names the stage and what is allowed there."""
    row = transition_for(stage, trigger)
    if row is None:
        raise TriggerNotAllowed(
            stage=stage.value, trigger=trigger.dashed, allowed=[t.dashed for t in allowed_triggers(stage)]
        )
    return row


def fire(record: HasStage, trigger: Trigger, *, facts: Facts, now: datetime) -> Change:
    """Move `record.stage` by `trigger` if the table allows it and its guards agree.

    Raises TriggerNotAllowed (naming the stage and the allowed triggers), GuardRefused
    (naming the rule), or the TimingError a guard raised. The record is untouched on error.
    """
    if now.tzinfo is None:
        raise ConsultError("now must be an aware datetime (UTC)")
    row = ensure_allowed(Stage(record.stage), trigger)
    check_guards(row, facts, now)
    return move(record, row)


def move(record: HasStage, row: Transition) -> Change:
    """Make the row's move, its guards already checked (the lifecycle service checks them,
    then applies the row, then moves)."""
    stage = Stage(record.stage)
    subject = _Subject(record)
    with _LOCK:
        _MACHINE.add_model(subject, initial=stage)
        try:
            subject.trigger(row.trigger.value)  # type: ignore[attr-defined]  # added by the machine
        finally:
            _MACHINE.remove_model(subject)
    return Change(from_stage=stage, to_stage=Stage(record.stage), trigger=row.trigger, row=row)


def create(trigger: Trigger, *, facts: Facts, now: datetime) -> Change:
    """The stage a new consultation starts in when created by `trigger` (propose or decide)."""
    row = transition_for(None, trigger)
    if row is None:
        raise ConsultError(f"a consultation is created by propose or decide, not {trigger.dashed}")
    check_guards(row, facts, now)
    return Change(from_stage=None, to_stage=row.dest, trigger=trigger, row=row)
