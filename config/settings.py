"""Process settings from the environment (CONSULT_*), built once at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError

from config.organisation import Organisation, load_organisation
from config.policy import Policy, load_policy, resolve_zone


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def parse_instant(text: str, *, what: str = "time") -> datetime:
    """ISO 8601 with an offset or `Z`; a naive time would be ambiguous across zones."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise SettingsError(f"{what}: {text!r} is not an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        raise SettingsError(f"{what}: {text!r} has no UTC offset (write e.g. 2017-08-19T12:00:00+02:00 or …Z)")
    if not 1990 <= value.year <= 2199:  # states.timing's window (config sits below states)
        raise SettingsError(f"{what}: the year {value.year} is outside 1990–2199")
    return value


def _int(env: Mapping[str, str], key: str, default: int, *, low: int = 0) -> int:
    text = env.get(key, "")
    if not text:
        return default
    if not text.strip().isdigit() or int(text) < low:
        raise SettingsError(f"{key}: {text!r} is not a whole number ≥ {low}")
    return int(text)


@dataclass(frozen=True, slots=True)
class MailSettings:
    """Where mail goes and how hard delivery tries. Links in mail point at `base_url`."""

    sender: str = "Consultations secretariat <consultations@localhost>"
    base_url: str = "http://127.0.0.1:8000"
    staff_language: str = "en"
    concurrency: int = 4  # SMTP connections used at once
    timeout_seconds: int = 30
    max_attempts: int = 8  # 4xx / time-out retries before giving up
    backoff_seconds: int = 60  # first retry after this, doubling each time

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailSettings:
        d = cls()
        return cls(
            sender=env.get("CONSULT_MAIL_FROM") or d.sender,
            base_url=(env.get("CONSULT_BASE_URL") or d.base_url).rstrip("/"),
            staff_language=env.get("CONSULT_STAFF_LANGUAGE") or d.staff_language,
            concurrency=_int(env, "CONSULT_SMTP_CONCURRENCY", d.concurrency, low=1),
            timeout_seconds=_int(env, "CONSULT_SMTP_TIMEOUT", d.timeout_seconds, low=1),
            max_attempts=_int(env, "CONSULT_MAIL_MAX_ATTEMPTS", d.max_attempts, low=1),
            backoff_seconds=_int(env, "CONSULT_MAIL_BACKOFF", d.backoff_seconds),
        )


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///consult.db"
    timezone: str = "Europe/Geneva"
    now: datetime | None = None
    secret_key: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    data_dir: Path = Path("data")
    # Reverse proxies whose X-Forwarded-For / -Proto are believed (comma-separated
    # addresses); none by default, so no client can pose as another to the rate limits.
    trusted_proxies: str = ""
    # "flow/deployment" (e.g. tick/tick): the embedded clock only looks (cheaply) and, when
    # work is due, starts a run of this deployment for the Prefect workers; None: it ticks itself.
    tick_deployment: str | None = None
    # How long a chunk run's claim on its due consultations lasts without renewal (it renews
    # while it works): after a worker dies, its unfinished chunk is free again this soon.
    claim_seconds: int = 120
    policy: Policy = field(default_factory=Policy)
    mail: MailSettings = field(default_factory=lambda: MailSettings())
    organisation: Organisation = field(default_factory=lambda: load_organisation())

    def placeholder_warnings(self) -> list[str]:
        """What would make real mail wrong: links to this machine, a placeholder sender
        (said on start and on the staff pages, unless it is a demonstration)."""
        warnings = []
        if any(local in self.mail.base_url for local in ("://127.", "://localhost", "://0.0.0.0", "://[::1]")):
            warnings.append(
                f"links in mail point at {self.mail.base_url}, which stakeholders cannot reach: "
                "set CONSULT_BASE_URL to the public address"
            )
        if self.mail.sender.rstrip(">").endswith("@localhost") or "@example." in self.mail.sender:
            warnings.append(f"mail is sent as {self.mail.sender!r}: set CONSULT_MAIL_FROM to the secretariat's address")
        return warnings

    @property
    def attachments_dir(self) -> Path:
        """Contributions' files, under their generated names (store/attachments.py)."""
        return self.data_dir / "attachments"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        policy_file = env.get("CONSULT_POLICY_FILE")
        policy = load_policy(Path(policy_file) if policy_file else None)
        now = env.get("CONSULT_NOW")
        port = env.get("CONSULT_SMTP_PORT", "25")
        if not port.isdigit():
            raise SettingsError(f"CONSULT_SMTP_PORT: {port!r} is not a port number")
        timezone = env.get("CONSULT_TIMEZONE") or policy.timezone
        try:
            resolve_zone(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"CONSULT_TIMEZONE: {timezone!r} is not an IANA time zone such as Europe/Geneva"
            ) from None
        return cls(
            database_url=env.get("CONSULT_DATABASE_URL", "sqlite:///consult.db"),
            timezone=timezone,
            now=parse_instant(now, what="CONSULT_NOW") if now else None,
            secret_key=env.get("CONSULT_SECRET_KEY"),
            smtp_host=env.get("CONSULT_SMTP_HOST") or None,
            smtp_port=int(port),
            smtp_username=env.get("CONSULT_SMTP_USERNAME") or None,
            smtp_password=env.get("CONSULT_SMTP_PASSWORD") or None,
            smtp_starttls=env.get("CONSULT_SMTP_STARTTLS", "").lower() in {"1", "true", "yes"},
            data_dir=Path(env.get("CONSULT_DATA_DIR", "data")),
            trusted_proxies=env.get("CONSULT_TRUSTED_PROXIES", "").strip(),
            tick_deployment=env.get("CONSULT_TICK_DEPLOYMENT") or None,
            claim_seconds=_int(env, "CONSULT_CLAIM_SECONDS", 120, low=10),
            policy=policy,
            mail=MailSettings.from_env(env),
            organisation=load_organisation(Path(org) if (org := env.get("CONSULT_ORGANISATION_FILE")) else None),
        )
