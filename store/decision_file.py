"""The council-decision file (TOML) → ConsultationCreate.

A date deadline means the end of that day in the consultation's zone; a datetime is taken
as is (one without an offset is read in the zone). Unknown keys are an error.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from config.policy import Policy
from states.errors import ConsultError
from states.timing import check_year, deadline_instant, start_instant
from store.models import ConsultationCreate, validated
from store.tables import Consultation

MAX_FILE = 1_000_000
KEYS = {
    "slug", "decided_on", "timezone", "letter_date", "opens_at", "deadline", "meeting_on", "meeting_place",
    "contact_name", "contact_email", "title", "questions", "min_open_days", "meeting_gap_days",
    "reminder_offsets_days", "recipients", "publish_after",
}  # fmt: skip


def _date(raw: dict[str, Any], key: str, where: str) -> date | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ConsultError(f"{where}: field {key!r}: expected a date like 2017-05-25, got {value!r}")
    check_year(value, f"{where}: field {key!r}")
    return value


def _instant(raw: dict[str, Any], key: str, where: str, tz: str, *, end_of_day: bool):
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, date):
        raise ConsultError(f"{where}: field {key!r}: expected a date or a date-time, got {value!r}")
    check_year(value, f"{where}: field {key!r}")
    return deadline_instant(value, tz) if end_of_day else start_instant(value, tz)


def parse_decision(
    raw: dict[str, Any], *, policy: Policy, where: str = "decision", default_timezone: str | None = None
) -> ConsultationCreate:
    """A council decision from a decision file's fields. Without `timezone`, the zone is
    `default_timezone` (CONSULT_TIMEZONE), else the policy's."""
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise ConsultError(f"{where}: unknown key {unknown[0]!r}; the format has: {', '.join(sorted(KEYS))}")
    tz = raw.get("timezone", default_timezone or policy.timezone)
    if not isinstance(tz, str):
        raise ConsultError(f"{where}: field 'timezone': expected an IANA name such as Europe/Geneva")
    validated({"slug": raw.get("slug", ""), "title": raw.get("title") or {}, "timezone": tz}, where=where)
    questions = raw.get("questions", [])
    if not isinstance(questions, list) or not all(isinstance(q, dict) for q in questions):
        raise ConsultError(f"{where}: field 'questions': use [[questions]] tables keyed by language code")
    letter_date = _date(raw, "letter_date", where)
    opens_at = _instant(raw, "opens_at", where, tz, end_of_day=False)
    if opens_at is None and letter_date is not None:
        opens_at = start_instant(letter_date, tz)
    data: dict[str, Any] = {
        **{k: raw[k] for k in ("slug", "title", "meeting_place", "contact_name", "contact_email") if k in raw},
        **{k: raw[k] for k in ("min_open_days", "meeting_gap_days") if k in raw},
        **({"reminder_offsets": raw["reminder_offsets_days"]} if "reminder_offsets_days" in raw else {}),
        **({"recipients": raw["recipients"]} if "recipients" in raw else {}),
        **({"publish_after": raw["publish_after"]} if "publish_after" in raw else {}),
        "questions": questions,
        "timezone": tz,
        "decided_on": _date(raw, "decided_on", where),
        "letter_date": letter_date,
        "opens_at": opens_at,
        "deadline": _instant(raw, "deadline", where, tz, end_of_day=True),
        "meeting_on": _date(raw, "meeting_on", where),
    }
    return validated(data, where=where)


def read_raw(path: Path) -> dict[str, Any]:
    """The file's TOML as a dict, with one-line errors for missing, oversized or malformed
    files (a decision is a page of text: 1 MB is far beyond any; nesting deep enough to
    exhaust the parser's recursion is refused the same way)."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise ConsultError(f"{path}: larger than {MAX_FILE // 1_000_000} MB: not a decision file")
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ConsultError(f"{path}: not valid TOML: nested too deeply") from None
    except FileNotFoundError:
        raise ConsultError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConsultError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConsultError(f"{path}: not valid TOML: {exc}") from None


def read_decision_file(path: Path, *, policy: Policy, default_timezone: str | None = None) -> ConsultationCreate:
    return parse_decision(read_raw(path), policy=policy, where=str(path), default_timezone=default_timezone)


def decision_of(c: Consultation) -> dict[str, Any]:
    """A consultation as a decision file's fields: what `consult edit` and the web's edit
    form start from, so a file or form that leaves a field out keeps its value."""
    raw: dict[str, Any] = {
        "slug": c.slug, "title": dict(c.title), "questions": [dict(q) for q in c.questions], "timezone": c.timezone,
        "decided_on": c.decided_on, "letter_date": c.letter_date, "opens_at": c.opens_at, "deadline": c.deadline,
        "meeting_on": c.meeting_on, "meeting_place": c.meeting_place, "contact_name": c.contact_name,
        "contact_email": c.contact_email, "min_open_days": c.min_open_days, "meeting_gap_days": c.meeting_gap_days,
        "reminder_offsets_days": c.reminder_offsets, "recipients": c.audience, "publish_after": c.publish_after,
    }  # fmt: skip
    return {k: v for k, v in raw.items() if v is not None}


def merged(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `current`; a new letter date without its own opening re-derives the
    opening (the start of the letter day), as for a new consultation."""
    raw = {**current, **given}
    if "letter_date" in given and "opens_at" not in given:
        raw.pop("opens_at", None)
    return {k: v for k, v in raw.items() if v is not None}
