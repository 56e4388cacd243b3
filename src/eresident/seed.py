"""Demo data for `make run`: officials with known logins, one overseas service site per region,
and the synthetic sanctions list. Idempotent: running it twice changes nothing."""

from __future__ import annotations

import base64
import hashlib

from sqlalchemy import select

from eresident.audit.service import Actor
from eresident.identity.screening_store import SAMPLE_LIST, import_list
from eresident.identity.models import ScreeningEntity
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
                  ("tax", "Tax officer Zhang Min", ["tax_officer"]))


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
