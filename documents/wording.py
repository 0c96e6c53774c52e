"""Document wording by language (documents/catalog), and dates as letters write them."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from states.dates import long_date
from states.languages import LANGUAGES, RTL_LANGUAGES

HERE = Path(__file__).parent


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language code {lang!r}; use one of {', '.join(LANGUAGES)}")
    return tomllib.loads((HERE / "catalog" / f"{lang}.toml").read_text(encoding="utf-8"))


letter_date = long_date  # `19 أغسطس 2017`, `19 August 2017`, `2017年8月19日`, `19 août 2017` (states/dates.py)


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), undefined=StrictUndefined, autoescape=True)
    env.globals["direction"] = lambda lang: "rtl" if lang in RTL_LANGUAGES else "ltr"
    return env


class Words:
    """`words("deadline", deadline=…)`: a catalogue string rendered with escaped values."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.strings = catalogue(lang)

    def __call__(self, key: str, **values: Any) -> Markup:
        return Markup(_compiled(self.strings[key]).render(**{k: isolated(k, v) for k, v in values.items()}))


@cache
def _compiled(text: str):
    """A catalogue string compiled once per process: a compilation called `words` twice per
    contribution, and compiling each time was most of writing a million (bench/compilation)."""
    return environment().from_string(text)


def isolated(key: str, value: Any) -> Any:
    """A value set into a sentence, isolated from the text around it (`<bdi>`, UAX #9): in
    the Arabic letter an English place or a letter number keeps its own order, and an
    address reads left to right, whole, as a link. Markup (a sentence already built) and
    numbers pass as they are."""
    if not isinstance(value, str) or isinstance(value, Markup) or not value:
        return value
    if key == "url" or key.endswith("_url"):
        return Markup('<a href="{0}" dir="ltr" class="address">{0}</a>').format(value)
    if "@" in value and not any(c.isspace() for c in value):
        return Markup('<bdi dir="ltr" class="address">{0}</bdi>').format(value)
    return Markup("<bdi>{0}</bdi>").format(value)
