"""The reasons a registrar may give for revoking a business licence (a data file a region may
extend: data/enterprise/revocation_reasons.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from eresident.enterprise.catalogue import DATA


@dataclass(frozen=True)
class RevocationReason:
    code: str
    zh: str
    en: str
    frees_name: bool = False


@lru_cache(maxsize=1)
def reasons() -> dict[str, RevocationReason]:
    """code -> reason, in the file's order."""
    data = yaml.safe_load((DATA / "revocation_reasons.yaml").read_text(encoding="utf-8"))
    return {r["code"]: RevocationReason(code=r["code"], zh=r["zh"], en=r["en"], frees_name=bool(r.get("frees_name")))
            for r in data["reasons"]}


def reason(code: str | None) -> RevocationReason | None:
    return reasons().get(code or "")
