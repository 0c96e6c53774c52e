"""The staff workspace (issue 13) on SQLite and PostgreSQL: moderation recorded in the
audit log, editing until the letter, discarding, the responses table (search, filters,
paging by id, counts), the exports, the registry's import as Excel writes it, the public
home and the stage board, and "overdue" meaning past the instant."""

from __future__ import annotations

import codecs
import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session

from notifications import registry
from states import Stage, Trigger
from states.errors import Conflict, ConsultError, GuardRefused, NotFound, TriggerNotAllowed
from store import consultations as repo
from store import submissions
from store.decision_file import decision_of, merged, parse_decision
from store.models import SubmissionCreate
from store.response_search import ResponseFilter, search
from store.verify import verify
from tests.factories import POLICY, STAFF, change_stage, consultation_in, decision, geneva, submit_confirmed
from tests.web_fixtures import NOW, client  # noqa: F401  (a fixture)
from tests.web_fixtures import STAFF as WEB_STAFF
from web.context import card

DATA = Path(__file__).parent / "data"


def _respond(session: Session, c, n: int, **overrides) -> str:
    fields = {"name": f"Respondent {n}", "category": "other", "country": "CH", "email": f"r{n}@example.org",
              "language": "en", "summary": "summary", "answers": [{"question": 1, "text": f"answer {n}"}]}  # fmt: skip
    data = SubmissionCreate.model_validate({**fields, **overrides})
    return submit_confirmed(session=session, consultation=c, data=data, now=NOW, channel="web").submission.reference


def test_moderation_is_recorded_and_replays(session: Session) -> None:
    c = consultation_in(session, Stage.OPEN)
    ref = _respond(session, c, 1)
    session.commit()
    with pytest.raises(ConsultError, match="give a reason"):
        submissions.moderate(session=session, consultation=c, reference=ref, publish=False, reason=" ", actor=STAFF,
                             now=NOW)  # fmt: skip
    submissions.moderate(session=session, consultation=c, reference=ref, publish=False, reason="personal data",
                         actor="staff:mod", now=NOW)  # fmt: skip
    session.commit()
    with pytest.raises(ConsultError, match="already withheld"):
        submissions.moderate(session=session, consultation=c, reference=ref, publish=False, reason="again",
                             actor="staff:mod", now=NOW)  # fmt: skip
    later = NOW + timedelta(hours=2)
    submissions.moderate(session=session, consultation=c, reference=ref, publish=True, reason="redacted by sender",
                         actor="staff:mod2", now=later)  # fmt: skip
    session.commit()
    history = submissions.moderation_history(session=session, consultation_id=repo.key(c), reference=ref)
    assert [(e.trigger, e.actor, e.reason, e.at) for e in history] == [
        ("withhold_response", "staff:mod", "personal data", NOW),
        ("publish_response", "staff:mod2", "redacted by sender", later),
    ]
    assert all(e.from_stage == e.to_stage == "open" for e in history)
    assert repo.replayed_stage(session=session, consultation_id=repo.key(c)) is Stage.OPEN  # actions skip the replay
    assert not verify(session=session, attachments=Path("/nonexistent")).problems
    with pytest.raises(NotFound):
        submissions.moderate(session=session, consultation=c, reference="R-NOPE", publish=False, reason="x",
                             actor=STAFF, now=NOW)  # fmt: skip


