"""One timeline per application, for the applicant (issue 8): every step the case has passed and
when, where it is now (who holds it, in which region, whether it waits on the applicant, by when),
and what comes next if all goes well. It is read from the process version the case runs on, so a
re-engineered process (workflow/) shows its own steps with no change here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from eresident.i18n import N_
from eresident.identity import service
from eresident.identity.models import Application
from eresident.kit.context import NodeContext
from eresident.workflow import service as workflow
from eresident.workflow.calendar import load_calendar
from eresident.workflow.definition import ProcessDefinition, TaskStep
from eresident.workflow.render import due_state
from eresident.workflow.semantics import CaseState

# The titles of the steps of the shipped e-residency processes (data/processes/), marked so the
# timeline shows them in the reader's language; a step added by a region shows its own title.
STEP_TITLES = (
    N_("Identity check at the overseas service site"), N_("Review"), N_("Waiting for the applicant's answer"),
    N_("Decision"), N_("Automatic checks (duplicates, sanctions screening)"),
    N_("Identity check and automatic checks, at the same time"), N_("Decision by two approvers"),
)
# Who a step's role is, for the applicant.
ROLE_NAMES = {"reviewer": N_("a reviewer"), "approver": N_("an approver"), "admin": N_("an administrator"),
              "site_agent": N_("a site agent"), "registrar": N_("a registrar"), "tax_officer": N_("a tax officer")}
_FOLLOWED = 25  # at most this many steps ahead on the expected path (a guard against cycles)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline. `state`: done, now or next."""

    title: str
    state: str
    at: datetime | None = None  # done: when it ended; now: since when
    who: str | None = None  # a role name (ROLE_NAMES), "automatic", "you" or "site"
    region: str | None = None
    due_at: datetime | None = None
    due: str = ""  # "late", "due soon" or ""
    waiting_on_you: bool = False
    claimed: bool = False  # an official has taken it


def _who(step, waits_on: str | None) -> str | None:
    if isinstance(step, TaskStep):
        return ROLE_NAMES.get(step.role, step.role)
    if step.kind == "auto":
        return "automatic"
    return {"applicant": "you"}.get(waits_on or "", None)


def _waits_on(step) -> str | None:
    """Whom the application waits on in this step, from the status the step gives it."""
    status = getattr(step, "status", None)
    return service.STATUSES[status][1] if status in service.STATUSES else None


def _expected_next(defn: ProcessDefinition, start: list[str], seen: set[str]) -> list[str]:
    """The steps after `start` on the path a case takes when all goes well: a task's first action,
    a wait's first event, an automatic step's fallback, a parallel step's branches."""
    path: list[str] = []
    queue = list(start)
    while queue and len(path) < _FOLLOWED:
        step = defn.steps[queue.pop(0)]
        if step.kind == "task":
            nxt = [next(iter(step.actions.values())).next]
        elif step.kind == "wait":
            nxt = [next(iter(step.on.values()))]
        elif step.kind == "auto":
            nxt = [step.otherwise.next]
        elif step.kind == "parallel":
            nxt = list(step.branches) + [step.join]
        else:
            nxt = []
        for sid in nxt:
            if sid not in seen:
                seen.add(sid)
                path.append(sid)
                queue.append(sid)
    return path


def timeline(ctx: NodeContext, db: Session, app: Application) -> list[Entry]:
    case = workflow.case_for(db, "application", app.id)
    defn = workflow.definition_of(db, case)
    state = CaseState.from_json(case.state)
    now, calendar = ctx.clock.now(), load_calendar(defn.calendar)
    entries = [Entry(N_("Application submitted"), "done", at=app.submitted_at, who="you", region=app.region)]
    for past in state.history:
        step = defn.steps[past.step]
        if step.kind in ("parallel", "end") or past.how == "cancelled":
            continue
        entries.append(Entry(step.label, "done", at=past.completed_at, region=state.region,
                             who="automatic" if past.how == "rule" else _who(step, _waits_on(step))))
    for current in state.active:
        step = defn.steps[current.step]
        if step.kind == "parallel":
            continue
        waits_on = _waits_on(step)
        entries.append(Entry(step.label, "now", at=current.entered_at, who=_who(step, waits_on), region=state.region,
                             due_at=current.due_at, waiting_on_you=waits_on == "applicant",
                             due=due_state(current.due_at, now, calendar, overdue=current.overdue),
                             claimed=bool(current.claims)))
    if state.ended:
        end = N_("Approved: you are an e-resident") if state.outcome == "approved" else N_("Refused")
        entries.append(Entry(end, "done", at=state.ended_at, region=state.region))
        return entries
    seen = {i.step for i in state.active}  # steps passed before may come again (a loop back to review)
    for sid in _expected_next(defn, [i.step for i in state.active], seen):
        step = defn.steps[sid]
        if step.kind in ("parallel", "end"):
            continue
        entries.append(Entry(step.label, "next", who=_who(step, _waits_on(step)), region=state.region))
    entries.append(Entry(N_("Decision: approved or refused"), "next", region=state.region))
    return entries
