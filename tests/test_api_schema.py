"""The API against its own OpenAPI schema, by schemathesis (issue 16): generated requests
for every operation — public and staff, valid and not — must get a documented status, a
body matching its schema, and never a 5xx. On SQLite, in process (the ASGI app itself)."""

from __future__ import annotations

import base64
import tempfile
from datetime import date
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from states import Stage
from store.db import make_engine, upgrade
from store.staff import add_staff
from tests.factories import consultation_in, geneva
from tests.web_fixtures import settings_for
from web.app import create_app

STAFF = ("schema", "a long schema password")


def _app():
    """Built at collection (schemathesis reads the schema then), in a folder of this
    process's own: each xdist worker collects the module."""
    folder = Path(tempfile.mkdtemp(prefix="consult-schemathesis-"))
    db = folder / "schema.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with Session(engine) as session:
        add_staff(session=session, name=STAFF[0], password=STAFF[1], now=geneva(date(2017, 5, 25)), role="admin")
        for stage in (Stage.OPEN, Stage.DECIDED, Stage.COMPILED):
            consultation_in(session, stage, slug=f"{stage.value.replace('_', '-')}-2017")
        session.commit()
    return create_app(settings_for(f"sqlite:///{db}", folder), engine=engine, rate_limit=1_000_000)


APP = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
AUTH = "Basic " + base64.b64encode(f"{STAFF[0]}:{STAFF[1]}".encode()).decode()


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Case) -> None:
    headers = {"Authorization": AUTH} if case.operation.method.upper() != "GET" or "/responses" in case.path else {}
    case.call_and_validate(
        headers=headers, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
    )
