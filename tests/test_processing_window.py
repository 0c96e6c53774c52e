"""Closing as the secretariat does it, on the real gender-divide round of 2017 (letter
10 October, deadline 23 December, meeting 22 January 2018), with an injected clock: the
deadline closes submissions, the clock drafts the compilation for staff only, an e-mailed
contribution received on time is imported after the deadline, a spam response is
withheld, staff publish the compilation — and only then are stakeholders told, once.
The compilation, `show --json`, the public page and the chairman's report then count the
same contributions."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from config import MailSettings, Settings
from documents import compilation, report
from flows import work
from notifications.effects import receive
from states import Stage, Trigger
from store import consultations as repo
from store import submissions
from store.counts import response_counts
from store.models import SubmissionCreate
from store.response_file import import_file
from store.tables import OutboxMessage
from tests.factories import POLICY, change_stage, decision, geneva
from tests.test_mail import add_people

GENDER = {
    "slug": "gender-2017", "decided_on": date(2017, 10, 2), "letter_date": date(2017, 10, 10),
    "deadline": date(2017, 12, 23), "meeting_on": date(2018, 1, 22),
    "title": {"en": "Bridging the gender digital divide", "ar": "سد الفجوة الرقمية بين الجنسين"},
    "questions": [{"en": "What are the main barriers?", "ar": "ما هي العوائق الرئيسية؟"}],
}  # fmt: skip
SETTINGS = Settings(policy=POLICY, mail=MailSettings(sender="CWG <cwg-internet@itu.int>", base_url="https://x.example"))


def _response(name: str, email: str, summary: str) -> SubmissionCreate:
    return SubmissionCreate(name=name, organisation=f"{name} Org", category="member_state", country="EG",
                            email=email, language="en", summary=summary,
                            answers=[{"question": 1, "text": f"{name}'s answer"}])  # fmt: skip


def _purposes(session: Session) -> Counter[str]:
    session.expire_all()
    return Counter(m.purpose for m in session.exec(select(OutboxMessage)))


def test_the_2017_gender_divide_round(session: Session, engine: Engine, database_url: str, tmp_path: Path) -> None:
    add_people(session)
    settings = SETTINGS
    c = repo.create_consultation(session=session, data=decision(**GENDER), proposed=False, actor="staff:test",
                                 now=geneva(date(2017, 10, 2)), policy=POLICY).consultation  # fmt: skip
    change_stage(session=session, consultation=c, trigger=Trigger.ISSUE_LETTER, actor="staff:test",
                 now=geneva(date(2017, 10, 10)), policy=POLICY, letter_number="CL-17/45")  # fmt: skip
    session.commit()
    work.advance_all_due(engine=engine, now=geneva(date(2017, 10, 10), 12), settings=settings)  # opens
    session.refresh(c)
    for name, email, summary in (("Egypt", "mcit@example.eg", "Egypt's contribution"),
                                 ("Spam", "spam@example.com", "Buy now")):  # fmt: skip
        receive(session=session, consultation=c, data=_response(name, email, summary), now=geneva(date(2017, 11, 2)),
                settings=settings, channel="web")  # fmt: skip
    session.commit()

    # The deadline passes: closed, and the clock drafts the compilation — for staff only.
    report_ = work.advance_all_due(engine=engine, now=geneva(date(2017, 12, 24), 9), settings=settings)
    assert [a.split(": ", 1)[1] for a in report_.actions if "→" in a] == [
        "open → closed (close-submissions)", "closed → compiled (compile)",
    ]  # fmt: skip
    session.refresh(c)
    assert c.stage == Stage.COMPILED.value and "compiled" not in _purposes(session)

    # A contribution e-mailed on 20 December is keyed in after the deadline; the spam is withheld.
    emailed = tmp_path / "emailed.jsonl"
    emailed.write_text(json.dumps({"name": "Kenya ICT Authority", "category": "member_state", "country": "KE",
                                   "email": "ict@example.ke", "language": "en", "summary": "Sent by e-mail",
                                   "answers": [{"question": 1, "text": "Affordability."}]}) + "\n",
                       encoding="utf-8")  # fmt: skip
    assert import_file(session=session, consultation=c, path=emailed, now=geneva(date(2017, 12, 28))) == (1, 0)
    spam = next(s for s in submissions.all_for(session=session, consultation_id=repo.key(c)) if s.name == "Spam")
    submissions.set_published(session=session, reference=spam.reference, published=False)
    session.commit()

    # Staff publish the compilation: now, and only now, stakeholders are told — once.
    change_stage(session=session, consultation=c, trigger=Trigger.PUBLISH_COMPILATION, actor="staff:test",
                 now=geneva(date(2018, 1, 8)), policy=POLICY)  # fmt: skip
    session.commit()
    for _ in range(2):
        work.advance_all_due(engine=engine, now=geneva(date(2018, 1, 8), 12), settings=settings)
    assert _purposes(session)["compiled"] == 6  # one per stakeholder, however many ticks

    counts = response_counts(session.connection(), repo.key(c))
    assert (counts.received, counts.published, counts.withheld, counts.online, counts.other) == (3, 2, 1, 2, 1)
    conn = session.connection()
    assert compilation.count(conn, repo.key(c)) == 2
    csv_out = io.StringIO()
    compilation.write_csv(conn, c, csv_out)
    assert len(csv_out.getvalue().strip().splitlines()) == 1 + 2  # header + the published contributions
    assert "Sent by e-mail" in csv_out.getvalue() and "Buy now" not in csv_out.getvalue()  # summaries, not spam
    html = compilation.html_string(conn, c, lang="en")
    assert "Kenya ICT Authority" in html and "Spam" not in html and "Sent by e-mail" in html  # its summary

    shown = json.loads(CliRunner().invoke(app, ["show", "gender-2017", "--json"],
                                          env={"CONSULT_DATABASE_URL": database_url}).stdout)  # fmt: skip
    assert shown["stage"] == "published"
    assert shown["responses"] == {"received": 3, "published": 2, "withheld": 1, "by_channel": {"online": 2, "other": 1}}

    # The chairman's report counts what the published compilation holds.
    change_stage(session=session, consultation=c, trigger=Trigger.HOLD_MEETING, actor="staff:test",
                 now=geneva(date(2018, 1, 22), 17), policy=POLICY, meeting_summary="Agreed.")  # fmt: skip
    session.commit()
    built = report.build(session, c, lang="en", settings=settings)
    assert built.counts[-1][1] == compilation.count(session.connection(), repo.key(c)) == 2
    summary = built.sections[0][1][0]
    assert "2 contributions were published — 1 received online" in summary and "1 by e-mail or on paper" in summary
