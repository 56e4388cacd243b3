"""Periodic jobs of a node (deadlines and escalations, audit checkpoints, federation delivery), run
by `eresident worker`.

Each job runs in its own transaction; a failing job is logged and retried on its next turn, and
never stops the others. Several workers may run: the jobs are idempotent (escalation looks only at
cases past due and not yet escalated; a checkpoint of an unchanged log is the previous one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from eresident.kit.context import NodeContext

log = structlog.get_logger("eresident.jobs")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[NodeContext], object]


def _escalate(ctx: NodeContext) -> int:
    from eresident.workflow import service as workflow

    # Engine commands only (no ORM, no audit event): a driver transaction, as benchmarks/workflow.py runs them.
    with ctx.database.transaction(write=True) as tx:
        return workflow.escalate_due(ctx=ctx, db=tx)


def _checkpoint(ctx: NodeContext) -> object:
    from eresident.audit.tasks import make_checkpoint

    return make_checkpoint(ctx)


def _deliver(ctx: NodeContext) -> object:
    from eresident.federation.service import deliver_due

    return deliver_due(ctx)


def _bank_deliver(ctx: NodeContext) -> object:
    from eresident.banking.service import deliver_due

    return deliver_due(ctx)


def _tax_reminders(ctx: NodeContext) -> int:
    from eresident.tax.service import queue_reminders

    with ctx.database.session(write=True) as db:
        return queue_reminders(ctx=ctx, db=db)


def _recognition(ctx: NodeContext) -> object:
    from eresident.federation.recognition import sweep

    return sweep(ctx)


def _dashboard_figures(ctx: NodeContext) -> object:
    from eresident.dashboard.service import refresh

    return refresh(ctx)


JOBS = (PeriodicJob("workflow.escalate_due", 60.0, _escalate),
        PeriodicJob("audit.checkpoint", 60.0, _checkpoint),
        PeriodicJob("federation.deliver", 1.0, _deliver),
        PeriodicJob("banking.deliver", 1.0, _bank_deliver),
        PeriodicJob("tax.reminders", 60.0, _tax_reminders),
        PeriodicJob("recognition.sweep", 10.0, _recognition),
        PeriodicJob("dashboard.figures", 60.0, _dashboard_figures))


def run_due(ctx: NodeContext, last_run: dict[str, float], *, now: float,
            jobs: tuple[PeriodicJob, ...] = JOBS) -> dict[str, str]:
    """Run every job whose interval has passed; returns {job: "ok" | "failed"} for those that ran."""
    results = {}
    for job in jobs:
        if now - last_run.get(job.name, float("-inf")) < job.every_seconds:
            continue
        last_run[job.name] = now
        try:
            job.run(ctx)
            results[job.name] = "ok"
        except Exception as exc:  # a job's failure is reported and retried, never fatal to the worker
            log.error("job.failed", job=job.name, error_type=type(exc).__name__)
            results[job.name] = "failed"
    return results


def run_forever(ctx: NodeContext, stop: threading.Event, *, tick_seconds: float = 1.0) -> None:
    last_run: dict[str, float] = {}
    log.info("worker.started", region=ctx.region, jobs=[j.name for j in JOBS])
    while not stop.is_set():
        run_due(ctx, last_run, now=time.monotonic())
        stop.wait(tick_seconds)
    log.info("worker.stopped", region=ctx.region)
