"""Document wording by language (documents/catalog), and dates as letters write them."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from states.languages import LANGUAGES, RTL_LANGUAGES, babel_locale

HERE = Path(__file__).parent


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language code {lang!r}; use one of {', '.join(LANGUAGES)}")
    return tomllib.loads((HERE / "catalog" / f"{lang}.toml").read_text(encoding="utf-8"))


def letter_date(value: date, lang: str) -> str:
    """`19 أغسطس 2017`, `19 August 2017`, `2017年8月19日`, `19 août 2017`."""
    return format_date(value, format="long", locale=babel_locale(lang))


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
        return Markup(environment().from_string(self.strings[key]).render(**values))
