"""The `consult` command (Typer). Read commands take --json; time-dependent ones --now.

Imports stay light (no Prefect, no web stack) so that list/show/new/advance answer fast.
"""

from __future__ import annotations

import inspect
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from rich.console import Console

from cli.context import actor, app_from_env, handles_errors
from notifications.outbox import counts as outbox_counts
from states import ConsultError, Param, ParamKind, Stage, Trigger, parse_request
from states.languages import LANGUAGES
from states.machine import ensure_allowed
from states.table import TRANSITIONS
from store import consultations as repo
from store import documents as archive
from store import lifecycle
from store.counts import response_counts
from store.db import current_revision, upgrade
from store.decision_file import parse_decision, read_decision_file, read_raw
from store.views import consultation_view, created_view, detail_view

app = typer.Typer(
    help="Run a council's public consultations: decision → letter → submissions → compilation → meeting → report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

NowOption = Annotated[str | None, typer.Option("--now", help="Act as if it were this ISO-8601 instant (with offset).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LangOption = Annotated[str, typer.Option("--lang", help=f"Language for titles: {', '.join(LANGUAGES)}.")]


def _console() -> Console:
    return Console(soft_wrap=False, width=160)


def _emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ConsultError(f"unknown language code {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


@app.command()
@handles_errors
def init() -> None:
    """Create the database, or upgrade it to the newest schema."""
    ctx = app_from_env()
    before, after = upgrade(ctx.engine)
    state = "created" if before is None else ("already current" if before == after else f"upgraded from {before}")
    typer.echo(f"database {ctx.settings.database_url}: schema {after} ({state})")


def _date_or_instant(text: str, what: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text.strip()) == 10 else datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConsultError(f"{what}: {text!r} is not an ISO date (2017-08-19) or date-time") from None


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        lang, sep, text = item.partition("=")
        if not sep:
            raise ConsultError(f"{what}: write LANG=TEXT, e.g. en=Public policy considerations for OTTs")
        out[lang.strip()] = text
    return out


@app.command()
@handles_errors
def new(
    file: Annotated[
        Path | None, typer.Argument(help="Council-decision file (TOML); flags override its values.")
    ] = None,
    proposed: Annotated[bool, typer.Option("--proposed", help="A topic still awaiting the council.")] = False,
    slug: Annotated[str | None, typer.Option(help="Short name, e.g. ott-2017.")] = None,
    title: Annotated[list[str], typer.Option("--title", help="LANG=TEXT; repeat per language.")] = [],  # noqa: B006
    question: Annotated[list[str], typer.Option("--question", help="LANG=TEXT, one question each.")] = [],  # noqa: B006
    decided_on: Annotated[str | None, typer.Option()] = None,
    letter_date: Annotated[str | None, typer.Option()] = None,
    opens_at: Annotated[str | None, typer.Option()] = None,
    deadline: Annotated[str | None, typer.Option(help="A date (end of that day in the zone) or a date-time.")] = None,
    meeting_on: Annotated[str | None, typer.Option()] = None,
    meeting_place: Annotated[str | None, typer.Option()] = None,
    contact_name: Annotated[str | None, typer.Option()] = None,
    contact_email: Annotated[str | None, typer.Option()] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone; default CONSULT_TIMEZONE.")] = None,
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a consultation from a council decision (in `decided`), or a proposal (`--proposed`)."""
    ctx = app_from_env()
    policy = ctx.settings.policy
    raw: dict[str, Any] = read_raw(file) if file is not None else {}
    flags: dict[str, Any] = {
        "slug": slug, "meeting_place": meeting_place, "contact_name": contact_name,
        "contact_email": contact_email, "timezone": timezone,
    }  # fmt: skip
    for key, value in {"decided_on": decided_on, "letter_date": letter_date, "meeting_on": meeting_on,
                       "opens_at": opens_at, "deadline": deadline}.items():  # fmt: skip
        flags[key] = _date_or_instant(value, f"--{key.replace('_', '-')}") if value is not None else None
    raw.update({k: v for k, v in flags.items() if v is not None})
    if title:  # the file's titles, if it has them in the right shape (parse_decision names a wrong one)
        given = raw.get("title")
        raw["title"] = {**(given if isinstance(given, dict) else {}), **_pairs(title, "--title")}
    if question:
        raw["questions"] = [_pairs([q], "--question") for q in question]
    data = parse_decision(
        raw, policy=policy, where=str(file) if file else "new", default_timezone=ctx.settings.timezone
    )
    with ctx.session() as s:
        created = repo.create_consultation(
            session=s, data=data, proposed=proposed, actor=actor(), now=ctx.now(now), policy=policy
        )
        s.commit()
        c = created.consultation
        if as_json:
            _emit_json(created_view(c, created.warnings, now=ctx.now(now)).json_ready())
            return
    for warning in created.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"created {c.slug} (id {c.id}) in stage {c.stage}")


@app.command()
@handles_errors
def edit(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Slug or numeric id.")],
    file: Annotated[
        Path,
        typer.Argument(help="Decision file (TOML, the format of `consult new`); keys it leaves out keep their value."),
    ],
    now: NowOption = None,
) -> None:
    """Change a consultation until its letter is issued (a question's typo, a date, a
    language); each change is an audit row with what it was. Afterwards only triggers
    change it (extend-deadline, cancel)."""
    from store.decision_file import decision_of, merged

    ctx = app_from_env()
    given = read_raw(file)
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        if "slug" in given and given["slug"] != c.slug:
            raise ConsultError(f"{file}: the file is for {given['slug']!r}, not {c.slug!r} (the slug cannot be edited)")
        raw = merged(decision_of(c), given)
        data = parse_decision(raw, policy=ctx.settings.policy, where=str(file), default_timezone=c.timezone)
        changed = repo.edit_consultation(session=s, consultation=c, data=data, actor=actor(), now=ctx.now(now),
                                         policy=ctx.settings.policy)  # fmt: skip
        s.commit()
    if not changed:
        typer.echo(f"{c.slug}: nothing to change")
        return
    for name, change in changed.items():
        typer.echo(f"{c.slug}: {name}: {change['from']!r} → {change['to']!r}")


@app.command("list")
@handles_errors
def list_(
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    discarded: Annotated[bool, typer.Option("--discarded", help="Include the discarded.")] = False,
    lang: LangOption = "en",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Consultations grouped by stage, with what is due next."""
    from cli import render

    ctx = app_from_env()
    _check_lang(lang)
    wanted = None
    if stage is not None:
        try:
            wanted = Stage(stage.replace("-", "_"))
        except ValueError:
            raise ConsultError(f"unknown stage {stage!r}; stages are: {', '.join(s.value for s in Stage)}") from None
    at = ctx.now(now)
    with ctx.session() as s:
        rows = repo.list_consultations(session=s, stage=wanted, discarded=discarded)
    if as_json:
        _emit_json([consultation_view(c, now=at).json_ready() for c in rows])
    else:
        render.board(_console(), rows, now=at, lang=lang)


@app.command()
@handles_errors
def show(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Slug or numeric id.")],
    lang: LangOption = "en",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """One consultation: details, timeline with what is due next, and the audit log."""
    from cli import render

    ctx = app_from_env()
    _check_lang(lang)
    at = ctx.now(now)
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref, discarded=True)
        audit = repo.audit_log(session=s, consultation_id=repo.key(c))
        counts = response_counts(s.connection(), repo.key(c))
        documents = archive.described(session=s, consultation_id=repo.key(c))
    if as_json:
        _emit_json(detail_view(c, audit, counts, now=at, documents=documents).json_ready())
    else:
        render.detail(_console(), c, audit, now=at, lang=lang)


def _fire(ref: str, trigger: Trigger, *, now: str | None, decision_file: Path | None = None,
          **given: Any) -> None:  # fmt: skip
    """Every trigger fired from the shell goes through here to the lifecycle service."""
    from documents.archive import Renderer
    from notifications.fanout import fan_out_pending

    ctx = app_from_env()
    at = ctx.now(now)
    with ctx.session() as s:
        c = repo.get(session=s, ref=ref)
        if decision_file is not None:
            if trigger is not Trigger.DECIDE:
                raise ConsultError("--file goes with the decide trigger only")
            data = read_decision_file(decision_file, policy=ctx.settings.policy, default_timezone=ctx.settings.timezone)
            repo.record_decision(session=s, consultation=c, data=data)
        row = ensure_allowed(Stage(c.stage), trigger)
        params = parse_request(row, given, timezone=c.timezone)
        fired = lifecycle.fire(session=s, consultation=c, trigger=trigger, actor=actor(), now=at,
                               policy=ctx.settings.policy, documents=Renderer(ctx.settings),
                               request=params)  # fmt: skip
        s.commit()
        entry = fired.entry
    extra = f" ({entry.details['letter_number']})" if "letter_number" in entry.details else ""
    typer.echo(f"{c.slug}: {entry.from_stage} → {entry.to_stage} by {trigger.dashed}{extra}")
    if fired.notice is not None:
        for line in fan_out_pending(engine=ctx.engine, now=at, mail=ctx.settings.mail):
            typer.echo(str(line))
        with ctx.session() as s:
            queued = outbox_counts(session=s).get("pending", 0)
        if queued:
            typer.echo(f"mail pending in the outbox: {queued} (`consult mail send` delivers it)")


def _params_by_name() -> dict[str, tuple[Param, list[str]]]:
    """Each parameter name, with "trigger: what it is for" for every row that takes it."""
    found: dict[str, tuple[Param, list[str]]] = {}
    for row in TRANSITIONS:
        for p in row.params:
            _, uses = found.setdefault(p.name, (p, []))
            use = f"{row.trigger.dashed}: {p.help}"
            if use not in uses:
                uses.append(use)
    return found


def _param_options() -> list[inspect.Parameter]:
    """`consult advance`'s options, one per parameter of the table's rows (and a
    `…-file` twin for long texts), with the triggers that take it in the help."""
    options: list[inspect.Parameter] = []
    for name, (param, uses) in _params_by_name().items():
        help_text = "; ".join(uses)
        option = typer.Option(param.option, help=help_text)
        options.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                         annotation=Annotated[str | None, option]))  # fmt: skip
        if param.kind is ParamKind.LONG_TEXT:
            from_file = typer.Option(f"{param.option}-file", help=f"{help_text}, read from a file")
            options.append(inspect.Parameter(f"{name}_file", inspect.Parameter.KEYWORD_ONLY, default=None,
                                             annotation=Annotated[Path | None, from_file]))  # fmt: skip
    return options


def advance(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Slug or numeric id.")],
    trigger: Annotated[str, typer.Argument(help="e.g. issue-letter, hold-meeting, report (see `consult diagram`).")],
    file: Annotated[Path | None, typer.Option("--file", help="decide: the council-decision file.")] = None,
    now: NowOption = None,
    **given: Any,
) -> None:
    """Fire a lifecycle trigger by hand. Its options are the parameters the lifecycle
    table declares (a trigger refuses those it does not take)."""
    for name in [k for k in given if k.endswith("_file")]:
        path = given.pop(name)
        if path is not None:
            try:
                given[name.removesuffix("_file")] = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConsultError(f"{path}: cannot read: {exc.strerror}") from None
    _fire(ref, Trigger.parse(trigger), now=now, decision_file=file, **given)


def _with_table_options(command: Any) -> Any:
    """Typer reads a command's options from its signature: give `advance` the table's."""
    signature, hints = inspect.signature(command), get_type_hints(command, include_extras=True)
    fixed = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values()
             if p.kind is not inspect.Parameter.VAR_KEYWORD]  # fmt: skip
    command.__signature__ = signature.replace(parameters=[*fixed, *_param_options()])
    return command


app.command("advance")(handles_errors(_with_table_options(advance)))


@app.command("extend-deadline")
@handles_errors
def extend_deadline(
    ref: Annotated[str, typer.Argument(metavar="ID")],
    new_deadline: Annotated[str, typer.Argument(metavar="DATE", help="A date (end of day in the zone) or date-time.")],
    reason: Annotated[str | None, typer.Option()] = None,
    now: NowOption = None,
) -> None:
    """Move the deadline later (from open, or from closed before compilation, which reopens)."""
    _fire(ref, Trigger.EXTEND_DEADLINE, now=now, reason=reason, new_deadline=new_deadline)


@app.command()
@handles_errors
def cancel(
    ref: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Told to stakeholders; required.")],
    now: NowOption = None,
) -> None:
    """Cancel a consultation that has not reached its final stage."""
    _fire(ref, Trigger.CANCEL, now=now, reason=reason)


@app.command()
@handles_errors
def demo(
    now: NowOption = None,
    live: Annotated[
        bool,
        typer.Option(help="Also load consultations placed relative to --now, one in each stage, and a staff login."),
    ] = True,
) -> None:
    """Load the real consultations of the reference documents, each in its stage at --now,
    and live ones (real topics placed relative to --now) so that every stage is occupied."""
    from demo.loader import load_demo

    ctx = app_from_env()
    at = ctx.now(now)
    with ctx.session() as s:
        for line in load_demo(session=s, now=at, settings=ctx.settings, live=live):
            typer.echo(line)


@app.command()
def diagram() -> None:
    """Print the lifecycle as a Mermaid state diagram (drawn from the table)."""
    from states.diagram import mermaid

    typer.echo(mermaid(), nl=False)


@app.command(hidden=True)
@handles_errors
def revision() -> None:
    """Print the database's schema revision."""
    ctx = app_from_env()
    typer.echo(current_revision(ctx.engine) or "none")


@handles_errors
def verify_record() -> None:
    """Check the record against itself: each stage against its audit log's replay, each
    archived document against the SHA-256 recorded when it was issued, each attachment on
    disk. Exit 1 on any mismatch, naming it."""
    from store.verify import verify

    ctx = app_from_env()
    with ctx.session() as s:
        result = verify(session=s, attachments=ctx.settings.attachments_dir)
    typer.echo(str(result))
    if result.problems:
        raise typer.Exit(1)


def _register_groups() -> None:
    from cli import clock, documents_cmd, mail, staff_cmd, stakeholders

    app.add_typer(stakeholders.app, name="stakeholders")
    app.add_typer(mail.app, name="mail")
    app.command("mail-catcher")(mail.catcher)
    app.command("tick")(clock.tick)
    app.command("serve")(clock.serve)
    app.command("deploy")(clock.deploy)
    app.command("letter")(documents_cmd.letter)
    app.command("compile")(documents_cmd.compile_)
    app.command("report")(documents_cmd.report)
    app.command("documents")(documents_cmd.documents)
    app.command("verify")(verify_record)
    app.add_typer(staff_cmd.staff_app, name="staff")
    app.add_typer(staff_cmd.responses_app, name="responses")


_register_groups()


# Click's UsageError (Typer ≥ 0.20 vendors Click, so it is reached through a public subclass).
UsageError: type[Exception] = typer.BadParameter.__base__  # type: ignore[assignment]


def main() -> None:
    """Entry point: usage errors become one line on stderr with exit code 2, like bad input."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="consult", standalone_mode=False)
    except UsageError as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            code = 0
        else:
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {exc.format_message()}{hint}", err=True)  # type: ignore[attr-defined]
            code = 2
    except typer.Abort:
        code = 1
    except ConsultError as exc:  # raised outside a command body
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    raise SystemExit(code if isinstance(code, int) else 0)
