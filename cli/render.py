"""Rich rendering of the board and of one consultation, for people at a terminal."""

from __future__ import annotations

from datetime import date, datetime

from rich.console import Console
from rich.table import Table

from states import Stage
from states.clock import next_step
from states.languages import pick
from states.timing import zone
from store.consultations import plan_of
from store.tables import AuditEntry, Consultation


def local(instant: datetime | None, tz: str) -> str:
    if instant is None:
        return "—"
    return instant.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _day(value: date | None) -> str:
    return value.isoformat() if value else "—"


def _due_text(c: Consultation, now: datetime) -> tuple[str, str]:
    due = next_step(Stage(c.stage), plan_of(c))
    if due is None:
        return "—", ""
    when = local(due.at, c.timezone) if due.at else "when staff act"
    if due.overdue(now):
        when = f"[bold red]{when} (overdue)[/]"
    return due.trigger.dashed, when


def board(console: Console, rows: list[Consultation], *, now: datetime, lang: str) -> None:
    table = Table(title=f"Consultations by stage — {now.strftime('%Y-%m-%d %H:%M UTC')}", show_lines=False)
    for name in ("stage", "id", "slug", "title", "letter", "next", "when"):
        table.add_column(name, overflow="fold")
    for stage in Stage:
        in_stage = [c for c in rows if c.stage == stage.value]
        for n, c in enumerate(in_stage):
            trigger, when = _due_text(c, now)
            label = f"[bold]{stage.value}[/] ({len(in_stage)})" if n == 0 else ""
            table.add_row(label, str(c.id), c.slug, pick(c.title, lang), c.letter_number or "—", trigger, when)
        if in_stage:
            table.add_section()
    console.print(table if rows else "No consultations yet: `consult new FILE.toml` or `consult demo`.")


def detail(console: Console, c: Consultation, audit: list[AuditEntry], *, now: datetime, lang: str) -> None:
    tz = c.timezone
    console.print(f"[bold]{pick(c.title, lang)}[/]  ({c.slug}, id {c.id})")
    console.print(f"stage: [bold]{c.stage}[/]   letter: {c.letter_number or '—'}   zone: {tz}   version: {c.version}")
    if c.contact_name or c.contact_email:
        console.print(f"contact: {c.contact_name or ''} <{c.contact_email or ''}>")
    for n, q in enumerate(c.questions, start=1):
        console.print(f"  Q{n}. {pick(q, lang)}")

    trigger, when = _due_text(c, now)
    timeline = Table(title="Timeline", title_justify="left")
    for name in ("what", "planned", "actual"):
        timeline.add_column(name)
    actual = {e.trigger: e.at for e in audit}
    extended = [e for e in audit if e.trigger == "extend_deadline"]
    timeline.add_row("council decision", _day(c.decided_on), "")
    timeline.add_row("circular letter", _day(c.letter_date), _day(c.letter_issued_on))
    timeline.add_row("submissions open", local(c.opens_at, tz), local(actual.get("open_submissions"), tz))
    for e in extended:
        timeline.add_row("deadline extended", local(datetime.fromisoformat(e.details["from"]), tz), local(e.at, tz))
    timeline.add_row("deadline", local(c.deadline, tz), local(actual.get("close_submissions"), tz))
    timeline.add_row("compilation", "after closing", local(actual.get("compile"), tz))
    timeline.add_row(
        f"meeting ({c.meeting_place or 'place to be set'})", _day(c.meeting_on), local(actual.get("hold_meeting"), tz)
    )
    timeline.add_row("report to council", "", local(actual.get("report"), tz))
    console.print(timeline)
    console.print(f"next due: [bold]{trigger}[/] {when}")

    log = Table(title="Audit log", title_justify="left")
    for name in ("#", "at (UTC)", "from", "to", "trigger", "actor", "reason"):
        log.add_column(name, overflow="fold")
    for e in audit:
        log.add_row(
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.from_stage or "—",
            e.to_stage,
            e.trigger,
            e.actor,
            e.reason or "",
        )
    console.print(log)
