"""`consult demo`: the three real consultations of shared/reference/, each brought to the
stage it had at `now` by replaying its history through the same lifecycle service staff use,
then the live consultations placed relative to `now` (demo/live.py) and a staff account.

History that the reference documents do not date (the report days, times of day) is
chosen to fit them; see the comments in data/*.toml.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from config import Settings
from documents.archive import Renderer
from notifications.fanout import settle_as_history
from states import Request, Stage, Trigger
from states.timing import local_instant
from store import consultations as repo
from store import lifecycle
from store.decision_file import read_decision_file
from store.staff import add_staff, find_staff

DATA = Path(__file__).with_name("data")
SECRETARIAT = "staff:secretariat (demo)"
SUMMARY = (
    "Brief summary of the physical open consultation meeting, approved by its participants "
    "and published on the CWG-Internet website."
)


@dataclass(frozen=True)
class Event:
    trigger: Trigger
    day: date
    at: time = time(10, 0)
    request: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Story:
    file: str
    proposed_on: date | None
    events: tuple[Event, ...]


def _after_deadline(day: date) -> date:
    return day + timedelta(days=1)


STORIES = (
    Story(
        "enabling-environment-2016.toml",
        None,
        (
            # The reference gives neither 2016 letter's number: these stand in, in the registry's form.
            Event(Trigger.ISSUE_LETTER, date(2016, 2, 1), request={"letter_number": "CL-16/1"}),
            Event(Trigger.OPEN_SUBMISSIONS, date(2016, 2, 1), time(10, 5)),
            Event(Trigger.CLOSE_SUBMISSIONS, _after_deadline(date(2016, 9, 11)), time(0, 1)),
            Event(Trigger.COMPILE, _after_deadline(date(2016, 9, 11)), time(0, 2)),
            Event(Trigger.PUBLISH_COMPILATION, date(2016, 10, 4)),
            Event(Trigger.HOLD_MEETING, date(2016, 10, 11), time(17, 0), {"meeting_summary": SUMMARY}),
            Event(Trigger.REPORT, date(2017, 5, 15)),
        ),
    ),
    Story(
        "developmental-aspects-2016.toml",
        None,
        (
            Event(Trigger.ISSUE_LETTER, date(2016, 10, 24), request={"letter_number": "CL-16/2"}),
            Event(Trigger.OPEN_SUBMISSIONS, date(2016, 10, 24), time(10, 5)),
            Event(
                Trigger.EXTEND_DEADLINE,
                date(2016, 12, 21),
                request={"new_deadline": date(2017, 1, 11), "reason": "stakeholders asked for more time"},
            ),
            Event(Trigger.CLOSE_SUBMISSIONS, _after_deadline(date(2017, 1, 11)), time(0, 1)),
            Event(Trigger.COMPILE, _after_deadline(date(2017, 1, 11)), time(0, 2)),
            Event(Trigger.PUBLISH_COMPILATION, date(2017, 1, 27)),
            Event(Trigger.HOLD_MEETING, date(2017, 2, 3), time(17, 0), {"meeting_summary": SUMMARY}),
            Event(Trigger.REPORT, date(2017, 5, 15)),
        ),
    ),
    Story(
        "ott-2017.toml",
        date(2017, 2, 7),  # the 9th meeting referred the topic to Council 2017 (report, annex)
        (
            Event(Trigger.DECIDE, date(2017, 5, 25), time(12, 0)),
            Event(Trigger.ISSUE_LETTER, date(2017, 6, 14), request={"letter_number": "CL-17/30"}),
            Event(Trigger.OPEN_SUBMISSIONS, date(2017, 6, 14), time(10, 5)),
            Event(Trigger.CLOSE_SUBMISSIONS, _after_deadline(date(2017, 8, 19)), time(0, 1)),
            Event(Trigger.COMPILE, _after_deadline(date(2017, 8, 19)), time(0, 2)),
            Event(Trigger.PUBLISH_COMPILATION, date(2017, 9, 11)),  # a week before the meeting works from it
            Event(Trigger.HOLD_MEETING, date(2017, 9, 18), time(17, 0), {"meeting_summary": SUMMARY}),
            Event(Trigger.REPORT, date(2018, 4, 17)),
        ),
    ),
)


def _actor(trigger: Trigger) -> str:
    return (
        "system" if trigger in {Trigger.OPEN_SUBMISSIONS, Trigger.CLOSE_SUBMISSIONS, Trigger.COMPILE} else SECRETARIAT
    )


DEMO_STAFF = "demo"


def load_demo(*, session: Session, now: datetime, settings: Settings, live: bool = True) -> Iterator[str]:
    """The historical rounds, then (unless `live` is off) the live ones and the staff account."""
    yield from load_history(session=session, now=now, settings=settings)
    if live:
        from demo.live import load_live

        yield from load_live(session=session, now=now, settings=settings)
        yield from demo_staff(session=session, now=now)


def demo_staff(*, session: Session, now: datetime) -> Iterator[str]:
    """A staff account for trying the dashboard; its password is printed once, here."""
    if find_staff(session=session, name=DEMO_STAFF) is not None:
        yield f"staff login {DEMO_STAFF!r}: already there (set a new password with `consult staff add {DEMO_STAFF}`)"
        return
    password = secrets.token_urlsafe(12)
    add_staff(session=session, name=DEMO_STAFF, password=password, now=now, role="admin")
    session.commit()
    yield f"staff login: {DEMO_STAFF} / {password}   (printed once; change it with `consult staff add {DEMO_STAFF}`)"


def load_history(*, session: Session, now: datetime, settings: Settings) -> Iterator[str]:
    policy = settings.policy
    """Create each story's consultation (if absent) and replay its events up to `now`."""
    for story in STORIES:
        data = read_decision_file(DATA / story.file, policy=policy)
        tz = data.timezone
        if repo.exists(session=session, slug=data.slug):
            yield f"{data.slug}: already loaded, left as it is"
            continue
        start = story.proposed_on or data.decided_on
        assert start is not None
        created_at = local_instant(start, time(12, 0), tz)
        if created_at > now:
            first = Stage.PROPOSED if story.proposed_on else Stage.DECIDED
            yield f"{data.slug}: not yet {first.value} at {now:%Y-%m-%d}"
            continue
        proposed = story.proposed_on is not None
        c = repo.create_consultation(
            session=session, data=data, proposed=proposed, actor=SECRETARIAT, now=created_at, policy=policy
        ).consultation
        for event in story.events:
            at = local_instant(event.day, event.at, tz)
            if at > now:
                break
            request = dict(event.request)
            if "new_deadline" in request:
                request["new_deadline"] = local_instant(request["new_deadline"], time(23, 59, 59), tz)
            lifecycle.fire(
                session=session, consultation=c, trigger=event.trigger, actor=_actor(event.trigger),
                now=at, policy=settings.policy, documents=Renderer(settings), request=Request(**request),
            )  # fmt: skip
        settle_as_history(session=session, consultation_id=repo.key(c), now=now)  # its mail went out back then
        session.commit()
        yield f"{c.slug}: {c.stage} (letter {c.letter_number or '—'})"
