"""Errors the domain raises. Each carries one line a person can act on.

`exit_code` follows the CLI contract: 2 for bad input, 1 for a refusal that is not the
caller's mistake (a concurrent change).
"""

from __future__ import annotations

from collections.abc import Iterable


class ConsultError(Exception):
    exit_code = 2


class UnknownTrigger(ConsultError):
    def __init__(self, text: str) -> None:
        from states.stages import Trigger

        names = ", ".join(t.dashed for t in Trigger)
        super().__init__(f"unknown trigger {text!r}; triggers are: {names}")


class TriggerNotAllowed(ConsultError):
    def __init__(self, *, stage: str, trigger: str, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        self.stage, self.trigger, self.allowed = stage, trigger, allowed
        listed = ", ".join(allowed) if allowed else "none (final stage)"
        super().__init__(f"trigger {trigger!r} is not allowed in stage {stage!r}; allowed there: {listed}")


class GuardRefused(ConsultError):
    """A guard of the lifecycle table said no; the message says which rule and why."""

    def __init__(self, *, trigger: str, rule: str, explanation: str) -> None:
        self.trigger, self.rule = trigger, rule
        super().__init__(f"{trigger} refused by rule {rule}: {explanation}")


class TimingError(ConsultError):
    """A consultation's dates break a timing rule of DESIGN §2."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"timing rule {rule}: {message}")
