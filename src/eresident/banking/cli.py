"""`eresident bank …`: the partner banks' pinned callback keys (DATA_DIR/bank-trust.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from eresident.config import Settings

app = typer.Typer(help="Partner banks.", no_args_is_help=True, add_completion=False)
trust_app = typer.Typer(help="The banks' pinned callback keys (DATA_DIR/bank-trust.json).", no_args_is_help=True)
app.add_typer(trust_app, name="trust")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _lines(keys) -> list[str]:
    from eresident.banking.trust import fingerprint

    return [f"  {k.kid}  SHA-256 {fingerprint(k.jwk)}  pinned {k.pinned_at}{'  REVOKED' if k.revoked else ''}"
            for k in keys]


@trust_app.command("add")
def trust_add(
        url: Annotated[str, typer.Argument(help="The bank's base URL (its keys are at URL/.well-known/bank-keys)")],
        from_file: Annotated[Optional[Path], typer.Option("--from-file",
                                                          help="The bank-keys document got out of band "
                                                               "instead of fetching it from URL")] = None,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask (fingerprints checked already)")] = False,
) -> None:
    """Pin a bank's published callback keys (fetched once, now) after confirming their fingerprints.
    Run again when the bank publishes a new key: the new key is added, the old ones stay pinned."""
    import httpx

    from eresident.banking import trust
    from eresident.banking.service import BANKS
    from eresident.kit.clock import Clock

    settings = Settings()
    try:
        document = json.loads(from_file.read_text()) if from_file else trust.fetch_bank_keys(url)
        code, keys = trust.parse_bank_keys(document)
        merged, change = trust.pin(trust.load_bank_trust(settings), code=code, base_url=url, keys=keys,
                                   now=Clock().now())
    except (httpx.HTTPError, OSError, ValueError) as exc:
        _fail(str(exc))
    if code not in BANKS:
        typer.echo(f"note: {code} is not a partner bank of this node (known: {', '.join(sorted(BANKS))})", err=True)
    if url.rstrip("/") != settings.bank_url.rstrip("/"):
        typer.echo(f"note: this node sends its requests to {settings.bank_url} (BANK_URL)", err=True)
    typer.echo(f"{'new bank' if change.is_new_bank else 'refresh'}: {code} {change.base_url}")
    if change.new_keys:
        typer.echo("keys to pin (compare these fingerprints with the bank's operator):")
        typer.echo("\n".join(_lines(change.new_keys)))
    for label, keys_ in (("already pinned", change.kept_keys),
                         ("pinned before, no longer published (still pinned; revoke-key to drop)",
                          change.unpublished_keys)):
        if keys_:
            typer.echo(f"{label}:")
            typer.echo("\n".join(_lines(keys_)))
    if not change.new_keys:
        typer.echo("nothing new to pin")
        return
    if not yes and not typer.confirm("Pin these keys?", default=False):
        _fail("nothing changed")
    trust.save_bank_trust(settings, merged)
    typer.echo(f"saved {trust.trust_path(settings)}")


@trust_app.command("show")
def trust_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the banks and their pinned keys."""
    from eresident.banking import trust

    settings = Settings()
    try:
        current = trust.load_bank_trust(settings)
    except trust.BankTrustError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(current.to_json(), indent=2))
        return
    if not current.banks:
        typer.echo(f"no bank keys pinned in {trust.trust_path(settings)}: every bank callback is refused")
    for bank in current.banks.values():
        typer.echo(f"{bank.code} {bank.base_url}")
        typer.echo("\n".join(_lines(bank.keys)))


@trust_app.command("revoke-key")
def trust_revoke_key(kid: str) -> None:
    """Stop accepting a bank key at once (callbacks signed with it are refused from now on)."""
    from eresident.banking import trust

    settings = Settings()
    try:
        trust.save_bank_trust(settings, trust.revoke(trust.load_bank_trust(settings), kid))
    except trust.BankTrustError as exc:
        _fail(str(exc))
    typer.echo(f"revoked {kid}")
