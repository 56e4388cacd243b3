"""The `eresident` command: run nodes, migrate, administer, check MRZs, import lists, benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from eresident.config import REGIONS, Settings

app = typer.Typer(help="eresident: overseas electronic residency, one node per region.",
                  no_args_is_help=True, add_completion=False)
admin = typer.Typer(help="Administer officials.", no_args_is_help=True)
screening = typer.Typer(help="Sanctions lists.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(screening, name="screening")


uscc = typer.Typer(help="Unified Social Credit Codes (GB 32100-2015).", no_args_is_help=True)
app.add_typer(uscc, name="uscc")


@uscc.command("validate")
def uscc_validate(code: str) -> None:
    """Check any USCC (exit 0 valid, 1 invalid with the reason)."""
    from eresident.enterprise.uscc import main as uscc_main

    raise typer.Exit(uscc_main(code))


@app.command("verify")
def verify_file(file: Path,
                trust: Annotated[Optional[list[Path]], typer.Option("--trust", help="A region root (PEM) to "
                                                                     "trust; repeatable")] = None,
                status_list: Annotated[Optional[Path], typer.Option(
                    "--status-list", help="A saved copy of the issuing region's status list (the statuslist+jwt "
                                          "at the address the licence names, e.g. GET /status-lists/1): also say "
                                          "whether the licence is revoked")] = None,
                issuer_keys: Annotated[Optional[list[Path]], typer.Option(
                    "--issuer-keys", help="The issuing region's keys for its status list: a saved "
                                          "/.well-known/jwt-vc-issuer; repeatable (this node's own key and the "
                                          "federation trust list are used too)")] = None) -> None:
    """Check a licence PDF offline: its PAdES signature against the region roots (this node's
    DATA_DIR/keys/root-ca.pem, DATA_DIR/trust/*.pem and --trust files), and with --status-list
    whether it is revoked. Exit 0 genuine (and not revoked, if checked), 1 not genuine or revoked,
    2 no root, an unreadable file or unusable keys."""
    from datetime import UTC, datetime

    from eresident.crypto.pades import verify_pdf
    from eresident.crypto.pki import load_root_certificates
    from eresident.enterprise.offline import KeyFileError, licence_status, load_issuer_keys
    from eresident.enterprise.service import trust_roots

    settings = Settings()
    roots = trust_roots(settings)
    for path in trust or ():
        roots += load_root_certificates(path.read_bytes())
    if not roots:
        typer.echo("error: no trusted region root: pass --trust ROOT.pem", err=True)
        raise typer.Exit(2)
    try:
        data = file.read_bytes()
        token = status_list.read_text(encoding="ascii", errors="replace") if status_list else None
        keys = load_issuer_keys(settings, issuer_keys or ())
    except (OSError, KeyFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    verdict = verify_pdf(data, roots)
    report = {"genuine": verdict.valid, "uscc": verdict.uscc, "reason": verdict.reason, "detail": verdict.detail,
              "signer": verdict.signer_subject, "signing_time": verdict.as_dict()["signing_time"]}
    revoked = False
    if verdict.valid:
        status = licence_status(data, token, keys, now=datetime.now(UTC))
        revoked = status.get("status") == "revoked"
        report["current_status"] = status
        report["note"] = status["message"]
    typer.echo(json.dumps(report, indent=2), err=not verdict.valid or revoked)
    raise typer.Exit(0 if verdict.valid and not revoked else 1)


def _register_domain_commands() -> None:
    from eresident.audit.cli import app as audit_app
    from eresident.federation.cli import app as federation_app
    from eresident.workflow.cli import app as workflow_app

    app.add_typer(workflow_app, name="workflow")
    app.add_typer(audit_app, name="audit")
    app.add_typer(federation_app, name="federation")
    from eresident.banking.cli import app as bank_app

    app.add_typer(bank_app, name="bank")
    from eresident.enterprise.cli import app as signature_app

    app.add_typer(signature_app, name="signature")


_register_domain_commands()

DEMO_PORTS = {"LJ": 8001, "TF": 8002}


def _context(settings: Settings | None = None):
    from eresident.kit.context import build_context

    return build_context(settings or Settings())


@app.command()
def migrate() -> None:
    """Upgrade the node's database to the newest schema."""
    from eresident.kit.migrate import upgrade

    settings = Settings()
    if settings.is_sqlite:
        Path(settings.database_url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    typer.echo(f"migrated {settings.region}")


SANDBOX_BANK_PORT = 8009


@app.command("sandbox-bank")
def sandbox_bank(host: str = "127.0.0.1", port: int = SANDBOX_BANK_PORT) -> None:
    """Run the sandbox partner bank (own SQLite database and key under SANDBOX_BANK_DATA_DIR)."""
    import uvicorn

    uvicorn.run("eresident.banking.sandbox:app_from_env", factory=True, host=host, port=port,
                log_level="warning", access_log=False)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8001, workers: int = 1) -> None:
    """Serve this node (settings from ERESIDENT_* variables)."""
    import uvicorn

    uvicorn.run("eresident.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


@app.command()
def worker() -> None:
    """Run the node's periodic jobs (escalations, audit checkpoints) until stopped."""
    import threading

    from eresident.kit.jobs import run_forever
    from eresident.kit.logging import configure

    settings = Settings()
    configure(settings.log_level, settings.log_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_forever(_context(settings), stop)
    except KeyboardInterrupt:
        stop.set()


@app.command("seed-demo")
def seed_demo_cmd() -> None:
    """Create demo officials, the region's service site and the sample sanctions list."""
    from eresident.seed import seed_demo, seed_demo_partner

    ctx = _context()
    for row in seed_demo(ctx):
        typer.echo(f"{row['username']}: {', '.join(row['roles'])}")
    partner = seed_demo_partner(ctx.settings)
    typer.echo(f"demo Chinese partner: {partner['name']} (USCC {partner['uscc']}), certificate {partner['certificate']}")


def node_env(region: str, root: Path) -> dict[str, str]:
    data = root / region
    return {**os.environ, "ERESIDENT_REGION": region, "ERESIDENT_DATA_DIR": str(data),
            "ERESIDENT_DATABASE_URL": f"sqlite:///{data / 'eresident.db'}",
            "ERESIDENT_BASE_URL": f"http://127.0.0.1:{DEMO_PORTS[region]}", "ERESIDENT_DEMO": "true"}


def demo_settings(region: str, root: Path) -> Settings:
    """The settings `node_env` gives a demo node's processes, for acting on that node from here."""
    data = root / region
    return Settings(region=region, data_dir=data, database_url=f"sqlite:///{data / 'eresident.db'}",
                    base_url=f"http://127.0.0.1:{DEMO_PORTS[region]}", demo=True)


@app.command()
def up(var: Path = Path("var")) -> None:
    """Migrate, seed and start both region nodes on SQLite under var/ (what `make run` does), introduce
    them to each other and second LJ's demo reviewer to TF."""
    from eresident.seed import DEMO_OFFICIALS, DEMO_PASSWORD

    procs = []
    for region in DEMO_PORTS:
        env = node_env(region, var.resolve())
        for step in (["migrate"], ["seed-demo"]):
            subprocess.run([sys.executable, "-m", "eresident", *step], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        procs.append(subprocess.Popen([sys.executable, "-m", "eresident", "serve", "--port",
                                       str(DEMO_PORTS[region])], env=env))
        procs.append(subprocess.Popen([sys.executable, "-m", "eresident", "worker"], env=env))
    bank_env = {**os.environ, "ERESIDENT_SANDBOX_BANK_DATA_DIR": str(var.resolve() / "bank"),
                "ERESIDENT_SANDBOX_BANK_CLIENTS": ",".join(f"http://127.0.0.1:{p}" for p in DEMO_PORTS.values())}
    procs.append(subprocess.Popen([sys.executable, "-m", "eresident", "sandbox-bank", "--port",
                                   str(SANDBOX_BANK_PORT)], env=bank_env))
    introduced = _introduce_demo_nodes(var)
    _pin_sandbox_bank(var)
    seconded = _seed_demo_secondment(var) if introduced else None
    lines = ["", "eresident is running:"]
    for region, port in DEMO_PORTS.items():
        lines.append(f"  {REGIONS[region][0]} ({region}): http://127.0.0.1:{port}/   API: http://127.0.0.1:{port}/docs")
    lines.append(f"  Sandbox partner bank: http://127.0.0.1:{SANDBOX_BANK_PORT}/docs   (admin token 'sandbox-admin')")
    lines += ["", f"Demo officials (password '{DEMO_PASSWORD}', second factor: run the command shown):"]
    for region in DEMO_PORTS:
        for role, _name, roles in DEMO_OFFICIALS:
            user = f"{region.lower()}-{role}"
            lines.append(f"  {user:<14} {', '.join(roles):<20} code: "
                         f"ERESIDENT_DATA_DIR=var/{region} ERESIDENT_DATABASE_URL=sqlite:///var/{region}/eresident.db "
                         f".venv/bin/eresident admin totp {user}")
    lines += secondee_lines(seconded)
    lines += partner_lines(var)
    lines += ["", "Applicants sign up on the start page; on this demo node the confirmation link is shown "
              "on the page (no mail server).", "Press Ctrl-C to stop."]
    typer.echo("\n".join(lines))

    def stop(*_):
        """Every child ends: asked first, killed if it has not ended within ten seconds (one slow
        job must not leave the others running, as it once left a worker behind)."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        raise typer.Exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
    stop()


def partner_lines(var: Path) -> list[str]:
    """What `up` prints about the demo Chinese partner of each region (seed.seed_demo_partner)."""
    import json

    from eresident.seed import DEMO_PARTNER_DIR

    lines = []
    for region in DEMO_PORTS:
        about = var / region / DEMO_PARTNER_DIR / "partner.json"
        if about.exists():
            info = json.loads(about.read_text(encoding="utf-8"))
            folder = f"var/{region}/{DEMO_PARTNER_DIR}"
            lines.append(f"  {region}: {info['name']}, USCC {info['uscc']}: .venv/bin/eresident signature "
                         f"partner-sign ARTICLES.pdf --key {folder}/partner-key.pem --cert {folder}/partner-cert.pem "
                         f"--chain {folder}/ca-root.pem --out SIGNED.pdf")
    if lines:
        lines = ["", "Demo Chinese partner companies for a joint venture (their CA is a demo, trusted only by the "
                     "demo nodes); sign the articles they are sent with:"] + lines
    return lines


def secondee_lines(seconded: dict | None) -> list[str]:
    """What `up` prints about the demo secondment: who serves where, and how they sign in at the host."""
    if not seconded:
        return []
    home, host = seconded["home_region"], seconded["host_region"]
    home_url, host_url = (f"http://127.0.0.1:{DEMO_PORTS[r]}" for r in (home, host))
    return ["", f"Demo secondment: {seconded['username']} ({REGIONS[home][0]}) serves in {REGIONS[host][0]} as "
                f"{', '.join(seconded['host_roles'])} until {seconded['term_end']} ({seconded['status']}).",
            f"  It signs in at {host} with a credential from home, not with a password:",
            f"  1. sign in at {home_url}/official/login as {seconded['username']} (password and code as above);",
            f"  2. open {home_url}/official/secondments and get a sign-in credential (five minutes, works once);",
            f"  3. paste it at {host_url}/official/secondee-login: you are {seconded['host_username']} in "
            f"{host}'s worklists."]


def _seed_demo_secondment(var: Path) -> dict | None:
    """Demo only: LJ's reviewer seconded to TF (seed.seed_demo_secondment); the nodes run either way."""
    from eresident.seed import seed_demo_secondment

    nodes = []
    try:
        nodes += [_context(demo_settings(region, var.resolve())) for region in ("LJ", "TF")]
        return seed_demo_secondment(*nodes)
    except Exception as exc:  # noqa: BLE001 - the demo is up already: say what is missing and carry on
        typer.echo(f"warning: the demo secondment was not seeded ({type(exc).__name__}: {exc})", err=True)
        return None
    finally:
        for node in nodes:
            node.database.dispose()


def _introduce_demo_nodes(var: Path) -> bool:
    """Demo only: once both nodes answer, each adds the other to its trust list from its published
    node-keys document (in production an operator does this out of band and checks fingerprints).
    Returns whether both nodes answered and now trust each other."""
    import httpx

    deadline = time.monotonic() + 60
    for port in DEMO_PORTS.values():
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                typer.echo(f"warning: the node on port {port} did not start; the regions do not trust each other yet",
                           err=True)
                return False
            time.sleep(0.3)
    trusted = True
    for region in DEMO_PORTS:
        for peer, port in DEMO_PORTS.items():
            if peer != region:
                done = subprocess.run([sys.executable, "-m", "eresident", "federation", "trust", "add", "--from-url",
                                       f"http://127.0.0.1:{port}", "--yes"], env=node_env(region, var.resolve()),
                                      check=False, stdout=subprocess.DEVNULL)
                trusted = trusted and done.returncode == 0
    return trusted


def _pin_sandbox_bank(var: Path) -> None:
    """Demo only: once the sandbox bank answers, each node pins its published callback key (in
    production an operator runs `eresident bank trust add URL` and compares the fingerprints)."""
    import httpx

    url = f"http://127.0.0.1:{SANDBOX_BANK_PORT}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            typer.echo("warning: the sandbox bank did not start; its callbacks are refused until "
                       f"`eresident bank trust add {url}` is run for each node", err=True)
            return
        time.sleep(0.3)
    for region in DEMO_PORTS:
        subprocess.run([sys.executable, "-m", "eresident", "bank", "trust", "add", url, "--yes"],
                       env=node_env(region, var.resolve()), check=False, stdout=subprocess.DEVNULL)


@admin.command("create-official")
def create_official(username: str, name: Annotated[str, typer.Option("--name")],
                    role: Annotated[list[str], typer.Option("--role")],
                    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                                          confirmation_prompt=True)]) -> None:
    """Create an official with roles in this region; prints the TOTP enrolment URI."""
    from eresident.audit.service import Actor
    from eresident.kit.errors import Problem
    from eresident.officials import service
    from eresident.security.totp import provisioning_uri

    ctx = _context()
    try:
        with ctx.database.session(write=True) as db:
            _official, secret = service.create_official(ctx=ctx, db=db, username=username, display_name=name,
                                                        password=password, roles=role,
                                                        actor=Actor("system", "cli", "eresident admin"))
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {username}; enrol this in an authenticator app:\n"
               f"{provisioning_uri(secret, username=username, issuer=f'eresident {ctx.region}')}")


@admin.command("grant-role")
def grant_role(username: str, role: str) -> None:
    """Grant a role in this region to an official."""
    from eresident.audit.service import Actor
    from eresident.kit.errors import Problem
    from eresident.officials import service

    ctx = _context()
    try:
        with ctx.database.session(write=True) as db:
            official = service.by_username(db, username)
            service.grant_role(ctx=ctx, db=db, official=official, role=role,
                               actor=Actor("system", "cli", "eresident admin"))
    except Problem as exc:
        typer.echo(f"error: {exc.detail or exc.title}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{username} now holds {role} in {ctx.region}")


@admin.command("totp")
def totp_code(username: str) -> None:
    """Print an official's current TOTP code (for demo nodes and operators holding the secret)."""
    from eresident.officials import service
    from eresident.security.totp import current_code

    from eresident.kit.errors import Problem

    ctx = _context()
    try:
        with ctx.database.session(write=False) as db:
            official = service.by_username(db, username)
            typer.echo(current_code(service.totp_secret(ctx, official), ctx.clock.now()))
    except Problem:
        typer.echo(f"error: there is no official named {username!r} in region {ctx.region}", err=True)
        raise typer.Exit(1) from None


@app.command()
def mrz(lines: Annotated[list[str], typer.Argument(help="Two or three MRZ lines")]) -> None:
    """Parse and check a passport or ID card MRZ (ICAO Doc 9303); exit 1 naming the failing check."""
    from datetime import date

    from eresident.identity.mrz import MRZError, parse_mrz

    try:
        parsed = parse_mrz(lines, today=date.today())
    except MRZError as exc:
        typer.echo(json.dumps({"valid": False, "field": exc.field, "check": exc.check,
                               "message": exc.message}), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"valid": True, **parsed.to_dict()}, indent=2))


@screening.command("import")
def screening_import(file: Path, list_name: Annotated[str, typer.Option("--list")] = "default") -> None:
    """Load a sanctions list in FollowTheMoney JSON lines (replaces the list of that name)."""
    from eresident.identity.screening_store import ScreeningListError, import_list

    ctx = _context()
    try:
        with ctx.database.session(write=True) as db:
            count = import_list(db=db, list_name=list_name, path=file, now=ctx.clock.now())
    except ScreeningListError as exc:
        typer.echo(f"error: line {exc.line}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"imported {count} entities into list {list_name!r}")


@app.command()
def bench(name: str, seconds: float = 10.0, clients: int = 32,
          postgres: Optional[str] = typer.Option(None, envvar="ERESIDENT_BENCH_POSTGRES_URL")) -> None:
    """Run a benchmark from benchmarks/ (e.g. `eresident bench residency`)."""
    import runpy

    script = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    if not script.exists():
        typer.echo(f"no benchmark named {name!r} in {script.parent}", err=True)
        raise typer.Exit(2)
    sys.argv = [str(script), "--seconds", str(seconds), "--clients", str(clients)] + (
        ["--postgres", postgres] if postgres else [])
    runpy.run_path(str(script), run_name="__main__")


def main() -> None:
    app()
