"""GET /official/dashboard: the leadership dashboard (administrators and auditors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from eresident.dashboard.service import figures
from eresident.deps import Ctx, DbSession, require
from eresident.officials.models import Official
from eresident.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/official/dashboard")
def dashboard(request: Request, official: Annotated[Official, Depends(require("dashboard.read"))], ctx: Ctx,
              db: DbSession):
    from eresident.identity.service import STATUSES

    labels = {status: text for status, (text, _who) in STATUSES.items()}  # translated on the page
    return render(request, "dashboard.html", official=official, data=figures(db, ctx.region),
                  status_labels=labels)
