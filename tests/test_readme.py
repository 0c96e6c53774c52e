"""The README's lifecycle diagram is the one the table draws."""

from __future__ import annotations

from pathlib import Path

from states.diagram import mermaid

README = Path(__file__).parents[1] / "README.md"


def test_readme_diagram_is_fresh() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- lifecycle:begin -->", 1)[1].split("<!-- lifecycle:end -->", 1)[0]
    assert block.strip() == f"```mermaid\n{mermaid().rstrip()}\n```", "run `consult diagram` and update README.md"


def test_diagram_covers_every_transition() -> None:
    from states import TRANSITIONS

    edges = sum(len(t.sources) + (1 if t.creates else 0) for t in TRANSITIONS)
    assert mermaid().count("-->") == edges + 2  # plus the two final-stage exits
