"""E-mail addresses: email-validator decides, and does the costly part once per domain.

Checking an address in full costs ~24 µs, mostly the domain's IDNA and Unicode rules: as
much as storing the row, and an import repeats a few domains across thousands of rows.
So the domain's verdict is cached; the local part of an ASCII address is checked against
RFC 5322's dot-atom, the rule email-validator applies to it. Everything else (quoted
local parts, non-ASCII, over-long addresses) goes through email-validator whole.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str:
    """The normalised domain, or EmailNotValidError (not cached: bad domains are rare)."""
    return validate_email(f"x@{domain}", check_deliverability=False).domain


def normalise_email(value: str) -> str:
    """The address as stored: checked, then lower-cased whole (one address, one spelling).

    Raises ValueError with email-validator's reason.
    """
    try:
        local, at, domain = value.rpartition("@")
        if at and value.isascii() and len(value) <= 254 and len(local) <= 64 and _DOT_ATOM.match(local):
            return f"{local}@{_domain(domain)}".lower()
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
