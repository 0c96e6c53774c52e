"""Interface wording in the six languages, and choosing the reader's language
(`?lang=`, then Accept-Language, then English)."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from starlette.requests import Request

from states.languages import LANGUAGES, RTL_LANGUAGES

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
