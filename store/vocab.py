"""Controlled vocabularies for stakeholders and responses."""

from __future__ import annotations

from functools import cache

from babel import Locale

CATEGORIES: tuple[str, ...] = ("member_state", "sector_member", "associate", "academia", "other")

# CLDR territories that are not ISO 3166-1 alpha-2 country codes.
_NOT_ISO = frozenset({"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"})


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2, from the CLDR data Babel ships (no list of our own to keep)."""
    codes = (c for c in Locale("en").territories if isinstance(c, str))
    return frozenset(c for c in codes if len(c) == 2 and c.isalpha() and c not in _NOT_ISO)
