"""A web app on the test database, with a fixed clock and one staff user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from config import MailSettings, Settings
from store.staff import add_staff
from tests.factories import POLICY
from web.app import create_app

NOW = datetime(2017, 7, 1, 10, tzinfo=UTC)  # the OTT consultation is open
STAFF = ("secretariat", "correct horse battery")


def settings_for(url: str, data: Path, now: datetime = NOW) -> Settings:
    return Settings(database_url=url, now=now, data_dir=data, secret_key="test-secret", policy=POLICY,
                    mail=MailSettings(base_url="http://testserver"))  # fmt: skip


@pytest.fixture
def client(engine: Engine, database_url: str, tmp_path: Path, session: Session) -> Iterator[TestClient]:
    add_staff(session=session, name=STAFF[0], password=STAFF[1], now=NOW, role="admin")
    session.commit()
    app = create_app(settings_for(database_url, tmp_path), engine=engine, rate_limit=1000)
    with TestClient(app) as c:
        yield c
