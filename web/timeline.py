"""The timeline picture: planned dates as hollow marks, what happened as filled ones,
today as a line. Plain SVG, drawn server-side (no script needed to read it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

from states.timing import start_instant
from store.tables import AuditEntry, Consultation


def svg(c: Consultation, audit: list[AuditEntry], *, now: datetime, labels: dict[str, str]) -> Markup:
    planned: list[tuple[str, datetime]] = []
    if c.letter_date:
        planned.append((labels["letter"], start_instant(c.letter_date, c.timezone)))
    if c.opens_at:
        planned.append((labels["stage_open"], c.opens_at))
    if c.deadline:
        planned.append((labels["deadline"], c.deadline))
    if c.meeting_on:
        planned.append((labels["meeting"], start_instant(c.meeting_on, c.timezone)))
    actual = [(e.to_stage, e.at) for e in audit if e.from_stage]
    points = [t for _, t in planned] + [t for _, t in actual] + [now]
    if len(points) < 2:
        return Markup("")
    start, end = min(points) - timedelta(days=3), max(points) + timedelta(days=3)
    span = (end - start).total_seconds()
    width, height = 760, 120

    def x(t: datetime) -> float:
        return 20 + (width - 40) * (t - start).total_seconds() / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(labels["timeline"])}" class="timeline">',
        f'<line x1="20" y1="60" x2="{width - 20}" y2="60" stroke="#888"/>',
    ]
    for label, t in planned:
        parts.append(f'<circle cx="{x(t):.1f}" cy="60" r="6" fill="white" stroke="#1f5fa8" stroke-width="2">'
                     f"<title>{escape(label)}: {t:%Y-%m-%d}</title></circle>")  # fmt: skip
        parts.append(f'<text x="{x(t):.1f}" y="40" font-size="11" text-anchor="middle">{escape(label)}</text>')
    for stage, t in actual:
        label = labels.get(f"stage_{stage}", stage)
        parts.append(f'<circle cx="{x(t):.1f}" cy="60" r="4" fill="#1f5fa8"><title>{escape(label)}: '
                     f"{t:%Y-%m-%d %H:%M} UTC</title></circle>")  # fmt: skip
    parts.append(f'<line x1="{x(now):.1f}" y1="25" x2="{x(now):.1f}" y2="95" stroke="#c0392b" stroke-dasharray="4"/>')
    parts.append(f'<text x="{x(now):.1f}" y="110" font-size="11" text-anchor="middle" fill="#c0392b">'
                 f"{now:%Y-%m-%d}</text></svg>")  # fmt: skip
    return Markup("".join(parts))
