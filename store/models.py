"""Input and output models, separate from the tables (no mass assignment)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from config.policy import resolve_zone
from states.errors import ConsultError
from states.languages import LANGUAGES
from states.timing import FIRST_YEAR, LAST_YEAR
from store.emails import normalise_email
from store.vocab import CATEGORIES, country_codes

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is whitespace, collapsed
# Bidi embeddings, overrides and isolates: in a name they only ever disguise it
# (`evil\u202egpj.exe` shows as "evilexe.jpg"). Dropped; the letters stay.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _no_nul(value: Any, where: str = "") -> None:
    """A NUL character is never text anyone typed, and PostgreSQL refuses it in a text
    column (a 500 otherwise): refused wherever it hides, nested lists and tables included.
    (Where it hides is worked out only when it is there: an import checks millions. The
    first look is at the value's repr, written by C, where a NUL shows as `\\x00`; text
    that merely spells `\\x00` passes on to the exact walk, which finds no NUL.)"""
    if "\\x00" not in repr(value) or not _has_nul(value):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where or 'a field'} contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value, start=1):
            _no_nul(item, f"{where}[{n}]")


class Text(BaseModel):
    """An input model whose text never carries a NUL character (see `_no_nul`)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        _no_nul(data)
        return data


def _in_window(value: date | datetime | None, what: str) -> None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{what}: the year {value.year} is outside {FIRST_YEAR}–{LAST_YEAR}")


def _by_language(value: dict[str, str], what: str) -> dict[str, str]:
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language code {unknown[0]!r} in {what}; use one of {', '.join(LANGUAGES)}")
    cleaned = {lang: text.strip() for lang, text in value.items() if isinstance(text, str) and text.strip()}
    if not cleaned:
        raise ValueError(f"{what} needs a text in at least one language")
    return {lang: cleaned[lang] for lang in LANGUAGES if lang in cleaned}


LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _list_names(value: Any) -> tuple[str, ...]:
    """Named lists, from a CSV cell ("cwg-members; press") or a list of names."""
    items = value.split(";") if isinstance(value, str) else list(value or ())
    names = tuple(dict.fromkeys(str(v).strip().lower() for v in items if str(v).strip()))
    bad = [n for n in names if not LIST_NAME.match(n)]
    if bad:
        raise ValueError(f"list name {bad[0]!r}: lower-case letters, digits, - and _, at most 40 characters")
    if len(names) > 20:
        raise ValueError("at most 20 lists")
    return names


