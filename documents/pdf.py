"""HTML → PDF with WeasyPrint (Arabic shaped by Pango/HarfBuzz with DejaVu Sans; Chinese
needs a CJK font: the set-up installs WenQuanYi Zen Hei)."""

from __future__ import annotations

from pathlib import Path


def write_pdf(html: str, target: Path | None = None) -> bytes:
    from weasyprint import HTML  # imported here: it takes a moment, and most commands never print

    data = HTML(string=html).write_pdf()
    if target is not None:
        target.write_bytes(data)
    return data
