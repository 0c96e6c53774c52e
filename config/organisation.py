"""The organisation that issues the letters and reports (names by language), from TOML."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from config.policy import PolicyError, read_toml

DEFAULT_ORGANISATION_FILE = Path(__file__).with_name("organisation.toml")


@dataclass(frozen=True, slots=True)
class Organisation:
    place: dict[str, str]
    group: dict[str, str]
    signatory: dict[str, str]
    signatory_title: dict[str, str]
    references: dict[str, str]
    chairman: dict[str, str]

    def text(self, field: str, lang: str) -> str:
        values: dict[str, str] = getattr(self, field)
        return values.get(lang) or values.get("en") or next(iter(values.values()), "")


def load_organisation(path: Path | None = None) -> Organisation:
    path = path or DEFAULT_ORGANISATION_FILE
    raw = read_toml(path, what="organisation file")
    names = {f.name for f in fields(Organisation)}
    if set(raw) != names or not all(isinstance(v, dict) for v in raw.values()):
        raise PolicyError(f"organisation file {path}: needs exactly {', '.join(sorted(names))}, each by language")
    return Organisation(**raw)
