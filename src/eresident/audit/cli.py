"""`eresident audit …`: verify the whole log, sign a checkpoint now, print an inclusion proof, show
the witnessing status (cosignatures, alarms)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from eresident.config import Settings

app = typer.Typer(help="The tamper-evident audit log: verify it, checkpoint it, prove entries.",
                  no_args_is_help=True, add_completion=False)


def _context():
    from eresident.kit.context import build_context

    return build_context(Settings())


@app.command()
def verify() -> None:
    """Recompute the tree from the audit rows and their salts; compare it with the stored nodes,
    the head and every signed checkpoint. Exits 1 naming the first bad entry."""
    from eresident.audit.keys import load_checkpoint_verifier
    from eresident.audit.verify import verify_log

    ctx = _context()
    with ctx.database.session(write=False) as db:
        report = verify_log(db, load_checkpoint_verifier(ctx.settings))
    if report.ok:
        from eresident.audit.schemas import b64

        typer.echo(f"ok: {report.events} entries, {report.nodes} tree nodes and {report.checkpoints} "
                   f"signed checkpoints verified; root {b64(report.root_hash)}")
        return
    first = report.first
    typer.echo(f"FAILED: first bad entry: {first}", err=True)
    for finding in report.findings:
        if finding is not first:
            typer.echo(f"also: {finding}", err=True)
    raise typer.Exit(1)


@app.command()
def checkpoint(
        force: Annotated[bool, typer.Option(help="Sign even if the log has not grown")] = False) -> None:
    """Sign a checkpoint of the log now and print it (a C2SP signed note)."""
    from eresident.audit.service import LogForked
    from eresident.audit.tasks import make_checkpoint

    try:
        made = make_checkpoint(_context(), force=force)
    except LogForked as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(made.note, nl=False)


@app.command()
def prove(
        seq: int,
        tree_size: Annotated[Optional[int], typer.Option(help="Default: the whole log")] = None,
        with_event: Annotated[bool, typer.Option(
            help="Also print the event and its salt (personal data: only for its subject or a court)")
        ] = False) -> None:
    """Print the inclusion proof of the event at SEQ as JSON."""
    from eresident.audit import merkle, repository, service
    from eresident.audit.leaf import canonical_event
    from eresident.audit.schemas import InclusionProofRead, b64

    ctx = _context()
    with ctx.database.session(write=False) as db:
        row = repository.event_by_seq(db, seq)
        if row is None:
            typer.echo(f"error: no event with seq {seq}", err=True)
            raise typer.Exit(1)
        try:
            proof = service.inclusion_proof(db=db, seq=seq, tree_size=tree_size, event_id=row.id)
        except (merkle.ProofError, merkle.MissingNode) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        checkpoint = service.checkpoint_of_size(db, proof.tree_size)
        body = InclusionProofRead.of(proof, checkpoint.note if checkpoint else None).model_dump()
    if with_event:
        body["event"] = json.loads(canonical_event(row._mapping))
        body["salt"] = b64(bytes(row.salt))
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """The latest checkpoint with the peers' cosignatures, the latest checkpoint witnessed from each
    peer, and every alarm (a peer's or our checkpoint found inconsistent). Exits 1 if there are alarms."""
    from eresident.audit.witness import status as witness_status

    ctx = _context()
    with ctx.database.session(write=False) as db:
        report = witness_status(db)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        checkpoint = report["checkpoint"]
        if checkpoint is None:
            typer.echo("latest checkpoint: none yet")
        else:
            cosigned = ", ".join(checkpoint["cosigned_by"]) or "no peer yet"
            typer.echo(f"latest checkpoint: size {checkpoint['tree_size']}, {checkpoint['created_at']}, "
                       f"cosigned by {cosigned}")
            typer.echo(checkpoint["note"], nl=False)
        for seen in report["witnessed"]:
            typer.echo(f"witnessed from {seen['peer']} ({seen['origin']}): size {seen['tree_size']}, "
                       f"root {seen['root_hash']}, {seen['witnessed_at']}")
        typer.echo(f"alarms: {len(report['alarms'])}")
        for alarm in report["alarms"]:
            where = "our log, reported by" if alarm["role"] == "origin" else "the log of"
            typer.echo(f"ALARM {alarm['detected_at']} {alarm['reason']}: {where} {alarm['peer']} "
                       f"({alarm['origin']}), size {alarm['tree_size']}: {alarm['detail']}")
    if report["alarms"]:
        raise typer.Exit(1)
