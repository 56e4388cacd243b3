"""`eresident signature …`: check a signature on the articles of association offline, as a third
party would, years later, without the node; and add a Chinese partner's signature to the articles."""

from __future__ import annotations

import json
import logging
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


@app.command("partner-sign")
def partner_sign(articles: Annotated[Path, typer.Argument(help="The articles (PDF) as downloaded from the invitation")],
                 key: Annotated[Path, typer.Option("--key", help="The company's private key (PEM, P-256)")],
                 cert: Annotated[Path, typer.Option("--cert", help="The company's organisation certificate (PEM)")],
                 out: Annotated[Path, typer.Option("--out", help="Where to write the signed PDF")],
                 chain: Annotated[Optional[list[Path]], typer.Option(
                     "--chain", help="CA certificates to embed (PEM); repeatable")] = None) -> None:
    """Add a Chinese partner's approval signature (PAdES) to the articles, without changing them: what
    a CA's signing client does with a company's certificate. For demos and for companies whose key
    is in a file; the node accepts any PAdES tool's signature. Exit 0, or 2 for an unreadable file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from eresident.crypto.pades import sign_approval
    from eresident.crypto.pki import load_root_certificates

    try:
        private = serialization.load_pem_private_key(key.read_bytes(), None)
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        extra = [c for path in chain or () for c in load_root_certificates(path.read_bytes())]
        pdf = articles.read_bytes()
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        typer.echo("error: the key is not an elliptic-curve key (P-256)", err=True)
        raise typer.Exit(2)
    out.write_bytes(sign_approval(pdf, private, certificate, extra, signing_time=datetime.now(UTC)))
    typer.echo(f"signed: {out}")


@app.command("partner-verify")
def partner_verify(signed: Annotated[Path, typer.Argument(help="The partner's signed articles (PDF)")],
                   articles: Annotated[Path, typer.Argument(help="The articles as the registry drew them up (PDF)")],
                   trust: Annotated[list[Path], typer.Option(
                       "--trust", help="A trusted CA root (PEM); repeatable")]) -> None:
    """Check a Chinese partner's signature offline, as a third party: the signed file is exactly the
    articles with one approval signature added, valid, by a certificate chaining to a --trust root.
    Prints the verdict as JSON on standard output; exit 0 valid, 1 invalid (naming the check), 2 an unreadable file."""
    from eresident.crypto.pades import verify_approval
    from eresident.crypto.pki import load_root_certificates

    try:
        roots = [c for path in trust for c in load_root_certificates(path.read_bytes())]
        data, original = signed.read_bytes(), articles.read_bytes()
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.getLogger("pyhanko").setLevel(logging.ERROR)  # the verdict says why; no tracebacks
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
    verdict = verify_approval(data, original, roots)
    typer.echo(json.dumps(verdict.as_dict(), indent=2, ensure_ascii=False))
    raise typer.Exit(0 if verdict.valid else 1)
