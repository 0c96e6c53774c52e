"""Interface wording in the six languages, and choosing the reader's language
(`?lang=`, then Accept-Language, then English)."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from markupsafe import Markup, escape
from starlette.requests import Request

from states.languages import FALLBACK_ORDER, LANGUAGES, RTL_LANGUAGES

HERE = Path(__file__).parent


@cache
def words(lang: str) -> dict[str, str]:
    return tomllib.loads((HERE / "catalog" / f"{lang}.toml").read_text(encoding="utf-8"))


def negotiate(request: Request) -> str:
    asked = request.query_params.get("lang", "").lower()
    if asked in LANGUAGES:
        return asked
    ranked: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, q = part.strip().partition(";q=")
        code = tag.split("-")[0].lower()
        if code in LANGUAGES:
            try:
                ranked.append((float(q or 1), code))
            except ValueError:
                continue
    return max(ranked)[1] if ranked else "en"


def direction(lang: str) -> str:
    return "rtl" if lang in RTL_LANGUAGES else "ltr"


@cache
def autonym(lang: str) -> str:
    """A language's name in itself (CLDR, via Babel): how a reader finds their own."""
    from babel import Locale

    name = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:] if lang not in RTL_LANGUAGES else name


FIELDS = ("name", "organisation", "category", "country", "email", "language", "summary")
_CHOICES = {"category": "err_choice", "language": "err_choice", "country": "err_country", "email": "err_email"}


def field_label(field: str, lang: str) -> str:
    """A form field's label without its parenthetical hint: "E-mail", not "E-mail (not published)"."""
    t = words(lang)
    label = t.get(field) or t.get("answer", field)
    return label.split(" (")[0].split("（")[0].strip()


def form_errors(errors: list[dict], lang: str) -> list[tuple[str, str]]:
    """Pydantic's errors for a form, as (field, message) in the reader's language: the
    field gets aria-invalid and the message a link to it."""
    t = words(lang)
    out: list[tuple[str, str]] = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        field = loc[0] if loc else ""
        if field == "answers":
            out.append(("answer_1", t["err_answer"]))
            continue
        label = field_label(field, lang)
        kind = error.get("type", "")
        if kind in {"missing", "string_too_short"}:
            key = "err_required"
        elif kind == "string_too_long":
            key = "err_too_long"
        else:
            key = _CHOICES.get(field, "err_invalid")
        limit = (error.get("ctx") or {}).get("max_length", "")
        out.append((field, t[key].format(field=label, max=limit)))
    return out


@cache
def countries(lang: str) -> list[tuple[str, str]]:
    """ISO 3166 countries named in the reader's language (CLDR, via Babel), by name."""
    from babel import Locale

    from states.languages import babel_locale
    from store.vocab import country_codes

    names = Locale.parse(babel_locale(lang)).territories
    return sorted(((code, str(names.get(code, code))) for code in country_codes()), key=lambda item: item[1])


@cache
def language_name(code: str, lang: str) -> str:
    """`code`'s name in `lang` (CLDR): "arabe" on a French page."""
    from babel import Locale

    from states.languages import babel_locale

    return Locale.parse(babel_locale(lang)).languages.get(code, code)


def translated(texts: dict[str, str], lang: str) -> Markup:
    """The text in the reader's language; when the decision lacks it, the first available
    in the fallback order, marked as such in the reader's language — never a silent
    switch of language."""
    if texts.get(lang):
        return Markup(escape(texts[lang]))
    shown = next((code for code in FALLBACK_ORDER if texts.get(code)), None)
    if shown is None:
        return Markup("")
    note = words(lang)["not_in_language"].format(missing=language_name(lang, lang), shown=language_name(shown, lang))
    return Markup('<span lang="{0}" dir="{1}">{2}</span> <small class="untranslated">({3})</small>').format(
        shown, direction(shown), texts[shown], note
    )