def test_edit_until_the_letter(session: Session) -> None:
    c = consultation_in(session, Stage.DECIDED)
    raw = decision_of(c)
    raw["questions"] = [dict(q) for q in raw["questions"]]
    raw["questions"][1]["en"] = "Question 2, typo fixed?"
    data = parse_decision(merged(decision_of(c), {"questions": raw["questions"], "meeting_place": "Bern"}),
                          policy=POLICY)  # fmt: skip
    changed = repo.edit_consultation(session=session, consultation=c, data=data, actor="staff:ed", now=NOW,
                                     policy=POLICY)  # fmt: skip
    session.commit()
    assert set(changed) == {"questions", "meeting_place"}
    assert changed["meeting_place"] == {"from": "Geneva, Switzerland", "to": "Bern"}
    entry = repo.audit_log(session=session, consultation_id=repo.key(c))[-1]
    assert (entry.trigger, entry.actor, entry.details["changed"]["meeting_place"]["to"]) == ("edit", "staff:ed", "Bern")
    assert c.questions[1]["en"] == "Question 2, typo fixed?" and c.questions[1]["ar"] == "السؤال 2؟"
    # nothing differs: nothing recorded
    same = parse_decision(decision_of(c), policy=POLICY)
    assert repo.edit_consultation(session=session, consultation=c, data=same, actor=STAFF, now=NOW, policy=POLICY) == {}
    # the timing rules still apply to a decided consultation: a deadline before the letter is refused
    bad = parse_decision(merged(decision_of(c), {"deadline": date(2017, 6, 1)}), policy=POLICY)
    with pytest.raises(ConsultError):
        repo.edit_consultation(session=session, consultation=c, data=bad, actor=STAFF, now=NOW, policy=POLICY)
    session.rollback()
    assert repo.get(session=session, ref=c.slug).deadline.date() == date(2017, 8, 19)  # type: ignore[union-attr]
    # someone else's edit meanwhile
    with pytest.raises(Conflict, match="changed by someone else"):
        repo.edit_consultation(session=session, consultation=c, data=data, actor=STAFF, now=NOW, policy=POLICY,
                               version=c.version - 1)  # fmt: skip
    # after the letter only triggers change it
    lettered = consultation_in(session, Stage.LETTER_ISSUED)
    with pytest.raises(Conflict, match="only triggers change it"):
        repo.edit_consultation(session=session, consultation=lettered, data=decision(slug=lettered.slug),
                               actor=STAFF, now=NOW, policy=POLICY)  # fmt: skip


def test_discard_frees_the_slug_and_keeps_the_audit(session: Session) -> None:
    c = consultation_in(session, Stage.DECIDED, slug="test-run")
    with pytest.raises(GuardRefused, match="reason"):
        change_stage(session=session, consultation=c, trigger=Trigger.DISCARD, actor=STAFF, now=NOW, policy=POLICY)
    session.rollback()
    c = repo.get(session=session, ref="test-run")
    change_stage(session=session, consultation=c, trigger=Trigger.DISCARD, actor=STAFF, now=NOW, policy=POLICY,
                 reason="a rehearsal")  # fmt: skip
    session.commit()
    key = repo.key(c)
    assert c.slug == f"{key}~test-run" and c.discarded_slug == "test-run" and c.stage == "cancelled"
    assert "test-run" not in [x.slug for x in repo.list_consultations(session=session)]
    with pytest.raises(NotFound):
        repo.get(session=session, ref="test-run")
    with pytest.raises(NotFound):
        repo.get(session=session, ref=str(key))  # gone from public pages, by id too
    kept = repo.get(session=session, ref=str(key), discarded=True)
    assert [e.trigger for e in repo.audit_log(session=session, consultation_id=key)] == ["decide", "discard"]
    assert repo.replayed_stage(session=session, consultation_id=key) is Stage.CANCELLED and kept.discarded_at == NOW
    again = consultation_in(session, Stage.DECIDED, slug="test-run")  # the slug is free again
    assert again.id != key
    opened = consultation_in(session, Stage.OPEN)
    with pytest.raises(TriggerNotAllowed):
        change_stage(session=session, consultation=opened, trigger=Trigger.DISCARD, actor=STAFF, now=NOW,
                     policy=POLICY, reason="too late")  # fmt: skip


def test_responses_table_search_filters_and_paging(session: Session) -> None:
    c = consultation_in(session, Stage.OPEN)
    for n in range(1, 121):
        _respond(session, c, n, category="member_state" if n % 3 == 0 else "other",
                 country="EG" if n % 4 == 0 else "CH", language="ar" if n % 5 == 0 else "en")  # fmt: skip
    _respond(session, c, 500, name="وزارة الاتصالات", language="ar",
             answers=[{"question": 1, "text": "نؤيد الشفافية في إدارة الأرقام"}])  # fmt: skip
    session.commit()
    key = repo.key(c)
    seen: list[str] = []
    before = None
    while True:
        page = search(session=session, consultation_id=key, wanted=ResponseFilter(), before=before, limit=50)
        assert page.total == 121
        seen += [s.reference for s in page.rows]
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == len(set(seen)) == 121
    egypt = search(session=session, consultation_id=key, wanted=ResponseFilter(country="eg", category="member_state"))
    assert egypt.total == 10 and all(s.country == "EG" and s.category == "member_state" for s in egypt.rows)
    arabic = search(session=session, consultation_id=key, wanted=ResponseFilter(q="الشفافية"))
    assert [s.name for s in arabic.rows] == ["وزارة الاتصالات"]
    assert search(session=session, consultation_id=key, wanted=ResponseFilter(q="100%")).total == 0  # % is literal
    assert search(session=session, consultation_id=key, wanted=ResponseFilter(q="RESPONDENT 7")).total == 11  # 7, 70-79
    ref = search(session=session, consultation_id=key, wanted=ResponseFilter(q="answer 42")).rows[0].reference
    submissions.moderate(session=session, consultation=c, reference=ref, publish=False, reason="spam", actor=STAFF,
                         now=NOW)  # fmt: skip
    withheld = search(session=session, consultation_id=key, wanted=ResponseFilter(status="withheld"))
    assert [s.reference for s in withheld.rows] == [ref]


