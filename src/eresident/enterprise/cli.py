"""`eresident signature …`: check a signature on the articles of association offline, as a third
party would, years later, without the node."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from eresident.config import Settings

app = typer.Typer(help="Signatures on the articles of association.", no_args_is_help=True, add_completion=False)


@app.command("verify")
def verify(articles: Annotated[Path, typer.Argument(help="The articles of association (PDF) that were signed")],
           signature: Annotated[Path, typer.Argument(help="The signer's compact JWS (the signature record's jws)")],
           credential: Annotated[Path, typer.Argument(help="The signer's e-residency credential (SD-JWT VC)")],
           trust: Annotated[Optional[list[Path]], typer.Option(
               "--trust", help="The issuing region's keys: a saved JWKS, a saved /.well-known/jwt-vc-issuer or a "
                               "federation trust list (trust.json); repeatable. This node's own key and trust list "
                               "are used too")] = None,
           status_list: Annotated[Optional[Path], typer.Option(
               "--status-list", help="A saved copy of the status list the credential names (GET /status-lists/1): "
                                     "also check that the credential is not revoked or suspended")] = None) -> None:
    """Check a signature made with the signer's own key: the credential's issuer signature with the
    region's published key, the JWS with the credential's holder key (cnf.jwk), the articles' SHA-256
    against the PDF, and with --status-list the credential's status. Exit 0 valid, 1 invalid (the
    report names the failing check), 2 an unreadable file or no usable keys."""
    from eresident.enterprise.holder_signatures import TrustFileError, load_trust_file, verify_offline
    from eresident.enterprise.offline import KeyFileError, load_issuer_keys

    settings = Settings()
    try:
        keys: dict[str, list[dict]] = {issuer: list(found) for issuer, found in
                                       load_issuer_keys(settings).keys.items()}
        for path in trust or ():
            for issuer, found in load_trust_file(path).items():
                keys.setdefault(issuer, []).extend(found)
        pdf = articles.read_bytes()
        token = signature.read_text(encoding="ascii")
        sd_jwt = credential.read_text(encoding="ascii")
        saved = status_list.read_text(encoding="ascii") if status_list else None
    except (OSError, UnicodeDecodeError, KeyFileError, TrustFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not any(keys.values()):
        typer.echo("error: no key of any region to check the credential with: pass --trust", err=True)
        raise typer.Exit(2)
    report = verify_offline(pdf=pdf, token=token, credential=sd_jwt, keys=keys, status_token=saved,
                            now=datetime.now(UTC))
    typer.echo(json.dumps(report, indent=2), err=not report["valid"])
    raise typer.Exit(0 if report["valid"] else 1)
