"""The workflow engine's pure core: process definitions as data, a safe condition language,
region working calendars, the semantics of moving a case (no database), diffs between versions
and a discrete-event simulation. The database engine, CLI and pages build on this package."""

from eresident.workflow.calendar import (
    CalendarError,
    WorkingCalendar,
    add_working_hours,
    available_calendars,
    load_calendar,
    parse_calendar,
    working_hours_between,
)
from eresident.workflow.definition import (
    DefinitionError,
    ProcessDefinition,
    definition_from_data,
    load_definition,
    load_packaged,
    packaged_definitions,
)
from eresident.workflow.diff import diff
from eresident.workflow.expressions import Expression, ExpressionError, compile_condition
from eresident.workflow.render import mermaid, process_map
from eresident.workflow.semantics import (
    ActionTaken,
    Actor,
    AutoDecided,
    BranchArrived,
    CaseEnded,
    CaseStarted,
    CaseState,
    Claimed,
    DeadlineMissed,
    Effect,
    Escalated,
    FactsUpdated,
    OpenStep,
    ParallelStarted,
    Released,
    StepCancelled,
    StepCompleted,
    StepEntered,
    WorkflowError,
    act,
    available_actions,
    case_status,
    check_allowed,
    claim,
    decided_by,
    escalate_due,
    next_due,
    open_steps,
    release,
    signal,
    start,
    update_facts,
)
from eresident.workflow.simulate import Report, compare, simulate
from eresident.workflow.source import Problem

__all__ = [
    "ActionTaken", "Actor", "AutoDecided", "BranchArrived", "CalendarError", "CaseEnded", "CaseStarted",
    "CaseState", "Claimed", "DeadlineMissed", "DefinitionError", "Effect", "Escalated", "Expression",
    "ExpressionError", "FactsUpdated", "OpenStep", "ParallelStarted", "Problem", "ProcessDefinition",
    "Released", "Report", "StepCancelled", "StepCompleted", "StepEntered", "WorkflowError",
    "WorkingCalendar", "act", "add_working_hours", "available_actions", "available_calendars",
    "case_status", "check_allowed", "claim", "compare", "compile_condition", "decided_by",
    "definition_from_data", "diff", "escalate_due", "load_calendar", "load_definition", "load_packaged",
    "mermaid", "next_due", "open_steps", "packaged_definitions", "parse_calendar", "process_map",
    "release", "signal", "simulate", "start", "update_facts", "working_hours_between",
]