def _login(client: TestClient) -> str:  # noqa: F811
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)  # type: ignore[union-attr]
    client.post("/staff/login", data={"csrf": token, "name": WEB_STAFF[0], "password": WEB_STAFF[1]})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/staff").text).group(1)  # type: ignore[union-attr]


def test_staff_pages_moderate_export_and_counts(client: TestClient, session: Session) -> None:  # noqa: F811
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    ref = _respond(session, c, 1, name="هيئة تنظيم الاتصالات", country="EG", category="member_state", language="ar")
    _respond(session, c, 2, name='=HYPERLINK("http://evil")')
    session.commit()
    csrf = _login(client)
    page = client.get("/staff/consultations/ott-2017/responses")
    assert page.status_code == 200 and ref in page.text and "2 matching" in page.text
    refused = client.post(f"/staff/consultations/ott-2017/responses/{ref}/withhold", data={"csrf": csrf})
    assert refused.status_code == 422 and "give a reason" in refused.text
    done = client.post(f"/staff/consultations/ott-2017/responses/{ref}/withhold",
                       data={"csrf": csrf, "reason": "contains a phone number"}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    one = client.get(f"/staff/consultations/ott-2017/responses/{ref}").text
    assert "Withheld from the public pages" in one and "contains a phone number" in one and "staff:secretariat" in one
    assert "هيئة تنظيم الاتصالات" not in client.get("/consultations/ott-2017/responses").text  # withheld publicly
    history = client.get("/api/consultations/ott-2017").json()["audit"]  # public: moderation's reasons stay with staff
    assert history and all(e["trigger"] != "withhold_response" for e in history)
    exported = client.get("/staff/consultations/ott-2017/responses.csv")
    assert exported.status_code == 200 and exported.content.startswith(codecs.BOM_UTF8)
    text = exported.content.decode("utf-8-sig")
    assert "هيئة تنظيم الاتصالات" in text and "withheld" in text and "'=HYPERLINK" in text
    xlsx = client.get("/staff/consultations/ott-2017/responses.xlsx?status=withheld")
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][0] == "reference" and len(rows) == 2 and rows[1][3] == "هيئة تنظيم الاتصالات"
    counts = client.get("/staff/consultations/ott-2017/responses").text  # invited vs responded
    # Both responses count (the withheld one too); none was invited: the factory's letter went to nobody.
    assert "data-totals>2 responded of 0 invited" in counts
    assert re.search(r"<td>EG</td><td>\d+</td><td>1</td>", counts)  # by country


def test_before_the_letter_the_responses_page_counts_who_would_be_invited(
    client: TestClient,  # noqa: F811
    session: Session,
) -> None:
    """Counted by the database by category and country (`registry.count_reachable_by_group`);
    the opted-out left out."""
    from store.models import StakeholderCreate

    consultation_in(session, Stage.DECIDED, slug="before-2017")
    rows = [StakeholderCreate(name=f"P{i}", email=f"p{i}@example.org", category=("member_state", "academia")[i % 2],
                              country=("EG", "CH")[i % 2]) for i in range(7)]  # fmt: skip
    registry.import_stakeholders(session=session, rows=rows, now=NOW)
    session.commit()
    registry.opt_out(session=session, token=registry.list_stakeholders(session=session)[0].unsubscribe_token, now=NOW)
    session.commit()
    _login(client)
    counts = client.get("/staff/consultations/before-2017/responses").text
    assert "data-totals>0 responded of 6 to be invited" in counts
    assert re.search(r"<td>EG</td><td>3</td><td>0</td>", counts) and re.search(
        r"<td>CH</td><td>3</td><td>0</td>", counts
    )


