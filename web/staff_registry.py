"""Staff pages for the stakeholder registry (listed, searched, filtered; a CSV imported
after a preview of what it will change; re-subscription for a reason) and, for admins,
staff accounts and their roles."""

from __future__ import annotations

import secrets
from dataclasses import fields
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from notifications import registry
from notifications.notices import invite_latecomers
from states import ConsultError
from states.contract import Role
from states.languages import LANGUAGES
from store.staff import add_staff, list_staff, remove_staff, set_role
from store.vocab import CATEGORIES
from web.access import Admin, Editor, Identity, Viewer
from web.context import DB, checked_form, render, web, writing_session
from web.errors import status_for
from web.security import csrf_token

router = APIRouter(prefix="/staff", include_in_schema=False)
MAX_FILE = 20 * 1024 * 1024  # a registry of ~100,000 addresses
MAIL_STATES = ("reachable", "opted_out", "bounced")


def _wanted(request: Request) -> registry.RegistryFilter:
    q = request.query_params
    return registry.RegistryFilter(**{f.name: (q.get(f.name) or "").strip()[:200]
                                      for f in fields(registry.RegistryFilter)})  # fmt: skip


def _registry_page(request: Request, session, who: Identity, *, before: int | None = None, message: str | None = None,
                   done: str | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    wanted = _wanted(request)
    people, total, next_before = registry.search(session=session, wanted=wanted, before=before)
    query = urlencode({f.name: getattr(wanted, f.name) for f in fields(wanted) if getattr(wanted, f.name)})
    return render(request, "stakeholders.html", status=status, people=people, total=total, next_before=next_before,
                  wanted=wanted, query=query, categories=CATEGORIES, languages_all=LANGUAGES, mail_states=MAIL_STATES,
                  history=registry.history(session=session, limit=20), csrf=csrf_token(request), who=who, Role=Role,
                  message=message, done=done)  # fmt: skip


@router.get("/stakeholders", response_class=HTMLResponse)
def stakeholders(request: Request, session: DB, who: Viewer, before: int | None = None,
                 done: str | None = None) -> Response:  # fmt: skip
    return _registry_page(request, session, who, before=before, done=done)


@router.post("/stakeholders/{stakeholder_id}/resubscribe", response_class=HTMLResponse)
async def resubscribe(request: Request, stakeholder_id: int, who: Editor) -> Response:
    values = await checked_form(request)
    now = web(request).clock()

    def work() -> Response:
        with writing_session(request) as session:
            try:
                person = registry.resubscribe(session=session, stakeholder_id=stakeholder_id,
                                              reason=values.get("reason", ""), actor=who.actor, now=now)  # fmt: skip
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _registry_page(request, session, who, message=str(exc), status=status_for(exc))
        return RedirectResponse(f"/staff/stakeholders?done={quote_plus(f'{person.email} receives mail again')}",
                                status_code=303)  # fmt: skip

    return await run_in_threadpool(work)


@router.get("/stakeholders/import", response_class=HTMLResponse)
def import_form(request: Request, who: Editor) -> Response:
    return render(request, "stakeholders_import.html", csrf=csrf_token(request), planned=None, token=None,
                  message=None, file_name=None)  # fmt: skip


@router.post("/stakeholders/import", response_class=HTMLResponse)
async def import_file(request: Request, who: Editor) -> Response:
    """Two steps: the file is read and checked, and what it would change is shown (kept
    under a one-time token); confirming imports exactly that file."""
    values = await checked_form(request)
    context = web(request)
    uploads = context.settings.data_dir / "imports"
    token = values.get("token", "")
    if token:  # the confirmation
        if not (token.isalnum() and len(token) == 32 and (uploads / token).exists()):
            raise ConsultError("this preview has expired or was already imported: choose the file again")
        data = (uploads / token).read_bytes()
        source = values.get("file_name", "file")[:200]
    else:
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return render(request, "stakeholders_import.html", status=422, csrf=csrf_token(request), planned=None,
                          token=None, message="choose a CSV file", file_name=None)  # fmt: skip
        data = await upload.read(MAX_FILE + 1)
        source = upload.filename[:200]
    now = context.clock()

    def work() -> Response:
        try:
            if len(data) > MAX_FILE:
                raise ConsultError(f"{source}: larger than {MAX_FILE // 1024 // 1024} MB: use `consult stakeholders "
                                   "import`")  # fmt: skip
            rows = registry.parse_rows(data, source)
            with writing_session(request) as session:
                if not token:
                    planned = registry.plan_import(session=session, rows=rows)
                    kept = secrets.token_hex(16)
                    uploads.mkdir(parents=True, exist_ok=True)
                    (uploads / kept).write_bytes(data)
                    return render(request, "stakeholders_import.html", csrf=csrf_token(request), planned=planned,
                                  token=kept, message=None, file_name=source)  # fmt: skip
                report = registry.import_stakeholders(session=session, rows=rows, now=now, actor=who.actor,
                                                      source=source)  # fmt: skip
                invited = invite_latecomers(session=session, now=now, mail=context.settings.mail)
                session.commit()
            (uploads / token).unlink(missing_ok=True)
        except ConsultError as exc:
            return render(request, "stakeholders_import.html", status=status_for(exc), csrf=csrf_token(request),
                          planned=None, token=None, message=str(exc), file_name=source)  # fmt: skip
        done = f"{source}: {report.created} added, {report.updated} updated, {report.unchanged} unchanged" + (
            f"; {invited} invitation(s) queued to newcomers" if invited else ""
        )
        return RedirectResponse(f"/staff/stakeholders?done={quote_plus(done)}", status_code=303)

    return await run_in_threadpool(work)


def _accounts_page(request: Request, session, who: Identity, *, message: str | None = None, done: str | None = None,
                   status: int = 200) -> HTMLResponse:  # fmt: skip
    return render(request, "accounts.html", status=status, accounts=list_staff(session=session), roles=list(Role),
                  csrf=csrf_token(request), who=who, message=message, done=done)  # fmt: skip


@router.get("/accounts", response_class=HTMLResponse)
def accounts(request: Request, session: DB, who: Admin, done: str | None = None) -> Response:
    return _accounts_page(request, session, who, done=done)


@router.post("/accounts/{action}", response_class=HTMLResponse)
async def account_action(request: Request, action: str, who: Admin) -> Response:
    values = await checked_form(request)
    now = web(request).clock()
    name = values.get("name", "").strip()

    def work() -> Response:
        with writing_session(request) as session:
            try:
                if action == "add":
                    user = add_staff(session=session, name=name, password=values.get("password", ""), now=now,
                                     role=values.get("role") or None)  # fmt: skip
                    done = f"{user.name} saved ({user.role})"
                elif action == "role":
                    set_role(session=session, name=name, role=values.get("role", ""), by=who.actor)
                    done = f"{name} is now {values.get('role')}"
                elif action == "remove":
                    if name == who.name:
                        raise ConsultError("you cannot remove your own account while logged in with it")
                    if not remove_staff(session=session, name=name):
                        raise ConsultError(f"no staff user {name!r}")
                    done = f"{name} removed; their sessions are ended"
                else:
                    raise ConsultError(f"no action {action!r}: add, role or remove")
                session.commit()
            except ConsultError as exc:
                session.rollback()
                return _accounts_page(request, session, who, message=str(exc), status=status_for(exc))
        return RedirectResponse(f"/staff/accounts?done={quote_plus(done)}", status_code=303)

    return await run_in_threadpool(work)
