"""The `consult` command end to end (in-process Typer runner), on both databases.

Bad input: one line on stderr starting with `error:`, exit code 2, nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

OTT_FILE = Path(__file__).parents[1] / "demo" / "data" / "ott-2017.toml"
NOW = "--now=2017-05-26T09:00:00+02:00"


@pytest.fixture
def consult(database_url: str):
    runner = CliRunner()
    env = {"CONSULT_DATABASE_URL": database_url, "CONSULT_ACTOR": "staff:tester", "CONSULT_NOW": ""}

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        return result

    run.env = env  # type: ignore[attr-defined]
    return run


def count(consult) -> int:
    return len(json.loads(consult("list", "--json").stdout))


def write(tmp_path: Path, text: str, name: str = "decision.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_init_is_idempotent(consult) -> None:
    assert "already current" in consult("init").stdout


def test_new_show_list_advance(consult) -> None:
    assert "created ott-2017 (id 1) in stage decided" in consult("new", str(OTT_FILE), NOW).stdout
    shown = json.loads(consult("show", "ott-2017", "--json", NOW).stdout)
    assert shown["stage"] == "decided" and shown["deadline"] == "2017-08-19T21:59:59+00:00"
    assert shown["opens_at"] == "2017-06-13T22:00:00+00:00" and shown["timezone"] == "Europe/Geneva"
    assert len(shown["questions"]) == 5 and shown["title"]["ar"].startswith("اعتبارات")
    assert shown["next_due"] == {"trigger": "issue-letter", "at": "2017-06-13T22:00:00+00:00", "overdue": False}
    assert [a["trigger"] for a in shown["audit"]] == ["decide"]
    out = consult("advance", "1", "issue-letter", "--letter-number", "CL-17/30", "--now=2017-06-14T10:00:00+02:00")
    assert "decided → letter_issued by issue-letter (CL-17/30)" in out.stdout
    consult("advance", "ott-2017", "open_submissions", "--now=2017-06-14T10:05:00+02:00")
    board = consult("list", "--now=2017-06-15T00:00:00Z").stdout
    assert "open (1)" in board and "ott-2017" in board and "close-submissions" in board
    table = consult("show", "ott-2017", "--now=2017-06-15T00:00:00Z").stdout
    assert "Timeline" in table and "Audit log" in table and "staff:tester" in table
    listed = json.loads(consult("list", "--stage", "open", "--json").stdout)
    assert [c["slug"] for c in listed] == ["ott-2017"]
    assert json.loads(consult("list", "--stage", "closed", "--json").stdout) == []


def test_new_from_flags(consult) -> None:
    consult(
        "new", "--slug", "gender-2018", "--title", "en=Bridging the gender digital divide",
        "--title", "ar=سد الفجوة الرقمية بين الجنسين", "--question", "en=What approaches work?",
        "--decided-on", "2018-01-10", "--letter-date", "2018-01-15", "--deadline", "2018-03-01",
        "--meeting-on", "2018-03-31", "--contact-email", "cwg-internet@itu.int", "--now=2018-01-10T12:00:00Z",
    )  # fmt: skip
    shown = json.loads(consult("show", "gender-2018", "--json").stdout)
    assert shown["title"] == {"ar": "سد الفجوة الرقمية بين الجنسين", "en": "Bridging the gender digital divide"}
    assert shown["deadline"] == "2018-03-01T22:59:59+00:00"  # CET in winter


def test_proposed_then_decided_with_a_file(consult, tmp_path: Path) -> None:
    proposal = write(tmp_path, 'slug = "ott-2017"\n[title]\nen = "Public policy considerations for OTTs"\n')
    consult("new", proposal, "--proposed", "--now=2017-02-07T12:00:00+01:00")
    assert json.loads(consult("show", "ott-2017", "--json").stdout)["next_due"]["trigger"] == "decide"
    consult("advance", "ott-2017", "decide", "--file", str(OTT_FILE), "--now=2017-05-25T15:00:00+02:00")
    shown = json.loads(consult("show", "ott-2017", "--json").stdout)
    assert shown["stage"] == "decided" and len(shown["questions"]) == 5


def test_extend_deadline_and_cancel(consult) -> None:
    consult("new", str(OTT_FILE), NOW)
    consult("advance", "ott-2017", "issue-letter", "--letter-number", "CL-17/30", "--now=2017-06-14T10:00:00+02:00")
    consult("advance", "ott-2017", "open-submissions", "--now=2017-06-14T10:05:00+02:00")
    out = consult("extend-deadline", "ott-2017", "2017-08-26", "--reason", "more time", "--now=2017-08-10T00:00:00Z")
    assert "open → open by extend-deadline" in out.stdout
    shown = json.loads(consult("show", "ott-2017", "--json").stdout)
    assert shown["deadline"] == "2017-08-26T21:59:59+00:00"
    assert shown["audit"][-1]["details"]["from"] == "2017-08-19T21:59:59+00:00"
    consult("cancel", "ott-2017", "--reason", "Council withdrew the topic", "--now=2017-08-11T00:00:00Z")
    assert json.loads(consult("show", "ott-2017", "--json").stdout)["stage"] == "cancelled"


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (False, ["show", "nope"], "no consultation 'nope'"),
        (
            True,
            ["advance", "ott-2017", "report", NOW],
            "not allowed in stage 'decided'; allowed there: cancel, discard, issue-letter",
        ),
        (True, ["advance", "ott-2017", "publish", NOW], "unknown trigger 'publish'"),
        (True, ["advance", "ott-2017", "issue-letter", "--now=2017-06-14T10:00:00"], "has no UTC offset"),
        (True, ["advance", "ott-2017", "issue-letter", "--now=2017-05-01T10:00:00Z"], "decision_taken"),
        (True, ["cancel", "ott-2017", "--reason", " ", NOW], "reason_given"),
        (True, ["extend-deadline", "ott-2017", "2017-09-01", NOW], "not allowed in stage 'decided'"),
        (False, ["list", "--stage", "limbo"], "unknown stage 'limbo'"),
        (False, ["show", "1", "--lang", "de"], "unknown language code 'de'"),
        (False, ["new", "/nonexistent/decision.toml"], "no such file"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(consult, setup, args, message) -> None:
    """Exit 2 for bad input and refusals; a trigger the stage does not allow is a conflict
    with where the consultation stands (409 on the web), exit 1."""
    if setup:
        consult("new", str(OTT_FILE), NOW)
    before = count(consult)
    result = consult(*args, code=1 if "not allowed in stage" in message else 2)
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert count(consult) == before
    if setup:
        shown = json.loads(consult("show", "ott-2017", "--json").stdout)
        assert shown["stage"] == "decided" and len(shown["audit"]) == 1


BAD_FILES = [
    ("slug = 'x-1'\n[title\n", "not valid TOML"),
    (OTT_FILE.read_text(encoding="utf-8").replace("meeting_place", "venue"), "unknown key 'venue'"),
    (OTT_FILE.read_text(encoding="utf-8").replace("\nen = \"Public", "\nde = \"Public"), "unknown language code 'de'"),
    (OTT_FILE.read_text(encoding="utf-8").replace("decided_on = 2017-05-25", "decided_on = 2017-06-20"),
     "decision_before_letter"),
    (OTT_FILE.read_text(encoding="utf-8").replace("deadline = 2017-08-19", "deadline = 2017-07-01"), "min_open_days"),
    (OTT_FILE.read_text(encoding="utf-8").replace("meeting_on = 2017-09-18", "meeting_on = 2017-08-01"),
     "deadline_before_meeting"),
    (OTT_FILE.read_text(encoding="utf-8").replace("Europe/Geneva", "Mars/Olympus"), "unknown time zone"),
    (OTT_FILE.read_text(encoding="utf-8").replace("cwg-internet@itu.int", "not-an-email"), "contact_email"),
    (OTT_FILE.read_text(encoding="utf-8").replace('"ott-2017"', '"OTT 2017"'), "field 'slug'"),
    (OTT_FILE.read_text(encoding="utf-8").replace("deadline = 2017-08-19", 'deadline = "soon"'), "field 'deadline'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_decision_files(consult, tmp_path: Path, text: str, message: str) -> None:
    result = consult("new", write(tmp_path, text), NOW, code=2)
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert count(consult) == 0


def test_meeting_gap_is_a_warning(consult, tmp_path: Path) -> None:
    text = OTT_FILE.read_text(encoding="utf-8").replace("meeting_on = 2017-09-18", "meeting_on = 2017-09-11")
    result = consult("new", write(tmp_path, text), NOW)
    assert "warning: meeting_gap_days: the meeting is 23 days after the deadline" in result.stderr
    assert count(consult) == 1


@pytest.mark.parametrize(
    ("now", "stages"),
    [
        ("2016-12-01T12:00:00Z", {"enabling-environment-2016": "meeting_held", "developmental-aspects-2016": "open"}),
        ("2017-01-08T12:00:00Z", {"enabling-environment-2016": "meeting_held", "developmental-aspects-2016": "open"}),
        (
            "2017-01-12T12:00:00Z",
            {"enabling-environment-2016": "meeting_held", "developmental-aspects-2016": "compiled"},
        ),
        (
            "2017-03-01T12:00:00Z",
            {
                "enabling-environment-2016": "meeting_held",
                "developmental-aspects-2016": "meeting_held",
                "ott-2017": "proposed",
            },
        ),
        (
            "2017-07-01T12:00:00Z",
            {"enabling-environment-2016": "reported", "developmental-aspects-2016": "reported", "ott-2017": "open"},
        ),
        (
            None,
            {"enabling-environment-2016": "reported", "developmental-aspects-2016": "reported", "ott-2017": "reported"},
        ),
    ],
)
def test_demo_brings_each_consultation_to_its_stage(consult, now, stages) -> None:
    consult("demo", "--no-live", *([f"--now={now}"] if now else []))
    listed = {c["slug"]: c for c in json.loads(consult("list", "--json").stdout)}
    assert {slug: c["stage"] for slug, c in listed.items()} == stages
    if "ott-2017" in listed and listed["ott-2017"]["stage"] != "proposed":
        assert listed["ott-2017"]["letter_number"] == "CL-17/30"
    dev = json.loads(consult("show", "developmental-aspects-2016", "--json").stdout)
    if now and now >= "2016-12-21":
        assert dev["deadline"] == "2017-01-11T22:59:59+00:00"
        assert any(a["trigger"] == "extend_deadline" for a in dev["audit"])
    assert "already loaded" in consult("demo", "--no-live").stdout


def test_read_commands_do_not_load_prefect(database_url: str) -> None:
    """`consult list/show/new/advance` must answer fast: they never import Prefect or the web stack."""
    code = (
        "import sys; from cli.main import app\n"
        "for args in (['demo', '--now=2017-07-01T00:00:00Z'], ['list'], ['show', 'ott-2017'],"
        " ['advance', 'ott-2017', 'cancel', '--reason', 'x']):\n"
        "    try: app(args)\n"
        "    except SystemExit as e: assert e.code == 0, (args, e.code)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'prefect', 'fastapi', 'uvicorn'})\n"
        "assert not heavy, heavy\n"
    )
    env = {"CONSULT_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cancel", "ott-2017"], "error: Missing option '--reason'."),
        (["frobnicate"], "error: No such command 'frobnicate'."),
        (["advance"], "error: Missing argument 'ID'."),
    ],
)
def test_usage_errors_through_the_entry_point(database_url: str, args: list[str], message: str) -> None:
    consult_bin = Path(sys.executable).parent / "consult"
    env = {"CONSULT_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(consult_bin), *args], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_letter_and_compile_commands(consult, tmp_path: Path) -> None:
    consult("demo", "--no-live", "--now=2017-07-01T00:00:00Z")
    html = consult("letter", "ott-2017", "--lang", "ar").stdout
    assert "CL-17/30" in html and "19 أغسطس 2017" in html
    pdf = tmp_path / "cl.pdf"
    consult("letter", "ott-2017", "--lang", "en", "--format", "pdf", "-o", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF-")
    out = tmp_path / "c.csv"
    consult("compile", "ott-2017", "--format", "csv", "-o", str(out))
    assert out.read_text(encoding="utf-8").startswith("\ufeffcontribution,reference,name")
    assert "unknown format 'doc'" in consult("compile", "ott-2017", "--format", "doc", code=2).stderr
    assert "a PDF needs -o FILE" in consult("letter", "ott-2017", "--format", "pdf", code=2).stderr


def test_responses_import_all_or_nothing(consult, tmp_path: Path) -> None:
    consult("demo", "--no-live", "--now=2017-07-01T00:00:00Z")
    answers = [{"question": 1, "text": "t"}]
    good = [{"name": f"P{i}", "category": "academia", "country": "FR", "email": f"p{i}@example.org",
             "language": "fr", "summary": "s", "answers": answers} for i in range(3)]  # fmt: skip
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in good) + "\n", encoding="utf-8")
    assert "3 imported, 0 already there" in consult("responses", "import", "ott-2017", str(path)).stdout
    assert "0 imported, 3 already there" in consult("responses", "import", "ott-2017", str(path)).stdout
    bad = tmp_path / "bad.jsonl"
    rows = [{**good[0], "email": "new1@example.org"}, {**good[0], "email": "new2@example.org", "country": "XX"}]
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = consult("responses", "import", "ott-2017", str(bad), code=2)
    assert f"{bad}:2: field 'country'" in result.stderr and "nothing was imported" in result.stderr
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("name,category,country,email,language,summary,answer_1,answer_3\n"
                        "Q,other,CH,q@example.org,en,sum,first,third\n", encoding="utf-8")  # fmt: skip
    assert "1 imported" in consult("responses", "import", "ott-2017", str(csv_path)).stdout
    published = consult("show", "ott-2017", "--json").stdout
    assert "@example.org" not in published
    out = tmp_path / "c.json"
    consult("compile", "ott-2017", "--format", "json", "-o", str(out))
    names = [r["name"] for r in json.loads(out.read_text(encoding="utf-8"))["responses"]]
    assert names == ["P0", "P1", "P2", "Q"] and "p0@example.org" not in out.read_text(encoding="utf-8")