def test_registry_import_takes_what_excel_writes(session: Session, tmp_path: Path) -> None:
    rows = registry.read_csv(DATA / "stakeholders-excel-cp1252.csv")  # cp1252, semicolons, `E-mail`, `Nom`
    assert [(r.name, r.email, r.category, r.country) for r in rows] == [
        ("Hélène Dubois", "helene.dubois@example.fr", "member_state", "FR"),
        ("José Núñez", "jose.nunez@example.es", "sector_member", "ES"),
        ("Jürgen Groß", "juergen@example.de", "academia", "CH"),
    ]
    assert rows[0].organisation == "Ministère de l'Économie"
    utf16 = tmp_path / "unicode.txt"
    utf16.write_bytes("Name\tEmail address\tCategory\nمحمد\tm@example.eg\tother\n".encode("utf-16"))
    assert registry.read_csv(utf16)[0].name == "محمد"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + "name,e-mail,category\n王芳,w@example.cn,other\n".encode())
    assert registry.read_csv(bom)[0].name == "王芳"
    workbook = tmp_path / "registry.csv"
    workbook.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(ConsultError, match=r"registry.csv: this is a ZIP archive \(an .xlsx workbook\?\), not a CSV"):
        registry.read_csv(workbook)
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"name,email\x00\x01\x02" * 10)
    with pytest.raises(ConsultError, match="not a text file"):
        registry.read_csv(binary)
    planned = registry.plan_import(session=session, rows=rows)
    assert len(planned.new) == 3 and not planned.updated
    registry.import_stakeholders(session=session, rows=rows, now=NOW, actor="staff:ed", source="x.csv")
    session.commit()
    log = registry.history(session=session)
    assert log[0].action == "import" and log[0].details["created"] == 3 and log[0].actor == "staff:ed"


