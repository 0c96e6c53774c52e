"""The e-mail check caches email-validator's verdict per domain; it must agree with
email-validator on every address, fast path or not."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from store.emails import normalise_email

ADDRESSES = [f"{'x' * 65}@example.org", 
    "Jane.Doe@Example.ORG", "a+tag@sub.example.co.uk", "x@münchen.de",
    "o'neil@example.org", "user@xn--mnchen-3ya.de", "δοκιμή@παράδειγμα.δοκιμή",
]  # fmt: skip
BAD = ["plain", "a@b", "a..b@example.org", ".a@example.org", "a@example..org", "a@-example.org", "a@localhost",
       "Jane <jane@example.org>", "a@example.org\n", "a@@example.org", "a@example.test",
       '"quoted local"@example.org']  # fmt: skip


def _reference(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return "refused"


def _ours(value: str) -> str:
    try:
        return normalise_email(value)
    except ValueError as exc:
        assert str(exc).startswith("value is not a valid email address: ")
        return "refused"


@pytest.mark.parametrize("value", ADDRESSES + BAD)
def test_agrees_with_email_validator(value: str) -> None:
    assert _ours(value) == _reference(value)
    assert _ours(value) == _ours(value)  # and again, from the domain cache
    assert (_ours(value) == "refused") == (value in BAD)


atoms = st.text(alphabet="abcXYZ09.!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=12)
domains = st.sampled_from(["example.org", "EXAMPLE.org", "b.c", "a-b.example", "x.y-", "münchen.de", "1.2"])


@given(local=atoms, domain=domains)
def test_agrees_on_generated_addresses(local: str, domain: str) -> None:
    value = f"{local}@{domain}"
    assert _ours(value) == _reference(value)
