"""Replaying the audit log: the current stage must always equal the log's replay."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from states.errors import ConsultError, Kind
from states.stages import Action, Stage, Trigger
from states.table import transition_for


class ReplayError(ConsultError):
    kind = Kind.INTEGRITY


@dataclass(frozen=True, slots=True)
class Step:
    from_stage: Stage | None
    to_stage: Stage
    trigger: Trigger | Action


def replay(steps: Iterable[Step]) -> Stage | None:
    """Fold the log through the table; a step the table does not allow, or that does not
    start where the previous one ended, means the record was tampered with."""
    current: Stage | None = None
    for n, step in enumerate(steps, start=1):
        if step.from_stage != current:
            raise ReplayError(f"audit step {n} starts in {step.from_stage} but the log was in {current}")
        if isinstance(step.trigger, Action):  # recorded beside the lifecycle: the stage stays
            if step.to_stage != current:
                raise ReplayError(f"audit step {n}: {step.trigger} moved the stage from {current} to {step.to_stage}")
            continue
        transition = transition_for(current, step.trigger)
        if transition is None or transition.dest != step.to_stage:
            raise ReplayError(f"audit step {n}: {step.trigger} from {current} to {step.to_stage} is not in the table")
        current = step.to_stage
    return current