class Audience(Text):
    """Who a consultation's mail goes to: every reachable stakeholder of the registry, or
    those in any of the given categories, countries and named lists (all given must hold:
    a category AND a country AND a list, when each is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(dict.fromkeys(v.strip().lower() for v in value if v.strip()))
        unknown = [v for v in out if v not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown category {unknown[0]!r}; use any of {', '.join(CATEGORIES)}")
        return out

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(iso_country(v) for v in value if v.strip()))

    _lists = field_validator("lists", mode="before")(lambda cls, v: _list_names(v))

    @property
    def everyone(self) -> bool:
        return not (self.categories or self.countries or self.lists)

    def admits(self, *, category: str, country: str | None, lists: Any) -> bool:
        return (
            (not self.categories or category in self.categories)
            and (not self.countries or country in self.countries)
            and (not self.lists or bool(set(self.lists) & set(lists or ())))
        )

    def describe(self) -> str:
        if self.everyone:
            return "every reachable stakeholder of the registry"
        parts = [
            f"{name}: {', '.join(values)}"
            for name, values in (("categories", self.categories), ("countries", self.countries), ("lists", self.lists))
            if values
        ]
        return "; ".join(parts)  # fmt: skip


class ConsultationCreate(Text):
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
    contact_email: str | None = None
    min_open_days: int | None = Field(default=None, ge=0, le=366)
    meeting_gap_days: int | None = Field(default=None, ge=0, le=366)
    reminder_offsets: list[int] | None = None
    recipients: Audience | None = None  # None: the whole registry
    # What publishes a response: its respondent confirming by the mailed link, or a moderator.
    publish_after: Literal["confirmation", "moderation"] = "confirmation"

    @model_validator(mode="after")
    def _years(self) -> ConsultationCreate:
        for name in ("decided_on", "letter_date", "opens_at", "deadline", "meeting_on"):
            _in_window(getattr(self, name), name.replace("_", " "))
        return self

    @field_validator("reminder_offsets")
    @classmethod
    def _offsets(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(d <= 0 or d > 366 for d in value):
            raise ValueError("reminder offsets are whole days before the deadline, each from 1 to 366")
        return sorted(set(value), reverse=True)

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

    @field_validator("contact_email")
    @classmethod
    def _contact_email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

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


def iso_country(value: str) -> str:
    value = value.strip().upper()
    if value not in country_codes():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. CH, SA, CN)")
    return value


class StakeholderCreate(Text):
    """One row of a stakeholder import (or, later, a registration form)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    category: str
    country: str | None = None
    email: str
    language: str = "en"
    lists: tuple[str, ...] = ()  # named lists a consultation's mail may be narrowed to

    _lists = field_validator("lists", mode="before")(lambda cls, v: _list_names(v))

    @field_validator("name", "organisation")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """Names end up in mail headers: no control characters, whitespace collapsed."""
        if value is None:
            return None
        if value.isprintable() and "  " not in value:
            return value or None  # the usual case: nothing to refuse or collapse
        if _CONTROL.search(value):
            raise ValueError("must be one line of text (no control characters)")
        return " ".join(_BIDI_CONTROLS.sub("", value).split()) or None

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        value = "_".join(value.strip().lower().replace("-", " ").split())  # "Member State" too
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r}; use one of {', '.join(CATEGORIES)}")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return iso_country(value) if value else None  # optional for a stakeholder

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = (value or "en").strip().lower()
        if value not in LANGUAGES:
            raise ValueError(f"unknown language code {value!r}; use one of {', '.join(LANGUAGES)}")
        return value


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: int = Field(ge=1)
    text: str = Field(min_length=1, max_length=50_000)


class SubmissionCreate(Text):
    """A response, from the form, the API or an import. Any other field is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    organisation: str | None = Field(default=None, max_length=200)
    category: str
    country: str
    email: str
    language: str = "en"
    summary: str = Field(min_length=1, max_length=3000)
    answers: list[Answer] = Field(default_factory=list)  # none: the contribution is its attachment
    # The respondent's choice: with the name, without name and organisation, or for the secretariat only.
    publication: Literal["named", "anonymous", "private"] = "named"

    _one_line = field_validator("name", "organisation")(StakeholderCreate._one_line.__func__)  # type: ignore[attr-defined]
    _category = field_validator("category")(StakeholderCreate._category.__func__)  # type: ignore[attr-defined]
    _language = field_validator("language")(StakeholderCreate._language.__func__)  # type: ignore[attr-defined]
    _email = field_validator("email")(StakeholderCreate._email.__func__)  # type: ignore[attr-defined]

    _country = field_validator("country")(iso_country)  # required for a response

    @field_validator("answers")
    @classmethod
    def _distinct(cls, value: list[Answer]) -> list[Answer]:
        if len(value) < 2:
            return value
        numbers = [a.question for a in value]
        if len(set(numbers)) != len(numbers):
            raise ValueError("each question may be answered once")
        return sorted(value, key=lambda a: a.question)


class ImportedResponse(SubmissionCreate):
    """A contribution received by e-mail or on paper, keyed in by staff: the response, plus
    when it was received (it counts for the deadline) and its file, named relative to the
    import file. Its content hash is the response's alone (SubmissionCreate's serializer),
    so the same contribution sent through the form and imported is recognised as one."""

    received_at: AwareDatetime | None = None
    attachment: str | None = Field(default=None, max_length=500)

    @field_validator("received_at")
    @classmethod
    def _received_year(cls, value: datetime | None) -> datetime | None:
        _in_window(value, "received at")
        return value
