"""The names of the lifecycle: stages and triggers. The only place they are spelled."""

from __future__ import annotations

from enum import StrEnum

from states.errors import UnknownTrigger


class Stage(StrEnum):
    PROPOSED = "proposed"
    DECIDED = "decided"
    LETTER_ISSUED = "letter_issued"
    OPEN = "open"
    CLOSED = "closed"
    COMPILED = "compiled"  # a draft, for staff: re-drafted whenever something changes
    PUBLISHED = "published"  # the compilation is public; the meeting works from it
    MEETING_HELD = "meeting_held"
    REPORTED = "reported"
    CANCELLED = "cancelled"


FINAL_STAGES: frozenset[Stage] = frozenset({Stage.REPORTED, Stage.CANCELLED})


class Trigger(StrEnum):
    PROPOSE = "propose"
    DECIDE = "decide"
    ISSUE_LETTER = "issue_letter"
    OPEN_SUBMISSIONS = "open_submissions"
    CLOSE_SUBMISSIONS = "close_submissions"
    COMPILE = "compile"
    PUBLISH_COMPILATION = "publish_compilation"
    HOLD_MEETING = "hold_meeting"
    REPORT = "report"
    CANCEL = "cancel"
    EXTEND_DEADLINE = "extend_deadline"
    DISCARD = "discard"  # before the letter: a test or a mistake, gone from public pages

    @classmethod
    def parse(cls, text: str) -> Trigger:
        """Accept `issue-letter` as well as `issue_letter`: the CLI and URLs use dashes."""
        key = text.strip().lower().replace("-", "_")
        try:
            return cls(key)
        except ValueError:
            raise UnknownTrigger(text, (t.dashed for t in cls)) from None

    @property
    def dashed(self) -> str:
        return self.value.replace("_", "-")


class Action(StrEnum):
    """What staff, respondents and the clock record on a consultation without changing its
    stage: an audit row of its own (who, when, why, what changed), skipped by the replay.
    Recorded by the store's operations (store/consultations.py, store/submissions.py,
    store/respondents.py), not by the lifecycle table."""

    EDIT = "edit"  # title, questions, dates, place, contact or languages, before the letter
    WITHHOLD_RESPONSE = "withhold_response"
    PUBLISH_RESPONSE = "publish_response"
    SET_RECIPIENTS = "set_recipients"
    APPROVE_RESPONSE = "approve_response"  # a moderator publishes an unconfirmed response
    CONFIRM_RESPONSE = "confirm_response"  # its respondent, by the private link
    AMEND_RESPONSE = "amend_response"
    WITHDRAW_RESPONSE = "withdraw_response"
    EXPIRE_RESPONSES = "expire_responses"  # the clock deletes those left unconfirmed

    @property
    def dashed(self) -> str:
        return self.value.replace("_", "-")


class Notice(StrEnum):
    """What stakeholders are told when a transition happens (the outbox queues it)."""

    INVITATION = "invitation"
    DEADLINE_EXTENDED = "extended"
    CANCELLATION = "cancelled"
    COMPILATION = "compiled"


class Document(StrEnum):
    """What a transition issues and the archive keeps as issued: the bytes sent out, never
    re-rendered from the consultation as it is later (documents/archive.py)."""

    LETTER = "letter"
    ADDENDUM = "addendum"  # to the letter: a changed deadline is announced, the letter stays as sent
    COMPILATION = "compilation"
    REPORT = "report"


SYSTEM_ACTOR = "system"
