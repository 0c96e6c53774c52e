"""The lifecycle, declared once (DESIGN §2): one row per trigger and source stages, each
carrying the trigger's whole contract (states/contract.py). Everything else derives from
this table: the machine, the allowed triggers, the clock's timers, what is due next, the
CLI's options, the web's buttons and fields, the audit replay and the README diagram."""

from __future__ import annotations

from datetime import datetime, timedelta

from states import changes
from states import guards as g
from states.contract import Actor, Param, ParamKind, Transition
from states.stages import FINAL_STAGES, Document, Notice, Stage, Trigger
from states.timing import Plan, start_instant

CLOSE_AFTER = timedelta(seconds=1)  # the deadline's own last second still accepts responses

REASON = Param("reason", ParamKind.TEXT, "why (kept in the audit log)", max_length=500)
REASON_REQUIRED = Param("reason", ParamKind.TEXT, "told to stakeholders", required=True, max_length=500)
REASON_KEPT = Param("reason", ParamKind.TEXT, "why (kept in the audit log)", required=True, max_length=500)
LETTER_NUMBER = Param("letter_number", ParamKind.LETTER_NUMBER, "the registry's number, e.g. CL-17/30", max_length=20)
SUMMARY = Param("meeting_summary", ParamKind.LONG_TEXT, "the summary agreed by the participants", required=True)
NEW_DEADLINE = Param(
    "new_deadline", ParamKind.DEADLINE, "a date (end of that day in the zone) or a date-time", required=True
)


def letter_day(plan: Plan) -> datetime | None:
    return start_instant(plan.letter_date, plan.timezone) if plan.letter_date else None


def opening(plan: Plan) -> datetime | None:
    return plan.opens_at


def after_deadline(plan: Plan) -> datetime | None:
    return plan.deadline.replace(microsecond=0) + CLOSE_AFTER if plan.deadline else None


def meeting_day(plan: Plan) -> datetime | None:
    return start_instant(plan.meeting_on, plan.timezone) if plan.meeting_on else None


# A step due on a day (the letter's, the meeting's) is late only once that day is over:
# on the day itself staff still have time.
def after_letter_day(plan: Plan) -> datetime | None:
    return start_instant(plan.letter_date + timedelta(days=1), plan.timezone) if plan.letter_date else None


def after_meeting_day(plan: Plan) -> datetime | None:
    return start_instant(plan.meeting_on + timedelta(days=1), plan.timezone) if plan.meeting_on else None


NON_FINAL = tuple(s for s in Stage if s not in FINAL_STAGES)

# One row per trigger and source stages; read it as a table (ruff leaves its layout alone).
# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    Transition(Trigger.PROPOSE, (), Stage.PROPOSED, Actor.STAFF, creates=True),
    # Deciding a proposal needs the council's decision (a decision file): the CLI's
    # `advance ID decide --file F`; the web form for it comes with the staff workspace.
    Transition(Trigger.DECIDE, (Stage.PROPOSED,), Stage.DECIDED, Actor.STAFF,
               guards=(g.plan_complete, g.plan_in_order), creates=True),
    Transition(Trigger.ISSUE_LETTER, (Stage.DECIDED,), Stage.LETTER_ISSUED, Actor.STAFF, params=(LETTER_NUMBER,),
               guards=(g.plan_complete, g.plan_in_order, g.decision_taken, g.deadline_not_passed,
                       g.letter_number_known),
               apply=changes.issue_letter, notice=Notice.INVITATION, issues=Document.LETTER, due=letter_day,
               late=after_letter_day, irreversible=True),
    Transition(Trigger.OPEN_SUBMISSIONS, (Stage.LETTER_ISSUED,), Stage.OPEN, Actor.TIMER,
               guards=(g.opening_reached,), due=opening),
    Transition(Trigger.CLOSE_SUBMISSIONS, (Stage.OPEN,), Stage.CLOSED, Actor.TIMER,
               guards=(g.deadline_passed,), due=after_deadline),
    # The processing window: the flow drafts the compilation for staff as soon as submissions
    # close; staff import what came on time by mail or on paper and moderate (each change
    # re-drafts it), then publish it. Stakeholders hear of it then, not before.
    Transition(Trigger.COMPILE, (Stage.CLOSED,), Stage.COMPILED, Actor.FLOW, due=after_deadline),
    # Staff may re-draft by hand: compiled → compiled records the re-run.
    Transition(Trigger.COMPILE, (Stage.COMPILED,), Stage.COMPILED, Actor.STAFF, side=True),
    Transition(Trigger.PUBLISH_COMPILATION, (Stage.COMPILED,), Stage.PUBLISHED, Actor.STAFF,
               notice=Notice.COMPILATION, issues=Document.COMPILATION, irreversible=True),
    Transition(Trigger.HOLD_MEETING, (Stage.PUBLISHED,), Stage.MEETING_HELD, Actor.STAFF, params=(SUMMARY,),
               guards=(g.meeting_day_reached, g.summary_recorded), apply=changes.hold_meeting, due=meeting_day,
               late=after_meeting_day, irreversible=True),
    Transition(Trigger.REPORT, (Stage.MEETING_HELD,), Stage.REPORTED, Actor.STAFF, issues=Document.REPORT,
               irreversible=True),
    Transition(Trigger.CANCEL, NON_FINAL, Stage.CANCELLED, Actor.STAFF, params=(REASON_REQUIRED,),
               guards=(g.reason_given,), notice=Notice.CANCELLATION, notice_if=g.letter_was_issued, side=True,
               irreversible=True),
    # Before the letter nothing has gone out: a test or a mistake is discarded, not cancelled.
    Transition(Trigger.DISCARD, (Stage.PROPOSED, Stage.DECIDED), Stage.CANCELLED, Actor.STAFF, params=(REASON_KEPT,),
               guards=(g.reason_recorded,), apply=changes.discard, side=True, irreversible=True),
    # Until the compilation is published: reopening drops the draft (drafted again at the
    # new deadline); after publication it would orphan a public document.
    Transition(Trigger.EXTEND_DEADLINE, (Stage.OPEN, Stage.CLOSED, Stage.COMPILED), Stage.OPEN, Actor.STAFF,
               params=(NEW_DEADLINE, REASON), guards=(g.new_deadline_later, g.extended_plan_in_order),
               apply=changes.extend_deadline, notice=Notice.DEADLINE_EXTENDED, issues=Document.ADDENDUM, side=True),
)
# fmt: on


def transition_for(stage: Stage | None, trigger: Trigger) -> Transition | None:
    """The row that lets `trigger` fire from `stage` (None: creating a consultation)."""
    for t in TRANSITIONS:
        if t.trigger is trigger and (stage in t.sources or (stage is None and t.creates)):
            return t
    return None


def rows_from(stage: Stage) -> list[Transition]:
    return [t for t in TRANSITIONS if stage in t.sources]


def allowed_triggers(stage: Stage) -> list[Trigger]:
    return [t.trigger for t in rows_from(stage)]


def staff_rows(stage: Stage) -> list[Transition]:
    """What staff may fire by hand from `stage`: the buttons and forms of the board."""
    return [t for t in rows_from(stage) if t.by is Actor.STAFF and t.role is not None]


def offered(row: Transition, facts: g.Facts, now: datetime) -> bool:
    """Whether staff are offered the row now: none of its guards is still waiting for its moment."""
    return all(guard(facts, now) for guard in row.guards if guard in g.WAITING)


def next_row(stage: Stage) -> Transition | None:
    """The stage's next step on the main path (what the board shows as due next)."""
    return next((t for t in rows_from(stage) if not t.side), None)
