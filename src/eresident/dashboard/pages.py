"""GET /official/dashboard: the leadership dashboard (administrators and auditors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from eresident.config import REGIONS
from eresident.dashboard.service import dashboard as dashboard_view
from eresident.deps import Ctx, DbSession, require
from eresident.kit.context import NodeContext
from eresident.kit.errors import Problem
from eresident.officials.models import Official
from eresident.pages import language_of, render

router = APIRouter(include_in_schema=False)


def region_names(ctx: NodeContext, lang: str) -> dict[str, str]:
    """Region code -> name in the page's language: the known regions in Chinese or English, any
    other peer by the name its trust-list entry gives."""
    from eresident.federation.service import trust_list

    names = {}
    try:
        names = {code: peer.name for code, peer in trust_list(ctx).peers.items()}
    except Problem:  # the trust list cannot be read: the codes stand in for the names
        pass
    for code, (english, chinese, _division) in REGIONS.items():
        names[code] = chinese if lang == "zh" else english
    return names


@router.get("/official/dashboard")
def dashboard(request: Request, official: Annotated[Official, Depends(require("dashboard.read"))], ctx: Ctx,
              db: DbSession):
    data = dashboard_view(ctx, db, names=region_names(ctx, language_of(request)))
    return render(request, "dashboard.html", official=official, data=data)
