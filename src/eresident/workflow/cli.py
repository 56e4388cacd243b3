"""`eresident workflow …`: validate, publish, diff and simulate process definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eresident.config import Settings

app = typer.Typer(help="Approval processes as data.", no_args_is_help=True)


def _load(path: Path, *, strict: bool = False):
    from eresident.workflow.definition import DefinitionError, load_definition

    try:
        return load_definition(path.read_text(), source_name=str(path), strict=strict)
    except DefinitionError as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _definition(ref: str):
    """A file path, or process@version of a published definition on this node."""
    if "@" in ref and not Path(ref).exists():
        from sqlalchemy import select

        from eresident.kit.context import build_context
        from eresident.workflow.definition import load_definition
        from eresident.workflow.models import ProcessVersion

        process, _, version = ref.partition("@")
        ctx = build_context(Settings())
        with ctx.database.session(write=False) as db:
            row = db.scalar(select(ProcessVersion).where(ProcessVersion.process == process,
                                                         ProcessVersion.version == int(version)))
        if row is None:
            typer.echo(f"error: {ref} is not published on this node", err=True)
            raise typer.Exit(1)
        return load_definition(row.source, source_name=ref)
    return _load(Path(ref))


@app.command()
def validate(file: Path) -> None:
    """Check a definition as publishing would; exit 1 listing each problem with its line."""
    defn = _load(file, strict=True)
    typer.echo(f"{file}: valid — {defn.process} v{defn.version}, {len(defn.steps)} steps")


@app.command()
def publish(file: Path, official: Annotated[str, typer.Option("--as", help="username of an admin")]) -> None:
    """Publish a definition for new cases (admin only, audited). Running cases keep their version."""
    from eresident.kit.errors import Problem
    from eresident.kit.context import build_context
    from eresident.officials import service as officials
    from eresident.workflow import service

    ctx = build_context(Settings())
    text = file.read_text()
    try:
        with ctx.database.session(write=True) as db:
            admin = officials.by_username(db, official)
            if not officials.has_role(admin, "admin", ctx.region):
                typer.echo(f"error: {official} is not an administrator of {ctx.region}", err=True)
                raise typer.Exit(1)
            row = service.publish(ctx=ctx, db=db, text=text, actor=officials.actor_for(admin),
                                  source_name=str(file))
            typer.echo(f"published {row.process} v{row.version} ({row.digest[:12]})")
    except Problem as exc:
        for error in exc.errors or []:
            typer.echo(f"{file}: {error.field}: {error.reason}", err=True)
        if not exc.errors:
            typer.echo(f"error: {exc.detail or exc.title}", err=True)
        raise typer.Exit(1) from None


@app.command()
def diff(a: str, b: str) -> None:
    """What changed between two definitions (files, or process@version published here)."""
    from eresident.workflow.diff import diff as diff_definitions

    changes = diff_definitions(_definition(a), _definition(b))
    typer.echo("\n".join(changes) if changes else "no differences")


@app.command()
def simulate(file: Path, arrivals: Annotated[str, typer.Option(help="e.g. 274/day")] = "274/day",
             days: int = 365, seed: int = 7,
             compare: Annotated[Path | None, typer.Option(help="a second definition to compare")] = None) -> None:
    """Replay a definition against synthetic arrivals and staff; report time to decision and queues."""
    import time

    from eresident.workflow.simulate import ERESIDENCY_SCENARIO, compare as compare_reports, simulate as run

    per_day = float(arrivals.split("/")[0])
    reports = []
    for path in [file] + ([compare] if compare else []):
        defn = _load(path)
        started = time.perf_counter()
        report = run(defn, arrivals_per_day=per_day, days=days, seed=seed, **ERESIDENCY_SCENARIO)
        elapsed = time.perf_counter() - started
        reports.append(report)
        typer.echo(f"{defn.process} v{defn.version}: {report.cases} cases simulated in {elapsed:.1f} s "
                   f"({report.cases / elapsed:,.0f} cases/s)")
    typer.echo(compare_reports(*reports) if len(reports) == 2 else reports[0].to_text())


def _hours(block: dict | None, key: str = "hours") -> str:
    figures = (block or {}).get(key)
    if not figures:
        return "—"
    return f"{figures['mean']:.1f}/{figures['p50']:.1f}/{figures['p90']:.1f}"


def metrics_text(m: dict) -> str:
    """The metrics as a text report (mean/p50/p90, hours and working hours)."""
    scope = f" v{m['version']}" if m["version"] else ""
    if m["since"] or m["until"]:
        scope += f", cases started {m['since'] or '…'} to {m['until'] or '…'}"
    c, d = m["cases"], m["time_to_decision"]
    lines = [f"{m['process']}{scope}: {c['started']} cases, {c['ended']} ended, {c['open']} open"
             + (f" (versions: {', '.join(f'v{v} {n}' for v, n in m['versions'].items())})" if m["versions"] else ""),
             "  outcomes: " + (", ".join(f"{k} {v}" for k, v in m["outcomes"].items()) or "none"),
             "  decided: " + (", ".join(f"{k} {v}" for k, v in m["decided_by"].items()) or "none"),
             f"  time to decision, mean/p50/p90: {_hours(d)} h, {_hours(d, 'working_hours')} working h",
             f"  deadline misses: {m['deadline_misses']}",
             "",
             "  times are mean/p50/p90 in working hours (calendar hours for waits)",
             f"  {'step':<20} {'kind':<5} {'entered':>7} {'open':>5} {'misses':>6}  {'waiting':>17}  "
             f"{'working':>17}  {'in step':>17}"]
    for sid, s in m["steps"].items():
        if s["kind"] == "auto":
            decided = ", ".join(f"{k} {v}" for k, v in (s.get("outcomes") or {}).items())
            lines.append(f"  {sid:<20} {'auto':<5} {s['entered']:>7} {'':>5} {'':>6}  {decided}")
            continue
        key = "working_hours" if s["kind"] == "task" else "hours"
        lines.append(f"  {sid:<20} {s['kind'] or '?':<5} {s['entered']:>7} {s['open']:>5} {s['deadline_misses']:>6}  "
                     f"{_hours(s.get('waiting'), key):>17}  {_hours(s.get('working'), key):>17}  "
                     f"{_hours(s.get('time_in_step'), key):>17}")
    return "\n".join(lines)


@app.command()
def metrics(process: str,
            version: Annotated[int | None, typer.Option(help="only cases of this version")] = None,
            since: Annotated[str | None, typer.Option(help="cases started at or after (ISO date/time, UTC)")] = None,
            until: Annotated[str | None, typer.Option(help="cases started before (ISO date/time, UTC)")] = None,
            as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Measure a process on this node: per step entered, waiting and working time, deadline misses;
    time to decision and automatic vs human decisions."""
    import json
    from datetime import UTC, datetime

    from eresident.kit.context import build_context
    from eresident.workflow import service

    def when(text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            typer.echo(f"error: {text!r} is not an ISO date or time", err=True)
            raise typer.Exit(2) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    ctx = build_context(Settings())
    with ctx.database.session(write=False) as db:
        result = service.metrics(db=db, process=process, version=version, since=when(since), until=when(until))
    if not result["cases"]["started"] and not result["versions"]:
        typer.echo(f"note: no cases of {process!r} on this node", err=True)
    typer.echo(json.dumps(result, indent=2) if as_json else metrics_text(result))
