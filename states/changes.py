"""The `apply` steps of the table: pure functions of the facts, the request and `now`
that say what a trigger changes on the consultation and what its audit row records."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from states.contract import Changes, Request
from states.errors import ConsultError
from states.guards import Facts
from states.timing import local_date, reminder_at

LETTER_NUMBER = re.compile(r"^CL-(\d{2})/(\d{1,3})$")


def issue_letter(facts: Facts, request: Request, now: datetime) -> Changes:
    """The letter is dated the day it is issued in the consultation's zone; its number is
    the registry's (checked for form and year here, for uniqueness by the database) or,
    when this tool keeps the registry and none is given, the year's next one."""
    issued_on = local_date(now, facts.plan.timezone)
    number = request.letter_number
    if number:
        match = LETTER_NUMBER.match(number.strip())
        if not match:
            raise ConsultError(f"letter number {number!r} is not of the form CL-YY/NN (e.g. CL-17/30)")
        if int(match.group(1)) != issued_on.year % 100:
            raise ConsultError(f"letter number {number!r} is not of the letter's year {issued_on.year}")
        number = f"CL-{match.group(1)}/{int(match.group(2))}"
    return Changes(
        fields={"letter_number": number, "letter_issued_on": issued_on},
        details={"letter_number": number} if number else {},
        allocate_letter_number_from=facts.first_letter_number if number is None else None,
    )


def extend_deadline(facts: Facts, request: Request, now: datetime) -> Changes:
    old, new = facts.plan.deadline, request.new_deadline
    assert old is not None and new is not None  # the guards checked both
    # The reminders re-arm: they count down to the new deadline (their mail is keyed by it).
    # Those whose moment has already passed for the new deadline count as sent: the
    # extension notice says what they would (never "3 days left" right after it).
    extended = replace(facts.plan, deadline=new)
    passed = [d for d in facts.reminder_offsets if reminder_at(extended, d, facts.reminder_time) <= now]
    return Changes(fields={"deadline": new, "last_reminder_days": min(passed) if passed else None},
                   details={"from": old.isoformat(), "to": new.isoformat()})  # fmt: skip


def hold_meeting(facts: Facts, request: Request, now: datetime) -> Changes:
    """The summary agreed by the participants is recorded with the meeting, then locked:
    no trigger writes it again."""
    return Changes(fields={"meeting_summary": request.meeting_summary})


def discard(facts: Facts, request: Request, now: datetime) -> Changes:
    """Nothing went out yet (no letter): the consultation leaves every public page and its
    slug is freed for a new one; its audit log stays whole."""
    return Changes(fields={"discarded_at": now}, free_slug=True)
