"""`eresident federation …`: this node's keys, the trust list, the queues and their dead letters,
a ping, a delivery run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from eresident.config import Settings

app = typer.Typer(help="Trust and messages between region nodes.", no_args_is_help=True,
                  add_completion=False)
trust_app = typer.Typer(help="The peers this node trusts (DATA_DIR/trust.json).", no_args_is_help=True)
keys_app = typer.Typer(help="This node's federation signing keys.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")
app.add_typer(keys_app, name="keys")


def _context():
    from eresident.kit.context import build_context

    return build_context(Settings())


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _key_lines(keys, *, show_revoked: bool = True) -> list[str]:
    from eresident.federation.keys import iso
    from eresident.federation.trust import fingerprint

    lines = []
    for key in keys:
        jwk = key.jwk if hasattr(key, "jwk") else key.public_jwk()
        flag = " REVOKED" if show_revoked and getattr(key, "revoked", False) else ""
        lines.append(f"  {key.kid}  SHA-256 {fingerprint(jwk)}  valid {iso(key.not_before)} .. "
                     f"{iso(key.not_after)}{flag}")
    return lines


@keys_app.command("show")
def keys_show() -> None:
    """Print this node's published keys with their fingerprints (read them to a peer's operator)."""
    from eresident.federation.keys import node_keys

    ctx = _context()
    keys = node_keys(ctx.settings)
    now = ctx.clock.now()
    current = keys.signing_key(now)
    typer.echo(f"{ctx.settings.region} {ctx.settings.region_name} {ctx.settings.base_url}")
    for line, key in zip(_key_lines(keys.published(now)), keys.published(now), strict=True):
        typer.echo(line + ("  (signing now)" if key.kid == current.kid else ""))


@keys_app.command("add-next")
def keys_add_next(
        valid_from: Annotated[Optional[str], typer.Option(help="ISO time; default: in 7 days")] = None,
        days: Annotated[Optional[int], typer.Option(help="Validity; default: the setting")] = None) -> None:
    """Add the next key (published now, used from VALID_FROM): rotation without downtime."""
    from eresident.federation.keys import node_keys, parse_time

    ctx = _context()
    now = ctx.clock.now()
    try:
        start = parse_time(valid_from, "--valid-from") if valid_from else now + timedelta(days=7)
    except ValueError as exc:
        _fail(str(exc), 2)
    key = node_keys(ctx.settings).add_next(now=now, not_before=start,
                                           days=days or ctx.settings.federation_key_validity_days)
    typer.echo("added; peers must refresh their trust list (`eresident federation trust add --from-url "
               f"{ctx.settings.base_url}`) before it is used:")
    typer.echo("\n".join(_key_lines([key])))


@trust_app.command("add")
def trust_add(
        from_url: Annotated[Optional[str], typer.Option("--from-url", help="The peer's base URL")] = None,
        from_file: Annotated[Optional[Path], typer.Option("--from-file",
                                                          help="A node-keys document got out of band")] = None,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask (fingerprints checked already)")] = False,
) -> None:
    """Add or refresh a peer from its node-keys document; confirm its key fingerprints first."""
    import httpx

    from eresident.federation import trust
    from eresident.kit.clock import Clock

    settings = Settings()
    if (from_url is None) == (from_file is None):
        _fail("give exactly one of --from-url and --from-file", 2)
    try:
        if from_url is not None:  # (an empty --from-url fails as a bad URL, not as a missing file)
            url = from_url.rstrip("/") + "/.well-known/eresident/node-keys"
            response = httpx.get(url, timeout=10, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        else:
            assert from_file is not None  # exactly one of the two, checked above
            document = json.loads(from_file.read_text())
        incoming = trust.parse_node_keys(document, own_region=settings.region)
        if from_url and incoming.base_url != from_url.rstrip("/"):
            typer.echo(f"note: the peer calls itself {incoming.base_url}; messages will go there", err=True)
        merged, change = trust.merge_peer(trust.load_trust(settings), incoming, now=Clock().now())
    except (httpx.HTTPError, OSError, ValueError) as exc:
        _fail(str(exc))
    peer = change.peer
    typer.echo(f"{'new peer' if change.is_new_peer else 'refresh'}: {peer.region} {peer.name} {peer.base_url}")
    if change.new_keys:
        typer.echo("keys to trust (compare these fingerprints with the peer's operator):")
        typer.echo("\n".join(_key_lines(change.new_keys)))
    from eresident.federation.recognition import credential_fingerprints

    if credential_fingerprints(peer):
        typer.echo("credential issuer and agreement keys (compare these too):")
        typer.echo("\n".join(credential_fingerprints(peer)))
    if peer.audit_log:  # witnessing: compare with `curl {peer}/api/v1/audit/key` read out by its operator
        typer.echo(f"audit log key (checkpoints and cosignatures): {peer.audit_log['key']}")
    for label, keys in (("already trusted", change.kept_keys), ("no longer published, dropped",
                                                                 change.dropped_keys)):
        if keys:
            typer.echo(f"{label}:")
            typer.echo("\n".join(_key_lines(keys)))
    if not yes and not typer.confirm("Trust these keys?", default=False):
        _fail("nothing changed")
    trust.save_trust(settings, merged)
    typer.echo(f"saved {trust.trust_path(settings)}")


@trust_app.command("show")
def trust_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the peers this node trusts and their keys."""
    from eresident.federation import trust

    settings = Settings()
    try:
        current = trust.load_trust(settings)
    except trust.TrustError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(current.to_json(), indent=2))
        return
    if not current.peers:
        typer.echo(f"no peers in {trust.trust_path(settings)}")
    for peer in current.peers.values():
        typer.echo(f"{peer.region} {peer.name} {peer.base_url} (added {peer.added_at})")
        typer.echo("\n".join(_key_lines(peer.keys)))


