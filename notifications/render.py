"""Rendering a mail: the purpose's wording from the language's catalogue, laid out by
one text and one HTML template. Jinja2 with StrictUndefined everywhere (a missing value
fails loudly), autoescape for HTML (user text never becomes markup)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from states import Notice
from states.clock import Alert
from states.languages import LANGUAGES, RTL_LANGUAGES

HERE = Path(__file__).parent
# The lifecycle's notices (states.Notice), reminders and receipts, and the staff alerts.
CLOCK_FAILING = "alert_clock_failing"  # to the contact, when the clock fails on a consultation again and again
CLOCK_STOPPED = "alert_clock_stopped"  # to the contacts of live consultations, when no tick completes
PURPOSES = (*(n.value for n in Notice), "reminder", "receipt", *(a.value for a in Alert), CLOCK_FAILING, CLOCK_STOPPED)


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


def _single_line(text: str) -> str:
    return " ".join(text.split())


# Unicode isolates (UAX #9): a value set into right-to-left wording keeps its own order.
# FSI takes the value's own direction (an English title); LRI forces left-to-right (an
# address: "https://…/respond" must not come out backwards). Spaces inside the isolate keep
# a mail client's link detection from taking the invisible PDI into the address.
FSI, LRI, PDI = "\u2068", "\u2066", "\u2069"


def _is_link(key: str) -> bool:
    return key.endswith("_url")


def _is_address(value: str) -> bool:
    return "@" in value and not any(c.isspace() for c in value)


def _isolated_text(values: dict[str, Any], rtl: bool) -> dict[str, Any]:
    if not rtl:
        return values
    out = dict(values)
    for key, value in values.items():
        if isinstance(value, str) and value and key != "lang":
            out[key] = f"{LRI} {value} {PDI}" if _is_link(key) or _is_address(value) else f"{FSI}{value}{PDI}"
    return out


def _isolated_html(values: dict[str, Any]) -> dict[str, Any]:
    """Every value in its own `<bdi>` (the HTML isolate), addresses as links that read left
    to right: in an Arabic message an English title or a URL keeps its order."""
    out = dict(values)
    for key, value in values.items():
        if not isinstance(value, str) or not value or key == "lang":
            continue
        if _is_link(key):
            out[key] = Markup('<a href="{0}" dir="ltr">{0}</a>').format(value)
        elif _is_address(value):
            out[key] = Markup('<a href="mailto:{0}" dir="ltr">{0}</a>').format(value)
        else:
            out[key] = Markup("<bdi>{0}</bdi>").format(value)
    return out


def render(purpose: str, lang: str, context: dict[str, Any]) -> Rendered:
    """Render one message; `context` holds every value the wording names. A paragraph the
    wording leaves empty for this message (a condition not met) is left out."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown mail purpose {purpose!r}")
    strings = catalogue(lang)
    common, wording = strings["common"], strings[purpose]
    text_env, html_env = _environments()
    values = {**context, "lang": lang}
    text_values, html_values = _isolated_text(values, lang in RTL_LANGUAGES), _isolated_html(values)

    def both(template: str) -> tuple[str, Markup]:
        return (_compiled(template, False).render(text_values),
                Markup(_compiled(template, True).render(html_values)))  # fmt: skip

    subject = _single_line(_compiled(wording["subject"], False).render(text_values))
    parts = {key: both(common[key]) for key in ("greeting", "signoff", "view")}
    parts["contact"] = both(common["contact"]) if context.get("contact_email") else ("", Markup(""))
    parts["unsubscribe"] = both(common["unsubscribe"]) if context.get("unsubscribe_url") else ("", Markup(""))
    body = [pair for pair in (both(p) for p in wording["body"]) if pair[0].strip()]
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


# A stakeholder's own values in a notice, and a respondent's in a receipt; everything else
# is the same for every recipient who reads that language (and, for a receipt, whose
# response is in the same state).
PERSONAL = ("name", "unsubscribe_url")
RECEIPT_PERSONAL = ("name", "reference", "received_at", "manage_url")
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use: never typed in a name


def _probe(key: str) -> str:
    return "https://probe.example/u/x?a=1&b=<2>" if _is_link(key) else "Probe O'Name <&> \u0645\u062b\u0627\u0644"


class Stencil:
    """One message rendered once with marks where the personal values go; each recipient's
    copy is the stencil with theirs set in, isolated and escaped as `render` would. A
    fan-out of 100,000 reminders rendered 17 templates per message (0.85 ms each: 85 s,
    longer than sending them); this is a few string replacements. A receipt took a fifth
    of a web submission's own time to render (bench/http_postgres.py).

    Byte-for-byte the same as `render` (tests/test_mail.py compares them for every purpose
    and language, with values hypothesis makes up); where it could not be — a value that
    looks like an address (rendered as a mail link), a mark in a value, wording that
    transforms a value — `fill` renders the message whole instead."""

    def __init__(self, purpose: str, lang: str, context: dict[str, Any], personal: tuple[str, ...] = PERSONAL) -> None:
        self.purpose, self.lang, self.context = purpose, lang, context
        self.marks = {key: f"{_OPEN}{n}{_CLOSE}" for n, key in enumerate(personal)}
        marked = render(purpose, lang, {**context, **self.marks})
        self.subject, self.text, self.html = marked.subject, marked.text, marked.html
        self.usable = not any(mark in self.subject for mark in self.marks.values())
        # Wording that filters or transforms a personal value would leave its mark changed:
        # one recipient set in both ways tells.
        probe = {key: _probe(key) for key in personal}
        self.usable = self.usable and self.fill(probe) == render(purpose, lang, {**context, **probe})

    def fill(self, personal: dict[str, str]) -> Rendered:
        if not self.usable or not self._fits(personal):
            return render(self.purpose, self.lang, {**self.context, **personal})
        text, html = self.text, self.html
        for key, mark in self.marks.items():
            text = text.replace(mark, personal[key])
            html = html.replace(mark, str(escape(personal[key])))
        return Rendered(subject=self.subject, text=text, html=html)

    def _fits(self, personal: dict[str, str]) -> bool:
        if personal.keys() != self.marks.keys():
            return False
        return all(
            isinstance(value, str) and value and _OPEN not in value and _CLOSE not in value
            and (_is_link(key) or not _is_address(value))
            for key, value in personal.items()
        )  # fmt: skip


_STENCILS: dict[str, Stencil] = {}


def stencil(purpose: str, lang: str, context: dict[str, Any], personal: tuple[str, ...]) -> Stencil:
    """The stencil of a message with everything but `personal` as in `context`, made once
    per process for as long as those stay the same (a receipt: per consultation, language
    and state of the response), at most a few hundred kept."""
    key = json.dumps([purpose, lang, personal, context], sort_keys=True, default=str, ensure_ascii=False)
    found = _STENCILS.get(key)
    if found is None:
        if len(_STENCILS) >= 512:
            _STENCILS.clear()
        found = _STENCILS[key] = Stencil(purpose, lang, context, personal)
    return found
