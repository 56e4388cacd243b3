"""`eresident audit …`: verify the whole log, sign a checkpoint now, print an inclusion proof (of an
event, or of a licence's issuance), show the witnessing status (cosignatures, alarms)."""

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
        seq: Annotated[Optional[int], typer.Argument(help="The event's position in the log")] = None,
        licence: Annotated[Optional[str], typer.Option(
            "--licence", help="Prove a licence's issuance instead, by its USCC, against the newest checkpoint a "
                              "peer cosigned (as GET /api/v1/licences/{uscc}/inclusion)")] = None,
        tree_size: Annotated[Optional[int], typer.Option(help="Default: the whole log (not with --licence)")] = None,
        with_event: Annotated[bool, typer.Option(
            help="Also print the event and its salt (personal data: only for its subject or a court)")
        ] = False) -> None:
    """Print the inclusion proof of the event at SEQ, or of a licence's issuance, as JSON."""
    if (seq is None) == (licence is None):
        typer.echo("error: give either SEQ or --licence USCC", err=True)
        raise typer.Exit(2)
    if licence is not None and tree_size is not None:
        typer.echo("error: --licence proves against the published checkpoint; --tree-size goes with SEQ", err=True)
        raise typer.Exit(2)
    ctx = _context()
    with ctx.database.session(write=False) as db:
        if licence is not None:
            row, body = _licence_proof(ctx, db, licence)
        else:
            assert seq is not None  # exactly one of SEQ and --licence, checked above
            row, body = _seq_proof(db, seq, tree_size)
    if with_event:
        from eresident.audit.leaf import canonical_event
        from eresident.audit.schemas import b64

        body["event"] = json.loads(canonical_event(row._mapping))
        body["salt"] = b64(bytes(row.salt))
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
    if not all(body.get("checked_by_server", {}).values()):
        raise typer.Exit(1)  # the node could not confirm its own proof (a warning says which check failed)


def _fail(message: str, code: int = 1):
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _seq_proof(db, seq: int, tree_size: int | None):
    from eresident.audit import merkle, repository, service
    from eresident.audit.schemas import InclusionProofRead

    row = repository.event_by_seq(db, seq)
    if row is None:
        raise _fail(f"no event with seq {seq}")
    try:
        proof = service.inclusion_proof(db=db, seq=seq, tree_size=tree_size, event_id=row.id)
    except (merkle.ProofError, merkle.MissingNode) as exc:
        raise _fail(str(exc)) from None
    checkpoint = service.checkpoint_of_size(db, proof.tree_size)
    return row, InclusionProofRead.of(proof, checkpoint.note if checkpoint else None).model_dump()


def _licence_proof(ctx, db, uscc: str):
    """Exit 1 for an unknown licence or a damaged log, 3 while the issuance is not in a checkpoint."""
    from eresident.audit import merkle, publication
    from eresident.audit.schemas import LicenceInclusionRead
    from eresident.enterprise.service import licence_by_uscc
    from eresident.kit.errors import Problem

    try:
        found = licence_by_uscc(db, uscc)
        shown = publication.licence_issuance(ctx=ctx, db=db, licence=found)
    except Problem as exc:
        raise _fail(exc.detail or exc.title) from None
    except (merkle.ProofError, merkle.MissingNode) as exc:
        raise _fail(str(exc)) from None
    if shown is None:
        raise _fail(f"the audit log has no issuance event for licence {found.uscc}: run `eresident audit verify`")
    if shown.pending:
        raise _fail(f"pending: the issuance is entry {shown.seq}, newer than the latest checkpoint "
                    f"(size {shown.latest_checkpoint_size}); sign one with `eresident audit checkpoint`", 3)
    body = LicenceInclusionRead.of(found.uscc, shown).model_dump(mode="json")
    assert shown.checks is not None  # a proof (not pending) comes with its checks
    if not shown.checks.ok:
        typer.echo(f"warning: this node could not confirm the proof: {body['checked_by_server']}", err=True)
    return shown.event, body


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
