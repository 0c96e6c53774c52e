"""The secretariat's policy: timing rules and reminder offsets, read from TOML."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.toml")

# IANA has no "Europe/Geneva" (Geneva keeps Zurich's clock), yet it is the name the
# secretariat writes and DESIGN's default: accept it, and resolve it to Europe/Zurich.
ZONE_ALIASES = {"Europe/Geneva": "Europe/Zurich"}


def resolve_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name or one of our aliases; raises ZoneInfoNotFoundError."""
    if not name or name != name.strip():
        raise ZoneInfoNotFoundError(name)
    return ZoneInfo(ZONE_ALIASES.get(name, name))


class PolicyError(ValueError):
    """The policy file is unreadable or holds a value that cannot be right."""


@dataclass(frozen=True, slots=True)
class Policy:
    timezone: str = "Europe/Geneva"
    min_open_days: int = 30
    meeting_gap_days: int = 30
    reminder_offsets_days: tuple[int, ...] = (14, 7, 1)
    reminder_time: time = time(9)  # local time in the consultation's zone: mail at a sensible hour
    letter_numbers: str = "registry"  # or "tool": see policy.toml
    first_letter_number: int = 1
    unconfirmed_expire_days: int = 7  # a response its respondent never confirmed is deleted after this

    @property
    def tool_numbers_letters(self) -> bool:
        return self.letter_numbers == "tool"


def read_toml(path: Path, *, what: str) -> dict[str, Any]:
    """A configuration file's TOML; unreadable or malformed is a PolicyError naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{what} {path}: {exc}") from exc


def load_policy(path: Path | None = None) -> Policy:
    """Read a policy file; unknown keys are refused so that a typo never silently
    falls back to a default."""
    path = path or DEFAULT_POLICY_FILE
    raw = read_toml(path, what="policy file")
    known = {f.name for f in fields(Policy)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PolicyError(f"policy file {path}: unknown key(s) {', '.join(unknown)}")
    if "reminder_offsets_days" in raw:
        offsets = raw["reminder_offsets_days"]
        if not isinstance(offsets, list) or not all(isinstance(o, int) and 0 < o <= 366 for o in offsets):
            raise PolicyError(f"policy file {path}: reminder_offsets_days must be whole days from 1 to 366")
        raw["reminder_offsets_days"] = tuple(sorted(set(offsets), reverse=True))
    if "reminder_time" in raw:
        value = raw["reminder_time"]
        if not isinstance(value, time) or value.tzinfo is not None:
            raise PolicyError(f"policy file {path}: reminder_time is a local time of day, such as 09:00:00")
    if raw.get("letter_numbers", "registry") not in {"registry", "tool"}:
        raise PolicyError(f'policy file {path}: letter_numbers is "registry" or "tool"')
    first = raw.get("first_letter_number", 1)
    if not isinstance(first, int) or not 1 <= first <= 999:
        raise PolicyError(f"policy file {path}: first_letter_number must be a whole number from 1 to 999")
    expire = raw.get("unconfirmed_expire_days", 7)
    if not isinstance(expire, int) or not 1 <= expire <= 366:
        raise PolicyError(f"policy file {path}: unconfirmed_expire_days must be a whole number of days from 1 to 366")
    for key in ("min_open_days", "meeting_gap_days"):
        if key in raw and (not isinstance(raw[key], int) or raw[key] < 0):
            raise PolicyError(f"policy file {path}: {key} must be a non-negative integer")
    if "timezone" in raw:
        try:
            resolve_zone(str(raw["timezone"]))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PolicyError(f"policy file {path}: unknown time zone {raw['timezone']!r}") from exc
    return Policy(**raw)