@trust_app.command("revoke-key")
def trust_revoke_key(kid: str) -> None:
    """Stop accepting a peer key at once (messages signed with it are refused from now on)."""
    from eresident.federation import trust

    settings = Settings()
    try:
        trust.save_trust(settings, trust.revoke(trust.load_trust(settings), kid))
    except trust.TrustError as exc:
        _fail(str(exc))
    typer.echo(f"revoked {kid}")


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per peer: messages waiting, failing, the oldest waiting, the last error; dead letters; delivered,
    received."""
    from eresident.federation import service

    ctx = _context()
    with ctx.database.session(write=False) as db:
        report = service.status(ctx=ctx, db=db)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if not report["peers"]:
        typer.echo("no peers and no messages")
    for peer in report["peers"]:
        trusted = "" if peer["trusted"] else " (NOT IN TRUST LIST)"
        typer.echo(f"{peer['region']}{trusted}: pending {peer['pending']} (failing {peer['failing']}), "
                   f"delivered {peer['delivered']}, received {peer['received']}, dead {peer['dead']}")
        if peer["oldest_pending_at"]:
            typer.echo(f"  oldest pending: {peer['oldest_pending_at']} "
                       f"({peer['oldest_pending_age_seconds']} s ago)")
        if peer["last_error"]:
            typer.echo(f"  last error ({peer['last_error_at']}): {peer['last_error']}")
        if peer["oldest_dead"]:
            typer.echo(f"  oldest dead: {_dead_line(peer['oldest_dead'])}")
            typer.echo(f"  (list them: `eresident federation dead --peer {peer['region']}`; send them again: "
                       f"`eresident federation requeue --peer {peer['region']}`)")


def _dead_line(dead: dict) -> str:
    return (f"{dead['id']} {dead['kind']} queued {dead['created_at']}, given up {dead['dead_at']} after "
            f"{dead['attempts']} attempts: {dead['last_error']}")


@app.command("dead")
def dead(peer: Annotated[Optional[str], typer.Option("--peer", help="Only the messages to this region")] = None,
         limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the messages given up (dead letters), oldest first: id, kind, attempts, last error."""
    from eresident.federation import service

    ctx = _context()
    with ctx.database.session(write=False) as db:
        rows = service.dead_letters(db=db, peer=peer, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no dead messages")
    for row in rows:
        typer.echo(f"{row['peer']} {_dead_line(row)}")


@app.command("requeue")
def requeue(
        message_ids: Annotated[Optional[list[str]], typer.Argument(help="Ids of dead messages",
                                                                   show_default=False)] = None,
        peer: Annotated[Optional[str], typer.Option("--peer", help="Every dead message to this region")] = None,
) -> None:
    """Send dead messages again (named ones, or all to a peer): due at once, with a fresh allowance.
    Each requeue is an audit event (actor system/cli)."""
    import uuid

    from eresident.audit.service import Actor
    from eresident.federation import service
    from eresident.kit.errors import Problem

    if bool(message_ids) == (peer is not None):
        _fail("give message ids, or --peer REGION (not both)", 2)
    ids = None
    if message_ids:
        try:
            ids = [uuid.UUID(value) for value in message_ids]
        except ValueError:
            _fail("a message id is a UUID", 2)
    ctx = _context()
    try:
        with ctx.database.session(write=True) as db:
            rows = service.requeue(ctx=ctx, db=db, actor=Actor("system", "cli", "eresident federation requeue"),
                                   message_ids=ids, peer=peer)
            requeued = [(str(row.id), row.peer_region, row.kind) for row in rows]
    except Problem as exc:
        _fail(exc.detail or exc.title)
    if not requeued:
        typer.echo(f"no dead messages to {peer}")
        return
    typer.echo(f"requeued {len(requeued)} message(s); the worker sends them within a second:")
    for message_id, region, kind in requeued:
        typer.echo(f"  {message_id} {kind} -> {region}")


@app.command("ping")
def ping(region: str, count: Annotated[int, typer.Option(min=1, max=10000)] = 1,
         echo: str = "ping") -> None:
    """Queue COUNT ping messages to REGION (the worker delivers them)."""
    from eresident.federation import service
    from eresident.kit.errors import Problem

    ctx = _context()
    try:
        with ctx.database.session(write=True) as db:
            ids = [service.enqueue(ctx=ctx, db=db, peer=region, kind="ping",
                                   payload={"echo": f"{echo} {n}" if count > 1 else echo}).id
                   for n in range(1, count + 1)]
    except Problem as exc:
        _fail(exc.detail or exc.title)
    typer.echo(f"queued {len(ids)} ping(s) to {region}: first {ids[0]}")


@app.command("deliver")
def deliver() -> None:
    """Deliver due messages now (what the worker does every second)."""
    from eresident.federation.service import deliver_due

    report = deliver_due(_context())
    typer.echo(f"delivered {report.delivered}, failed {report.failed}"
               + (f" ({report.dead} given up: `eresident federation dead`)" if report.dead else ""))
    for region, error in sorted(report.errors.items()):
        typer.echo(f"  {region}: {error}")


# --- cadre exchange ---------------------------------------------------------------------------

secondment_app = typer.Typer(help="Cadre exchange: officials seconded to and from other regions.",
                             no_args_is_help=True)
app.add_typer(secondment_app, name="secondment")
_OPERATOR = ("system", "cli", "eresident federation secondment")


def _secondment_do(action) -> None:
    """Run `action(ctx, db, actor)` in one transaction; a refusal prints its reason and changes nothing."""
    from eresident.audit.service import Actor
    from eresident.kit.errors import Problem

    ctx = _context()
    try:
        with ctx.database.session(write=True) as db:
            row = action(ctx, db, Actor(*_OPERATOR))
            typer.echo(f"{row.id} {row.status}")
    except Problem as exc:
        fields = "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
        _fail(fields or exc.detail or exc.title)


def _uuid(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        _fail(f"{value!r} is not a secondment id", 2)


@secondment_app.command("propose")
def secondment_propose(
        official: Annotated[str, typer.Argument(help="Username of one of this region's officials")],
        host: Annotated[str, typer.Option("--host", help="Host region code, e.g. TF")],
        start: Annotated[str, typer.Option("--start", help="Term start, ISO 8601 with zone")],
        end: Annotated[str, typer.Option("--end", help="Term end, ISO 8601 with zone")],
        role: Annotated[list[str], typer.Option("--role", help="A host role (repeat for several)")],
        department: Annotated[str, typer.Option("--department")],
        purpose: Annotated[str, typer.Option("--purpose")]) -> None:
    """Home: propose OFFICIAL for a term in HOST (sent by the worker as secondment.proposed)."""
    from eresident.federation import secondment
    from eresident.federation.keys import parse_time

    try:
        term_start, term_end = parse_time(start, "--start"), parse_time(end, "--end")
    except ValueError as exc:
        _fail(str(exc), 2)
    _secondment_do(lambda ctx, db, actor: secondment.propose(
        ctx=ctx, db=db, official_username=official, host_region=host, term_start=term_start, term_end=term_end,
        host_roles=role, department=department, purpose=purpose, actor=actor))


@secondment_app.command("accept")
def secondment_accept(secondment_id: str, note: str = "") -> None:
    """Host: accept a proposed secondment (the home learns it by secondment.accepted)."""
    from eresident.federation import secondment

    _secondment_do(lambda ctx, db, actor: secondment.accept(ctx=ctx, db=db, secondment_id=_uuid(secondment_id),
                                                            note=note, actor=actor))


@secondment_app.command("decline")
def secondment_decline(secondment_id: str, reason: Annotated[str, typer.Option("--reason")]) -> None:
    """Host: decline a proposed secondment, saying why."""
    from eresident.federation import secondment

    _secondment_do(lambda ctx, db, actor: secondment.decline(ctx=ctx, db=db, secondment_id=_uuid(secondment_id),
                                                             reason=reason, actor=actor))


@secondment_app.command("withdraw")
def secondment_withdraw(secondment_id: str, reason: Annotated[str, typer.Option("--reason")]) -> None:
    """Home: withdraw a secondment; the host ends the secondee's access when the message arrives."""
    from eresident.federation import secondment

    _secondment_do(lambda ctx, db, actor: secondment.withdraw(ctx=ctx, db=db, secondment_id=_uuid(secondment_id),
                                                              reason=reason, actor=actor))


@secondment_app.command("list")
def secondment_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Officials out and in: terms, departments, status, cases handled here while seconded."""
    from eresident.officials.secondees import overview

    ctx = _context()
    with ctx.database.session(write=False) as db:
        report = overview(ctx=ctx, db=db)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{ctx.region} out ({len(report['outgoing'])}):")
    for s in report["outgoing"]:
        typer.echo(f"  {s['id']}  {s['official']} -> {s['host_region']}  {s['term_start']} .. {s['term_end']}  "
                   f"{', '.join(s['host_roles'])}  {s['department']}  [{s['phase']}]")
    typer.echo(f"{ctx.region} in ({len(report['incoming'])}):")
    for s in report["incoming"]:
        h = s["handled"]
        typer.echo(f"  {s['id']}  {s['official']} from {s['home_region']}  {s['term_start']} .. {s['term_end']}  "
                   f"{', '.join(s['host_roles'])}  {s['department']}  [{s['phase']}]  "
                   f"cases {h['cases']}, actions {h['actions']}")
