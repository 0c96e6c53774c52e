"""Input and output models, separate from the tables (no mass assignment)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
)

from config.policy import resolve_zone
from states.errors import ConsultError
from states.languages import LANGUAGES

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")


def _by_language(value: dict[str, str], what: str) -> dict[str, str]:
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language code {unknown[0]!r} in {what}; use one of {', '.join(LANGUAGES)}")
    cleaned = {lang: text.strip() for lang, text in value.items() if isinstance(text, str) and text.strip()}
    if not cleaned:
        raise ValueError(f"{what} needs a text in at least one language")
    return {lang: cleaned[lang] for lang in LANGUAGES if lang in cleaned}


class ConsultationCreate(BaseModel):
    """What staff provide to start a consultation (a decision file or, later, a form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str
    title: dict[str, str]
    questions: list[dict[str, str]] = Field(default_factory=list)
    timezone: str = "Europe/Geneva"
    decided_on: date | None = None
    letter_date: date | None = None
    opens_at: datetime | None = None
    deadline: datetime | None = None
    meeting_on: date | None = None
    meeting_place: str | None = Field(default=None, max_length=200)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: EmailStr | None = None
    min_open_days: int | None = Field(default=None, ge=0)
    meeting_gap_days: int | None = Field(default=None, ge=0)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("use lower-case letters, digits and dashes (2–80), e.g. ott-2017")
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: dict[str, str]) -> dict[str, str]:
        return _by_language(value, "title")

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        return [_by_language(q, f"question {n}") for n, q in enumerate(value, start=1)]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            resolve_zone(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Zurich)") from None
        return value

    @field_validator("opens_at", "deadline")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a UTC offset (store instants, not wall-clock times)")
        return value


def first_error(exc: ValidationError, *, where: str = "") -> ConsultError:
    """One line naming the field, as the CLI contract asks."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "input"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key (not part of the format)"
    prefix = f"{where}: " if where else ""
    return ConsultError(f"{prefix}field {field!r}: {message}")


def validated(data: dict[str, Any], *, where: str = "") -> ConsultationCreate:
    try:
        return ConsultationCreate.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc, where=where) from None
