"""Dates, instants and spans as the organisation writes them, in each of the six languages:
one module, so the letter, the mail and the pages never disagree. CLDR via Babel; British
English wherever English appears ("19 August 2017", never "August 19, 2017")."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from babel.dates import format_date, format_datetime, format_timedelta

from states.languages import babel_locale
from states.timing import zone


def long_date(value: date, lang: str) -> str:
    """The letter's own style: `19 أغسطس 2017`, `2017年8月19日`, `19 août 2017`."""
    return format_date(value, format="long", locale=babel_locale(lang))


def long_instant(value: datetime, lang: str, tz: str, *, with_zone: bool = False) -> str:
    """A date and time in the consultation's zone, for the reader's locale; `with_zone` adds
    the zone's abbreviation (CEST) where the reader may be elsewhere."""
    return _long_minute(value.replace(second=0, microsecond=0), lang, tz, with_zone)


@lru_cache(maxsize=1024)
def _long_minute(value: datetime, lang: str, tz: str, with_zone: bool) -> str:
    """Worded to the minute, so kept by the minute: every receipt of a web submission words
    its time received, and Babel's formatting was a fiftieth of its intake's time."""
    local = value.astimezone(zone(tz))
    locale = babel_locale(lang)
    text = f"{format_date(local.date(), format='long', locale=locale)} {format_datetime(local, 'HH:mm', locale=locale)}"
    return f"{text} {local.strftime('%Z')}" if with_zone else text


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
