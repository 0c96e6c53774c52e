"""A trigger's parameters as the edges receive them (CLI options, a form, JSON), made
into the typed `Request` its row takes: only the row's own, bounded, deadlines read in
the consultation's zone. Above the table: it names the triggers that take a parameter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from states.contract import ParamKind, Request, Transition
from states.errors import ConsultError
from states.table import TRANSITIONS
from states.timing import check_year, deadline_instant


def parse_request(row: Transition, raw: Mapping[str, Any], *, timezone: str) -> Request:
    """Typed parameters from what an edge received (CLI options, a form, JSON): only the
    row's own, lengths bounded, deadlines read in the zone. A required one that is missing
    is left to the row's guards, which refuse it naming their rule (reason_given …)."""
    given = {k: v for k, v in raw.items() if v not in (None, "")}
    refuse_others(row, set(given))
    values: dict[str, Any] = {}
    for p in row.params:
        value = given.get(p.name)
        if value is None:
            continue
        if p.kind is ParamKind.DEADLINE:
            values[p.name] = _deadline(value, timezone)
            continue
        text = str(value).strip()
        limit = 20_000 if p.kind is ParamKind.LONG_TEXT else p.max_length
        if len(text) > limit:
            raise ConsultError(f"{p.name.replace('_', ' ')}: at most {limit} characters (got {len(text)})")
        if "\x00" in text:
            raise ConsultError(f"{p.name.replace('_', ' ')}: contains a NUL character")
        if p.kind is not ParamKind.LONG_TEXT and any(ch in text for ch in "\r\n"):
            raise ConsultError(f"{p.name.replace('_', ' ')}: one line, please")
        values[p.name] = text or None
    return Request(**values)


def refuse_others(row: Transition, names: set[str]) -> None:
    """A parameter the row does not take is an error naming the triggers that do take it."""
    for name in sorted(names - {p.name for p in row.params}):
        takers = sorted({t.trigger.dashed for t in TRANSITIONS if any(p.name == name for p in t.params)})
        where = f"with {' or '.join(takers)} only" if takers else "by no trigger"
        raise ConsultError(f"{name.replace('_', ' ')} is recorded {where}, not with {row.trigger.dashed}")


def _deadline(value: Any, timezone: str) -> datetime:
    if isinstance(value, datetime | date):
        check_year(value, "new deadline")
        return deadline_instant(value, timezone)
    text = str(value).strip()
    try:
        parsed: date | datetime = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ConsultError(f"new deadline: {text!r} is not a date (2017-08-19) or an ISO date-time") from None
    check_year(parsed, "new deadline")
    return deadline_instant(parsed, timezone)
