"""Property-based tests (hypothesis) for what the CLI reads from files — decision files,
stakeholder CSVs, response imports — and for `consult new` itself (issue 16): whatever the
bytes, a reader returns what it read or raises ConsultError with one line; the command
exits 0, 1 or 2 with one `error:` line, never a traceback."""

from __future__ import annotations

import contextlib
import json
import string
from datetime import date, datetime, time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from notifications import registry
from states.errors import ConsultError
from store.decision_file import KEYS, parse_decision, read_raw
from store.response_file import read_responses
from tests.factories import POLICY

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
WEIRD = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)  # NUL, controls, bidi, astral planes


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat() + "Z"),
    st.times().map(time.isoformat),
    WEIRD.map(_toml_string),
    st.lists(st.integers(min_value=-(10**12), max_value=10**12), max_size=5).map(str),
    st.booleans().map(lambda b: str(b).lower()),
    st.dictionaries(st.sampled_from(["en", "ar", "xx", "zh"]), WEIRD.map(_toml_string), max_size=3).map(
        lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
    ),
)
DECISIONS = st.lists(st.tuples(st.sampled_from(sorted(KEYS) + ["bogus"]), VALUES), max_size=12)


def _decision_text(pairs: list[tuple[str, str]]) -> str:
    seen: dict[str, str] = {}
    for key, value in pairs:
        seen.setdefault(key, value)
    return "".join(f"{k} = {v}\n" for k, v in seen.items())


@SETTINGS
@given(pairs=DECISIONS)
def test_decision_files_read_or_refuse_in_one_line(tmp_path_factory: pytest.TempPathFactory,
                                                   pairs: list[tuple[str, str]]) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("decision") / "decision.toml"
    path.write_text(_decision_text(pairs), encoding="utf-8")
    try:
        parse_decision(read_raw(path), policy=POLICY)
    except ConsultError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(data=st.binary(max_size=400))
def test_any_bytes_as_a_decision_file(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("decision") / "decision.toml"
    path.write_bytes(data)
    with contextlib.suppress(ConsultError):
        parse_decision(read_raw(path), policy=POLICY)


CELLS = st.one_of(WEIRD, st.sampled_from(["member_state", "other", "FR", "ar", "a@example.org", "=1+1", ""]))


@SETTINGS
@given(rows=st.lists(st.lists(CELLS, min_size=1, max_size=8), max_size=6),
       header=st.lists(st.sampled_from(["name", "E-mail", "Nom", "category", "country", "lists", "phone", ""]),
                       min_size=1, max_size=8),
       sep=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))  # fmt: skip
def test_stakeholder_files_read_or_refuse_in_one_line(rows: list[list[str]], header: list[str], sep: str,
                                                      encoding: str) -> None:  # fmt: skip
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    try:
        registry.parse_rows(data, "people.csv")
    except ConsultError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(data=st.binary(max_size=600))
def test_any_bytes_as_a_stakeholder_file(data: bytes) -> None:
    with contextlib.suppress(ConsultError):
        registry.parse_rows(data, "people.csv")


RECORD = st.dictionaries(
    st.sampled_from(["name", "organisation", "category", "country", "email", "language", "summary", "answers",
                     "received_at", "attachment", "extra"]),
    st.one_of(WEIRD, st.integers(), st.none(), st.lists(st.dictionaries(st.sampled_from(["question", "text"]),
                                                                        st.one_of(st.integers(), WEIRD)), max_size=3)),
    max_size=10,
)  # fmt: skip


@SETTINGS
@given(records=st.lists(RECORD, max_size=4), junk=st.binary(max_size=60))
def test_response_files_read_or_refuse_in_one_line(tmp_path_factory: pytest.TempPathFactory, records: list[dict],
                                                   junk: bytes) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("responses")
    path = folder / "responses.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + junk)
    try:
        read_responses(path)
    except ConsultError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(pairs=DECISIONS, flags=st.lists(st.sampled_from(["--proposed", "--json", "--deadline=9999-12-31",
                                                        "--now=0001-01-01T00:00:00Z", "--slug=" + "x" * 90,
                                                        "--title=en=" + string.printable]), max_size=2))  # fmt: skip
def test_consult_new_never_shows_a_traceback(tmp_path_factory: pytest.TempPathFactory, pairs, flags) -> None:
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "decision.toml"
    path.write_text(_decision_text(pairs), encoding="utf-8")
    env = {"CONSULT_DATABASE_URL": f"sqlite:///{folder / 'c.db'}", "CONSULT_NOW": "2017-05-26T09:00:00+02:00",
           "CONSULT_ACTOR": "staff:property"}  # fmt: skip
    result = CliRunner().invoke(app, ["new", str(path), *flags], env=env)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
