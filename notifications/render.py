"""Rendering a mail: the purpose's wording from the language's catalogue, laid out by
one text and one HTML template. Jinja2 with StrictUndefined everywhere (a missing value
fails loudly), autoescape for HTML (user text never becomes markup)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from babel.dates import format_date, format_datetime, format_timedelta
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from states import Notice
from states.clock import Alert
from states.languages import LANGUAGES, RTL_LANGUAGES, babel_locale
from states.timing import zone

HERE = Path(__file__).parent
# The lifecycle's notices (states.Notice), reminders and receipts, and the staff alerts.
CLOCK_FAILING = "alert_clock_failing"  # to the contact, when the clock fails on a consultation again and again
PURPOSES = (*(n.value for n in Notice), "reminder", "receipt", *(a.value for a in Alert), CLOCK_FAILING)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environments() -> tuple[Environment, Environment]:
    loader = FileSystemLoader(HERE / "templates")
    text = Environment(loader=loader, undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    html = Environment(loader=loader, undefined=StrictUndefined, autoescape=True)
    return text, html


@cache
def catalogue(lang: str) -> dict[str, dict[str, Any]]:
    if lang not in LANGUAGES:
        raise ValueError(f"no mail catalogue for language {lang!r}")
    return tomllib.loads((HERE / "catalog" / f"{lang}.toml").read_text(encoding="utf-8"))


@cache
def _compiled(template: str, html: bool):
    """Catalogue strings are compiled once per process, not once per message."""
    text_env, html_env = _environments()
    return (html_env if html else text_env).from_string(template)


def long_date(value: date, lang: str) -> str:
    """The letter's own style: `19 أغسطس 2017`, `2017年8月19日`, `19 août 2017`."""
    return format_date(value, format="long", locale=babel_locale(lang))


def long_instant(value: datetime, lang: str, tz: str) -> str:
    """A date and time in the consultation's zone, for the reader's locale."""
    local = value.astimezone(zone(tz))
    locale = babel_locale(lang)
    return f"{format_date(local.date(), format='long', locale=locale)} {format_datetime(local, 'HH:mm', locale=locale)}"


def time_left(delta: timedelta, lang: str) -> str:
    """The time left, never more than there is: whole days from one day on, then whole
    hours, then minutes (a reminder an hour before the deadline says "1 hour", not "1 day").
    Plural rules are the locale's (Russian has three), so Babel words the span."""
    unit: Literal["day", "hour", "minute"]
    if delta >= timedelta(days=1):
        span, unit = timedelta(days=delta.days), "day"
    elif delta >= timedelta(hours=1):
        span, unit = timedelta(hours=delta.seconds // 3600), "hour"
    else:
        span, unit = timedelta(minutes=max(delta.seconds // 60, 1)), "minute"
    return format_timedelta(span, granularity=unit, threshold=1000, format="long", locale=babel_locale(lang))


def _single_line(text: str) -> str:
    return " ".join(text.split())


def render(purpose: str, lang: str, context: dict[str, Any]) -> Rendered:
    """Render one message; `context` holds every value the wording names."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown mail purpose {purpose!r}")
    strings = catalogue(lang)
    common, wording = strings["common"], strings[purpose]
    text_env, html_env = _environments()
    values = {**context, "lang": lang}

    def both(template: str) -> tuple[str, Markup]:
        return _compiled(template, False).render(values), Markup(_compiled(template, True).render(values))

    subject = _single_line(_compiled(wording["subject"], False).render(values))
    parts = {key: both(common[key]) for key in ("greeting", "signoff", "view")}
    parts["contact"] = both(common["contact"]) if context.get("contact_email") else ("", Markup(""))
    parts["unsubscribe"] = both(common["unsubscribe"]) if context.get("unsubscribe_url") else ("", Markup(""))
    body = [both(p) for p in wording["body"]]
    questions = context.get("questions") or []
    layout = {
        "subject": subject, "lang": lang, "direction": "rtl" if lang in RTL_LANGUAGES else "ltr",
        "questions": questions, "questions_heading": wording.get("questions", ""),
        "consultation_url": context["consultation_url"], "unsubscribe_url": context.get("unsubscribe_url") or "",
    }  # fmt: skip
    text = text_env.get_template("mail.txt.j2").render(
        **layout, body=[t for t, _ in body], **{k: t for k, (t, _) in parts.items()}
    )
    html = html_env.get_template("mail.html.j2").render(
        **layout, body=[h for _, h in body], **{k: h for k, (_, h) in parts.items()}
    )
    return Rendered(subject=subject, text=text, html=html)
