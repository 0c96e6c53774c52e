"""Roles (issue 13): the whole role × route matrix, read off the app's own routes — every
staff page and every staff API endpoint, for each role and for nobody. Allowed gets 2xx
(a form's 303 to a page other than the login), denied gets 403, anonymous gets the login
page (pages) or 401 (API). A route added without a case here fails the coverage test."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from notifications import registry
from states import Stage, Trigger
from states.contract import Role
from states.table import transition_for
from store.models import StakeholderCreate, SubmissionCreate
from store.staff import add_staff
from store.submissions import submit
from tests.factories import consultation_in
from tests.web_fixtures import NOW, settings_for
from web.access import Needs
from web.api import ApiNeeds
from web.app import create_app

PASSWORD = "a long enough password"
ROLES = [r.value for r in Role]
_n = itertools.count(1)


@dataclass
class World:
    """What the cases act on, set up once per database."""

    open_slug: str
    compiled_slug: str
    decided_slug: str
    session: Session


def _respond(world: World, slug: str) -> str:
    from store import consultations as repo

    c = repo.get(session=world.session, ref=slug)
    n = next(_n)
    data = SubmissionCreate(name=f"Respondent {n}", category="other", country="CH", email=f"r{n}@example.org",
                            language="en", summary="s", answers=[{"question": 1, "text": "an answer"}])  # fmt: skip
    s = submit(session=world.session, consultation=c, data=data, now=NOW, channel="web").submission
    world.session.commit()
    return s.reference


def _opted_out(world: World) -> int:
    n = next(_n)
    row = StakeholderCreate(name=f"Out {n}", email=f"out{n}@example.org", category="other")
    registry.import_stakeholders(session=world.session, rows=[row], now=NOW)
    person = registry.search(session=world.session, wanted=registry.RegistryFilter(q=f"out{n}@"))[0][0]
    person.opted_out = True
    world.session.commit()
    assert person.id is not None
    return person.id


def _staff_user(world: World) -> str:
    name = f"someone-{next(_n)}"
    add_staff(session=world.session, name=name, password=PASSWORD, now=NOW, role="viewer")
    world.session.commit()
    return name


Request = tuple[str, dict[str, Any] | None, dict[str, Any] | None]  # url, form or JSON, files
Case = Callable[[World], Request]

_COMPILE = transition_for(Stage.COMPILED, Trigger.COMPILE)
assert _COMPILE is not None and _COMPILE.role is not None
COMPILE_ROLE: Role = _COMPILE.role
FIRING = {
    ("POST", "/staff/consultations/{ref}/fire/{trigger}"),
    ("POST", "/api/consultations/{ref}/transitions/{trigger}"),
}
SC = "/staff/consultations"
CSV = ("people.csv", b"name,email,category\nA,a@example.org,other\n", "text/csv")
DECISION_FORM = {
    "title_en": "A title",
    "questions_en": "Why?",
    "decided_on": "2017-05-25",
    "letter_date": "2017-07-03",
    "deadline": "2017-09-15",
    "meeting_on": "2017-10-16",
}

# (method, route path) → (least role, how to call it once, successfully, for an allowed user)
PAGES: dict[tuple[str, str], tuple[Role, Case]] = {
    ("GET", "/staff"): (Role.VIEWER, lambda w: ("/staff", None, None)),
    ("GET", "/staff/new"): (Role.EDITOR, lambda w: ("/staff/new", None, None)),
    ("POST", "/staff/new"): (Role.EDITOR, lambda w: ("/staff/new", {**DECISION_FORM, "slug": f"new-{next(_n)}"}, None)),
    ("GET", "/staff/consultations/{ref}/edit"): (Role.EDITOR, lambda w: (f"{SC}/{w.decided_slug}/edit", None, None)),
    ("POST", "/staff/consultations/{ref}/edit"): (
        Role.EDITOR, lambda w: (f"{SC}/{w.decided_slug}/edit", {"title_en": f"Title {next(_n)}"}, None)),
    ("POST", "/staff/consultations/{ref}/fire/{trigger}"): (  # the table's row says: compile needs an editor
        COMPILE_ROLE, lambda w: (f"{SC}/{w.compiled_slug}/fire/compile", {}, None)),
    ("GET", "/staff/consultations/{ref}/contributions/new"): (
        Role.MODERATOR, lambda w: (f"{SC}/{w.open_slug}/contributions/new", None, None)),
    ("POST", "/staff/consultations/{ref}/contributions"): (Role.MODERATOR, lambda w: (
        f"{SC}/{w.open_slug}/contributions",
        {"received_at": "2017-06-30T10:00", "name": f"Mailed {(n := next(_n))}", "email": f"m{n}@example.org",
         "category": "other", "country": "FR",
         "language": "fr", "summary": "by mail", "answer_1": "oui"}, None)),
    ("GET", "/staff/consultations/{ref}/responses"): (
        Role.VIEWER, lambda w: (f"{SC}/{w.open_slug}/responses?q=answer", None, None)),
    ("GET", "/staff/consultations/{ref}/responses.csv"): (
        Role.VIEWER, lambda w: (f"{SC}/{w.open_slug}/responses.csv", None, None)),
    ("GET", "/staff/consultations/{ref}/responses.xlsx"): (
        Role.VIEWER, lambda w: (f"{SC}/{w.open_slug}/responses.xlsx", None, None)),
    ("GET", "/staff/consultations/{ref}/responses/{reference}"): (
        Role.VIEWER, lambda w: (f"{SC}/{w.open_slug}/responses/{_respond(w, w.open_slug)}", None, None)),
    ("POST", "/staff/consultations/{ref}/responses/{reference}/{action}"): (Role.MODERATOR, lambda w: (
        f"{SC}/{w.open_slug}/responses/{_respond(w, w.open_slug)}/withhold", {"reason": "spam"}, None)),
    ("GET", "/staff/consultations/{ref}/mail"): (Role.VIEWER, lambda w: (f"{SC}/{w.open_slug}/mail", None, None)),
    ("GET", "/staff/consultations/{ref}/mail/preview/{notice}"): (
        Role.VIEWER, lambda w: (f"{SC}/{w.open_slug}/mail/preview/invitation?lang=ar", None, None)),
    ("POST", "/staff/consultations/{ref}/mail/{action}"): (
        Role.EDITOR, lambda w: (f"{SC}/{w.open_slug}/mail/retry", {}, None)),
    ("GET", "/staff/stakeholders"): (Role.VIEWER, lambda w: ("/staff/stakeholders?mail=reachable", None, None)),
    ("GET", "/staff/stakeholders/import"): (Role.EDITOR, lambda w: ("/staff/stakeholders/import", None, None)),
    ("POST", "/staff/stakeholders/import"): (Role.EDITOR, lambda w: ("/staff/stakeholders/import", {}, {"file": CSV})),
    ("POST", "/staff/stakeholders/{stakeholder_id}/resubscribe"): (
        Role.EDITOR, lambda w: (f"/staff/stakeholders/{_opted_out(w)}/resubscribe", {"reason": "asked"}, None)),
    ("GET", "/staff/accounts"): (Role.ADMIN, lambda w: ("/staff/accounts", None, None)),
    ("POST", "/staff/accounts/{action}"): (
        Role.ADMIN, lambda w: ("/staff/accounts/role", {"name": _staff_user(w), "role": "moderator"}, None)),
}  # fmt: skip

API: dict[tuple[str, str], tuple[Role, Case]] = {
    ("POST", "/api/consultations"): (Role.EDITOR, lambda w: (
        "/api/consultations", {"slug": f"api-{next(_n)}", "title": {"en": "T"}, "questions": [{"en": "Q?"}],
                               "decided_on": "2017-05-25", "letter_date": "2017-07-03", "deadline": "2017-09-15",
                               "meeting_on": "2017-10-16"}, None)),
    ("POST", "/api/consultations/{ref}/transitions/{trigger}"): (
        COMPILE_ROLE, lambda w: (f"/api/consultations/{w.compiled_slug}/transitions/compile", None, None)),
    ("GET", "/api/consultations/{ref}/responses"): (
        Role.VIEWER, lambda w: (f"/api/consultations/{w.open_slug}/responses?status=published", None, None)),
    ("POST", "/api/consultations/{ref}/responses/{reference}/{action}"): (Role.MODERATOR, lambda w: (
        f"/api/consultations/{w.open_slug}/responses/{_respond(w, w.open_slug)}/withhold", {"reason": "off-topic"},
        None)),
}  # fmt: skip


def _needs(route: APIRoute) -> Role | None:
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Needs | ApiNeeds):
            return dep.call.role
        for inner in dep.dependencies:
            if isinstance(inner.call, Needs | ApiNeeds):
                return inner.call.role
    return None


@pytest.fixture
def app_and_world(engine: Engine, database_url: str, tmp_path: Path, session: Session) -> Iterator[tuple[Any, World]]:
    for role in ROLES:
        add_staff(session=session, name=role, password=PASSWORD, now=NOW, role=role)
    world = World(
        open_slug=consultation_in(session, Stage.OPEN).slug,
        compiled_slug=consultation_in(session, Stage.COMPILED).slug,
        decided_slug=consultation_in(session, Stage.DECIDED).slug,
        session=session,
    )
    session.commit()
    app = create_app(settings_for(database_url, tmp_path), engine=engine, rate_limit=10_000)
    with TestClient(app):
        yield app, world


def test_every_staff_route_has_a_case() -> None:
    from web import api, staff, staff_mail, staff_registry, staff_responses

    routes = [r for module in (api, staff, staff_mail, staff_registry, staff_responses)
              for r in module.router.routes if isinstance(r, APIRoute)]  # fmt: skip
    guarded = {}
    for r in routes:
        role = _needs(r)
        for method in r.methods:
            if role is not None:
                guarded[(method, r.path)] = role
    declared = {k: v[0] for k, v in {**PAGES, **API}.items()}
    assert set(guarded) == set(declared), "a staff route without a case here (or a case without its route)"
    for key, role in guarded.items():
        if key in FIRING:  # any staff user reaches the handler; the row fired says who may fire it
            assert role is Role.VIEWER and declared[key] is COMPILE_ROLE
        else:
            assert role is declared[key], key
    public_staff = {(m, r.path) for r in routes for m in r.methods if r.path.startswith("/staff") and _needs(r) is None}
    assert public_staff == {("GET", "/staff/login"), ("POST", "/staff/login"), ("POST", "/staff/logout")}


def _login(client: TestClient, name: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text).group(1)  # type: ignore[union-attr]
    answer = client.post(
        "/staff/login", data={"csrf": token, "name": name, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/staff").text).group(1)  # type: ignore[union-attr]


def _call(client: TestClient, method: str, request: Request, *, csrf: str | None, api: bool,
          auth: tuple[str, str] | None) -> Any:  # fmt: skip
    url, body, files = request
    if method == "GET":
        return client.get(url, follow_redirects=False, auth=auth)
    if api:
        return client.post(url, json=body, follow_redirects=False, auth=auth)
    return client.post(url, data={**(body or {}), **({"csrf": csrf} if csrf else {})}, files=files,
                       follow_redirects=False)  # fmt: skip


def _why(answer: Any) -> str:
    found = re.search(r'class="error"[^>]*>(.*?)</', answer.text, re.S)
    return found.group(1).strip() if found else answer.text[:300]


def _allowed(answer: Any) -> bool:
    if answer.status_code == 303:
        return not answer.headers["location"].startswith("/staff/login")
    return 200 <= answer.status_code < 300


@pytest.mark.parametrize("role", ROLES)
def test_role_route_matrix(app_and_world: tuple[Any, World], role: str) -> None:
    app, world = app_and_world
    pages, api = TestClient(app), TestClient(app)
    csrf = _login(pages, role)
    who = Role(role)
    for (method, path), (needed, case) in PAGES.items():
        answer = _call(pages, method, case(world), csrf=csrf, api=False, auth=None)
        if who.covers(needed):
            assert _allowed(answer), f"{role} {method} {path}: {answer.status_code} {_why(answer)}"
        else:
            assert answer.status_code == 403, f"{role} {method} {path}: {answer.status_code}"
    for (method, path), (needed, case) in API.items():
        answer = _call(api, method, case(world), csrf=None, api=True, auth=(role, PASSWORD))
        if who.covers(needed):
            assert _allowed(answer), f"{role} {method} {path}: {answer.status_code} {_why(answer)}"
        else:
            assert answer.status_code == 403, f"{role} {method} {path}: {answer.status_code}"
            assert answer.json()["kind"] == "forbidden"


def test_anonymous_gets_the_login_page_or_401(app_and_world: tuple[Any, World]) -> None:
    app, world = app_and_world
    client = TestClient(app)
    for (method, path), (_, case) in PAGES.items():
        answer = _call(client, method, case(world), csrf=None, api=False, auth=None)
        assert answer.status_code == 303 and answer.headers["location"] == "/staff/login", f"{method} {path}"
    for (method, path), (_, case) in API.items():
        answer = _call(client, method, case(world), csrf=None, api=True, auth=None)
        assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"


def test_each_trigger_needs_the_role_its_row_names(app_and_world: tuple[Any, World]) -> None:
    """The fire route's permission comes from the table: a moderator cannot compile, and
    the board offers them no trigger button at all."""
    app, world = app_and_world
    client = TestClient(app)
    csrf = _login(client, "moderator")
    board = client.get("/staff").text
    assert "data-trigger=" not in board
    refused = client.post(f"/staff/consultations/{world.compiled_slug}/fire/compile", data={"csrf": csrf})
    assert refused.status_code == 403 and "needs the editor role" in refused.text
    editor = TestClient(app)
    _login(editor, "editor")
    assert 'data-trigger="publish-compilation"' in editor.get("/staff").text
