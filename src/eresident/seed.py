"""Demo data for `make run`: officials with known logins, one overseas service site per region,
the synthetic sanctions list, a demo Chinese partner company (with a stand-in CA) for joint
ventures, and (once both nodes run) a secondment from LJ to TF. Idempotent:
running it twice changes nothing."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from eresident.audit.service import Actor
from eresident.identity.models import ScreeningEntity
from eresident.identity.screening_store import SAMPLE_LIST, import_list
from eresident.kit.context import NodeContext
from eresident.officials import service as officials
from eresident.officials.models import Official
from eresident.sites import service as sites
from eresident.sites.models import ServiceSite

DEMO_PASSWORD = "demo-password-2026"

SITES = {
    "LJ": dict(code="MK-ALG", name="MK Space Algiers", city="Algiers", country="DZ",
               address="12 Rue Didouche Mourad, Algiers", timezone="Africa/Algiers",
               # Algeria's working week runs Sunday to Thursday.
               opening_hours={d: [["09:00", "12:30"], ["13:30", "17:00"]] for d in ("sun", "mon", "tue", "wed", "thu")},
               slot_minutes=30, capacity=2, modes=["in_person", "video"]),
    "TF": dict(code="MK-DXB", name="MK Space Dubai", city="Dubai", country="AE",
               address="Office 1204, Business Bay, Dubai", timezone="Asia/Dubai",
               opening_hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
               slot_minutes=30, capacity=2, modes=["in_person", "video"]),
}

DEMO_OFFICIALS = (("admin", "Administrator", ["admin", "auditor"]),
                  ("reviewer", "Reviewer Wang Fang", ["reviewer"]),
                  ("approver", "Approver Li Wei", ["approver"]),
                  ("agent", "Site agent Karim Benali", ["site_agent"]),
                  ("tax", "Tax officer Zhang Min", ["tax_officer"]),
                  ("registrar", "Registrar Chen Jie", ["registrar"]))


def demo_totp_secret(region: str, role: str) -> str:
    """Known, per-demo secrets so the printed instructions work; never used outside demo seeding."""
    digest = hashlib.sha256(f"eresident-demo:{region}:{role}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def seed_demo(ctx: NodeContext) -> list[dict]:
    region = ctx.region
    actor = Actor.system()
    created = []
    with ctx.database.session(write=True) as db:
        site = db.scalar(select(ServiceSite).where(ServiceSite.code == SITES.get(region, SITES["LJ"])["code"]))
        if site is None:
            site = ServiceSite(region=region, **SITES.get(region, {**SITES["LJ"], "code": f"MK-{region}"}))
            db.add(site)
            db.flush()
        for role_name, display, roles in DEMO_OFFICIALS:
            username = f"{region.lower()}-{role_name}"
            official = db.scalar(select(Official).where(Official.username == username))
            if official is None:
                official, _ = officials.create_official(
                    ctx=ctx, db=db, username=username, display_name=display, password=DEMO_PASSWORD,
                    roles=roles, actor=actor, totp_secret=demo_totp_secret(region, role_name))
                if "site_agent" in roles:
                    sites.assign_agent(ctx=ctx, db=db, site=site, official=official, actor=actor)
            created.append({"username": username, "roles": roles})
        if db.scalar(select(ScreeningEntity.id).limit(1)) is None:
            import_list(db=db, list_name="sample", path=SAMPLE_LIST, now=ctx.clock.now())
    return created


# --- a demo Chinese partner for joint ventures -------------------------------------------------

DEMO_PARTNERS = {"LJ": ("重庆山城贸易有限公司", "500112", 8101), "TF": ("成都锦城商贸有限公司", "510116", 8102)}
DEMO_PARTNER_DIR = "demo-partner"


def seed_demo_partner(settings) -> dict:
    """Demo only: a stand-in Chinese CA on the node's domestic trust list, and one Chinese company
    with its organisation key and certificate under DATA_DIR/demo-partner/, so that a joint venture
    can be tried end to end on `make run` (the founder names this company as the partner; its
    signature is made with `eresident signature partner-sign`). Idempotent."""
    import json

    from eresident.crypto.demo_ca import DemoCA, write_identity
    from eresident.enterprise import partners, uscc

    name, division, serial = DEMO_PARTNERS.get(settings.region, DEMO_PARTNERS["LJ"])
    directory = Path(settings.data_dir) / DEMO_PARTNER_DIR
    about = directory / "partner.json"
    if about.exists():
        return json.loads(about.read_text(encoding="utf-8"))
    ca = DemoCA.create()
    ca.save(directory)
    code = uscc.issue(division_code=division, serial=serial)
    key_path, cert_path = write_identity(directory, *ca.organisation(name, code))
    trust = partners.trust_dir(settings)
    trust.mkdir(parents=True, exist_ok=True)
    (trust / "demo-chinese-ca.pem").write_bytes(ca.root_pem())
    info = {"name": name, "uscc": code, "key": str(key_path), "certificate": str(cert_path),
            "ca_root": str(directory / "ca-root.pem")}
    about.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return info


# --- the demo secondment (`eresident up`) -------------------------------------------------------

DEMO_SECONDMENT: dict[str, Any] = dict(
    role="reviewer", host_roles=["reviewer"], days=90, department="Enterprise services",
    purpose="Demo secondment: reviews the host region's cases beside its own reviewers "
            "(the host's approver decides, so four eyes stay two people)")


def seed_demo_secondment(home: NodeContext, host: NodeContext, *, client=None, timeout: float = 30.0) -> dict:
    """Demo only: second the home region's demo reviewer to the host region for 90 days, proposed by
    the home and accepted by the host through the real federation messages (each node's worker
    would carry them too; here they are delivered at once). Idempotent: a proposed or accepted
    secondment of that official to that host whose term has not ended is reused, and only the
    steps it still lacks are done. Both nodes must trust each other. Returns what `up` prints."""
    import time

    from eresident.federation import secondment
    from eresident.federation.keys import iso
    from eresident.federation.service import deliver_due
    from eresident.officials.secondment_models import IncomingSecondment, OutgoingSecondment

    username = f"{home.region.lower()}-{DEMO_SECONDMENT['role']}"
    with home.database.session(write=True) as db:
        now = home.clock.now()
        official = db.scalar(select(Official).where(Official.username == username))
        if official is None:
            raise LookupError(f"{username} does not exist at {home.region}: run `eresident seed-demo` there first")
        row = db.scalar(select(OutgoingSecondment)
                        .where(OutgoingSecondment.official_id == official.id,
                               OutgoingSecondment.host_region == host.region,
                               OutgoingSecondment.status.in_(secondment.OPEN), OutgoingSecondment.term_end > now)
                        .order_by(OutgoingSecondment.proposed_at.desc()).limit(1))
        if row is None:
            start = now.replace(second=0, microsecond=0)
            row = secondment.propose(ctx=home, db=db, official_username=username, host_region=host.region,
                                     term_start=start, term_end=start + timedelta(days=DEMO_SECONDMENT["days"]),
                                     host_roles=list(DEMO_SECONDMENT["host_roles"]),
                                     department=DEMO_SECONDMENT["department"], purpose=DEMO_SECONDMENT["purpose"],
                                     actor=Actor.system())
        secondment_id, term_end = row.id, row.term_end

    def status_at(node: NodeContext, model) -> str | None:
        with node.database.session(write=False) as db:
            found = db.get(model, secondment_id)
            return found.status if found else None

    def settle(node: NodeContext, model, done) -> str | None:
        """Deliver `node`'s outbox (its worker may get there first) until the other side shows `done`."""
        deadline = time.monotonic() + timeout
        other = host if node is home else home
        while not done(status := status_at(other, model)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{other.region} did not get secondment {secondment_id} from {node.region} "
                                   f"within {timeout:.0f} s (see `eresident federation status` at {node.region})")
            if not deliver_due(node, client=client).delivered:
                time.sleep(0.2)  # nothing sent by this call: the worker has it, or the peer is not up yet
        return status

    # The proposal reaches the host; the host accepts it; the acceptance reaches the home.
    if settle(home, IncomingSecondment, lambda s: s is not None) == "proposed":
        with host.database.session(write=True) as db:
            secondment.accept(ctx=host, db=db, secondment_id=secondment_id, actor=Actor.system(),
                              note="Demo secondment, accepted by `eresident up`")
    status = settle(host, OutgoingSecondment, lambda s: s != "proposed")
    return {"secondment_id": str(secondment_id), "username": username, "host_username": f"{username}@{home.region}",
            "home_region": home.region, "host_region": host.region, "host_roles": list(DEMO_SECONDMENT["host_roles"]),
            "term_end": iso(term_end), "status": status}
