"""HTML → PDF with WeasyPrint (Arabic shaped by Pango/HarfBuzz with DejaVu Sans; Chinese
needs a CJK font: the set-up installs WenQuanYi Zen Hei)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def write_pdf(html: str, target: Path | None = None) -> bytes:
    from weasyprint import HTML  # imported here: it takes a moment, and most commands never print

    data = HTML(string=html).write_pdf()
    if target is not None:
        target.write_bytes(data)
    return data


def write_pdf_parts(parts: Iterable[str], target: Path) -> int:
    """One PDF from HTML documents printed one at a time and joined, pages in order: memory
    follows the largest part, not the whole (a compilation of 10,000 contributions).
    Returns the number of pages."""
    import io

    from pypdf import PdfWriter
    from weasyprint import HTML

    writer = PdfWriter()
    for html in parts:
        writer.append(io.BytesIO(HTML(string=html).write_pdf()))
    pages = len(writer.pages)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb") as f:
        writer.write(f)
    partial.replace(target)
    return pages
