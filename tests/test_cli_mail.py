"""`consult stakeholders …` and `consult mail …` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.smtp import SmtpTestServer
from tests.test_cli import OTT_FILE, consult  # noqa: F401  (fixture)
from tests.test_mail import GOOD_CSV


def test_import_issue_letter_send_and_list(consult, tmp_path: Path, database_url: str) -> None:  # noqa: F811
    people = tmp_path / "people.csv"
    people.write_text(GOOD_CSV, encoding="utf-8")
    assert "6 added, 0 updated, 0 unchanged" in consult("stakeholders", "import", str(people)).stdout
    assert "0 added, 0 updated, 6 unchanged" in consult("stakeholders", "import", str(people)).stdout
    listed = json.loads(consult("stakeholders", "list", "--json").stdout)
    assert [p["language"] for p in listed] == ["ar", "zh", "en", "fr", "ru", "es"]
    consult("new", str(OTT_FILE), "--now=2017-05-26T09:00:00+02:00")
    out = consult(
        "advance", "ott-2017", "issue-letter", "--letter-number", "CL-17/30", "--now=2017-06-14T10:00:00+02:00"
    )
    assert "mail pending in the outbox: 6" in out.stdout
    pending = json.loads(consult("mail", "list", "--status", "pending", "--json").stdout)
    assert len(pending) == 6 and {m["purpose"] for m in pending} == {"invitation"}
    with SmtpTestServer() as server:
        consult.env.update(CONSULT_SMTP_HOST="127.0.0.1", CONSULT_SMTP_PORT=str(server.port))
        sent = consult("mail", "send", "--now=2017-06-14T10:01:00+02:00")
    assert "sent 6, retrying 0, failed 0" in sent.stdout and len(server.received) == 6
    table = consult("mail", "list").stdout
    assert "sent 6" in table and "invitation" in table


def test_mail_send_without_smtp_says_how(consult) -> None:  # noqa: F811
    result = consult("mail", "send", code=2)
    assert "no SMTP server configured" in result.stderr and "mail-catcher" in result.stderr


def test_bad_csv_exit_2_nothing_imported(consult, tmp_path: Path) -> None:  # noqa: F811
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD_CSV + "Eve,eve@,other,,,en\n", encoding="utf-8")
    result = consult("stakeholders", "import", str(bad), code=2)
    assert f"{bad}:8: field 'email'" in result.stderr and result.stderr.count("\n") == 1
    assert json.loads(consult("stakeholders", "list", "--json").stdout) == []


def test_mail_list_unknown_status(consult) -> None:  # noqa: F811
    assert "unknown status 'lost'" in consult("mail", "list", "--status", "lost", code=2).stderr


def test_a_dry_run_streams_the_import_and_writes_nothing(consult, tmp_path: Path) -> None:  # noqa: F811
    """`stakeholders import --dry-run` is the import itself, streamed and rolled back: each
    change said, the same checks (an address twice in the file), nothing written."""
    people = tmp_path / "people.csv"
    people.write_text(GOOD_CSV, encoding="utf-8")
    dry = consult("stakeholders", "import", str(people), "--dry-run").stdout
    assert dry.count("new: ") == 6 and "would add 6, update 0, leave 0 unchanged (nothing written)" in dry
    assert json.loads(consult("stakeholders", "list", "--json").stdout) == []
    consult("stakeholders", "import", str(people))
    changed = tmp_path / "changed.csv"
    changed.write_text(GOOD_CSV.replace("amal@example.sa,member_state,Org", "amal@example.sa,member_state,Other")
                       + "Zoe,zoe@example.org,other,Org,CH,fr\n", encoding="utf-8")  # fmt: skip
    dry = consult("stakeholders", "import", str(changed), "--dry-run").stdout
    assert "new: zoe@example.org (Zoe, other)" in dry and "update: amal@example.sa: organisation 'Org' → 'Other'" in dry
    assert "would add 1, update 1, leave 5 unchanged" in dry
    assert len(json.loads(consult("stakeholders", "list", "--json").stdout)) == 6  # still
    twice = tmp_path / "twice.csv"
    twice.write_text(GOOD_CSV + GOOD_CSV.splitlines(keepends=True)[1], encoding="utf-8")
    said = consult("stakeholders", "import", str(twice), "--dry-run", code=2).stderr
    assert f"{twice}:8: e-mail" in said and "already on line 2" in said
