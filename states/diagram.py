"""A Mermaid state diagram drawn from the table (the README embeds it; a test keeps it fresh)."""

from __future__ import annotations

from states.stages import FINAL_STAGES, Stage
from states.table import TRANSITIONS


def mermaid() -> str:
    lines = ["stateDiagram-v2"]
    for t in TRANSITIONS:
        label = t.trigger.dashed + ("" if t.by == "staff" else f" ({t.by.value})")
        if t.creates:
            lines.append(f"    [*] --> {t.dest.value}: {label}")
        for source in t.sources:
            lines.append(f"    {source.value} --> {t.dest.value}: {label}")
    for stage in Stage:
        if stage in FINAL_STAGES:
            lines.append(f"    {stage.value} --> [*]")
    return "\n".join(lines) + "\n"