def test_registry_file_streamed_in_chunks_as_excel_wrote_it(session: Session, tmp_path: Path, monkeypatch) -> None:
    """`consult stakeholders import` streams the file (a registry of a million addresses in
    flat memory): the same encodings and headers as a preview, every record checked before
    anything stays, an address twice in the file found across chunks, progress per chunk."""
    monkeypatch.setattr(registry, "CHUNK", 2)
    told: list[int] = []
    report = registry.import_file(session=session, path=DATA / "stakeholders-excel-cp1252.csv", now=NOW,
                                  actor="staff:ed", progress=lambda n, at: told.append(n))  # fmt: skip
    assert (report.created, report.updated, report.unchanged, told) == (3, 0, 0, [2])
    session.commit()
    people = {p.email: p for p in registry.list_stakeholders(session=session)}
    assert people["juergen@example.de"].name == "Jürgen Groß"
    assert registry.history(session=session)[0].actor == "staff:ed"

    utf16 = tmp_path / "unicode.txt"
    utf16.write_bytes("Name\tEmail address\tCategory\nمحمد\tm@example.eg\tother\nJürgen\tjuergen@example.de\tacademia\n"
                      .encode("utf-16"))  # fmt: skip
    report = registry.import_file(session=session, path=utf16, now=NOW)
    assert (report.created, report.updated) == (1, 1)  # Jürgen's name changed
    session.rollback()

    twice = tmp_path / "twice.csv"
    twice.write_text("name,email,category\nA,a@example.org,other\nB,b@example.org,other\nC,c@example.org,other\n"
                     "A again,a@example.org,other\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ConsultError, match=r"twice.csv:5: e-mail a@example.org already on an earlier line"):
        registry.import_file(session=session, path=twice, now=NOW)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email,category\nA,a@example.org,other\nB,b@example.org,other\nC,nope,other\n"
                   "D,d@example.org,martian\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ConsultError, match=r"bad.csv:4: .*email.* \(and 1 more bad row\(s\); nothing was imported\)"):
        registry.import_file(session=session, path=bad, now=NOW)
    assert {p.email for p in registry.list_stakeholders(session=session)} == set(people)  # nothing of either stayed
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name;e-mail;category\nHélène;h@example.fr;other\n".encode("cp1252"))
    assert registry.import_file(session=session, path=latin, now=NOW).created == 1
    assert registry.search(session=session, wanted=registry.RegistryFilter(q="Hélène"))[0][0].email == "h@example.fr"


def test_resubscribe_needs_a_reason_and_is_logged(session: Session) -> None:
    rows = registry.read_csv(DATA / "stakeholders-excel-cp1252.csv")
    registry.import_stakeholders(session=session, rows=rows, now=NOW)
    person = registry.search(session=session, wanted=registry.RegistryFilter(q="Jürgen"))[0][0]
    registry.opt_out(session=session, token=person.unsubscribe_token, now=NOW)
    session.commit()
    assert person.id is not None
    with pytest.raises(ConsultError, match="give a reason"):
        registry.resubscribe(session=session, stakeholder_id=person.id, reason="", actor=STAFF, now=NOW)
    registry.resubscribe(session=session, stakeholder_id=person.id, reason="asked by mail on 2 July", actor=STAFF,
                         now=NOW)  # fmt: skip
    session.commit()
    assert not person.opted_out
    entry = registry.history(session=session, stakeholder_id=person.id)[0]
    assert (entry.action, entry.reason, entry.details["was_opted_out"]) == ("resubscribe", "asked by mail on 2 July",
                                                                             True)  # fmt: skip
    found, total, _ = registry.search(session=session, wanted=registry.RegistryFilter(country="fr"))
    assert total == 1 and found[0].email == "helene.dubois@example.fr"


def test_public_home_board_and_edit_page(client: TestClient, session: Session) -> None:  # noqa: F811
    consultation_in(session, Stage.OPEN, slug="ott-2017")
    consultation_in(session, Stage.LETTER_ISSUED, slug="coming-2017")
    discarded = consultation_in(session, Stage.DECIDED, slug="rehearsal")
    change_stage(session=session, consultation=discarded, trigger=Trigger.DISCARD, actor=STAFF, now=NOW,
                 policy=POLICY, reason="rehearsal")  # fmt: skip
    decided = consultation_in(session, Stage.DECIDED, slug="typo-2017")
    session.commit()
    home = client.get("/?lang=ar").text
    assert 'id="open-now"' in home and 'data-slug="ott-2017"' in home and 'data-slug="coming-2017"' in home
    assert "rehearsal" not in home and "typo-2017" in home  # decided: coming
    assert "rehearsal" not in client.get("/board").text
    assert client.get("/consultations/rehearsal").status_code == 404
    found = client.get("/?q=OTTs").text
    assert 'id="found"' in found and found.count('data-slug="ott-2017"') == 2  # in the results and open now
    csrf = _login(client)
    form = client.get("/staff/consultations/typo-2017/edit").text
    version = re.search(r'name="version" value="(\d+)"', form).group(1)  # type: ignore[union-attr]
    questions = re.search(r'name="questions_en"[^>]*>([^<]*)<', form).group(1)  # type: ignore[union-attr]
    fixed = questions.replace("Question 3?", "Question three?")
    saved = client.post("/staff/consultations/typo-2017/edit", follow_redirects=False,
                        data={"csrf": csrf, "version": version, "questions_en": fixed})  # fmt: skip
    assert saved.status_code == 303 and "changed+questions" in saved.headers["location"]
    session.expire_all()  # written by the app's own session
    assert repo.get(session=session, ref="typo-2017").questions[2] == {"en": "Question three?", "ar": "السؤال 3؟"}
    stale = client.post("/staff/consultations/typo-2017/edit", data={"csrf": csrf, "version": version,
                                                                     "meeting_place": "Bern"})  # fmt: skip
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    session.expire_all()
    kept = repo.get(session=session, ref=decided.id)
    assert (
        kept.meeting_place == "Geneva, Switzerland" and kept.version == int(version) + 1
    )  # the stale form changed nothing


def test_overdue_means_past_the_instant(session: Session) -> None:
    c = consultation_in(session, Stage.DECIDED)  # letter day 14 June 2017, in Geneva
    assert not card(c, geneva(date(2017, 6, 14), 23, 59))["overdue"]  # the letter day itself: due, not late
    assert card(c, geneva(date(2017, 6, 15), 0, 1))["overdue"]
    held = consultation_in(session, Stage.PUBLISHED)  # meeting day 18 September
    assert not card(held, geneva(date(2017, 9, 18), 18))["overdue"]
    assert card(held, geneva(date(2017, 9, 19), 9))["overdue"]


def test_consult_edit_and_moderation_from_the_shell(database_url: str, session: Session, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    consultation_in(session, Stage.DECIDED, slug="shell-2017")
    opened = consultation_in(session, Stage.OPEN, slug="open-2017")
    ref = _respond(session, opened, 1)
    session.commit()
    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_ACTOR": "staff:shell", "CONSULT_NOW": NOW.isoformat()}
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result

    good = tmp_path / "fix.toml"
    good.write_text('meeting_place = "Bern"\n', encoding="utf-8")
    assert "meeting_place: 'Geneva, Switzerland' → 'Bern'" in run("edit", "shell-2017", str(good)).stdout
    assert "nothing to change" in run("edit", "shell-2017", str(good)).stdout
    broken = tmp_path / "broken.toml"
    broken.write_text('title = { en = "x"\n', encoding="utf-8")
    assert run("edit", "shell-2017", str(broken), code=2).stderr.startswith(f"error: {broken}: not valid TOML")
    past = tmp_path / "past.toml"
    past.write_text("deadline = 2017-06-20\n", encoding="utf-8")  # six days after the letter
    assert "the policy minimum is" in run("edit", "shell-2017", str(past), code=2).stderr
    gone = tmp_path / "gone.toml"  # a plan in order, but its deadline already passed at "now" (1 July 2017)
    gone.write_text("decided_on = 2017-04-01\nletter_date = 2017-05-01\ndeadline = 2017-06-30\n", encoding="utf-8")
    assert "would already have passed" in run("edit", "shell-2017", str(gone), code=2).stderr
    other = tmp_path / "other.toml"
    other.write_text('slug = "someone-else"\n', encoding="utf-8")
    assert "the slug cannot be edited" in run("edit", "shell-2017", str(other), code=2).stderr
    assert "after the letter only triggers" in run("edit", "open-2017", str(good), code=1).stderr
    session.expire_all()
    assert repo.get(session=session, ref="shell-2017").meeting_place == "Bern"
    assert [e.trigger for e in repo.audit_log(session=session, consultation_id=repo.key(opened))][-1] != "edit"
    assert "withheld" in run("responses", "withhold", "open-2017", ref, "--reason", "spam").stdout
    assert "give a reason" in run("responses", "publish", "open-2017", ref, "--reason", " ", code=2).stderr
    entry = repo.audit_log(session=session, consultation_id=repo.key(opened))[-1]
    assert (entry.trigger, entry.actor, entry.reason) == ("withhold_response", "staff:shell", "spam")
    binary = tmp_path / "registry.csv"
    binary.write_bytes(b"\x00\x01binary" * 50)
    line = run("stakeholders", "import", str(binary), code=2).stderr
    assert line.count("\n") == 1 and "not a text file" in line


def test_a_failing_clock_is_shown_to_staff(client: TestClient, session: Session) -> None:  # noqa: F811
    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    assert repo.record_clock_failure(session=session, consultation_id=repo.key(c), error="OverflowError: boom",
                                     now=NOW) == 1  # fmt: skip
    session.commit()
    _login(client)
    board = client.get("/staff").text
    assert 'id="clock-failing"' in board and 'data-clock-error="ott-2017"' in board and "OverflowError: boom" in board


def test_written_compilation_files_follow_moderation(client: TestClient, session: Session,  # noqa: F811
                                                     tmp_path: Path) -> None:  # fmt: skip
    from documents.compilation import write_files

    c = consultation_in(session, Stage.OPEN, slug="ott-2017")
    ref = _respond(session, c, 1, name="Spam Sender")
    _respond(session, c, 2, name="Real Respondent")
    session.commit()
    for trigger, when in ((Trigger.CLOSE_SUBMISSIONS, geneva(date(2017, 8, 20), 0, 1)),
                          (Trigger.COMPILE, geneva(date(2017, 8, 20), 0, 2))):  # fmt: skip
        change_stage(session=session, consultation=c, trigger=trigger, actor=STAFF, now=when, policy=POLICY)
    session.commit()
    folder = write_files(session.connection(), c, data_dir=tmp_path, base_url="http://testserver")
    assert "Spam Sender" in (folder / "compilation.csv").read_text(encoding="utf-8")
    csrf = _login(client)
    client.post(f"/staff/consultations/ott-2017/responses/{ref}/withhold", data={"csrf": csrf, "reason": "spam"})
    for name in ("compilation.csv", "compilation.json", "compilation.en.html", "compilation.ar.html"):
        text = (folder / name).read_text(encoding="utf-8")
        assert "Spam Sender" not in text and "Real Respondent" in text, name
    assert not list(folder.glob(".*.partial"))
