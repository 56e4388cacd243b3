"""The business-scope catalogue and the negative list for foreign investment (both data files,
both samples a region replaces), and the check of a chosen scope against them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "enterprise"


@dataclass(frozen=True)
class ScopeItem:
    code: str
    section: str
    kind: str  # general | licensed
    zh: str
    en: str


@dataclass(frozen=True)
class Measure:
    """One entry of the negative list: prohibited, or restricted with conditions."""

    id: str
    level: str  # prohibited | restricted
    codes: tuple[str, ...]
    zh: str
    en: str
    # Conditions on the company's structure that the formation check enforces (the rest of the
    # conditions text is for the registrar): only as a joint venture; foreign investors' share cap.
    joint_venture_only: bool = False
    max_foreign_share: Decimal | None = None


@dataclass(frozen=True)
class ScopeCheck:
    items: tuple[ScopeItem, ...]
    prohibited: tuple[tuple[int, ScopeItem, Measure], ...]  # (position in the request, item, measure)
    restricted: tuple[tuple[int, ScopeItem, Measure], ...]


@lru_cache(maxsize=1)
def catalogue() -> dict[str, ScopeItem]:
    data = yaml.safe_load((DATA / "business_scope.yaml").read_text(encoding="utf-8"))
    items = [ScopeItem(**item) for item in data["items"]]
    return {item.code: item for item in items}


@lru_cache(maxsize=1)
def negative_list() -> tuple[str, dict[str, Measure]]:
    """(version, code -> measure). A code listed as prohibited is never also restricted."""
    data = yaml.safe_load((DATA / "negative_list.yaml").read_text(encoding="utf-8"))
    by_code: dict[str, Measure] = {}
    for level in ("restricted", "prohibited"):  # prohibited wins if a code were in both
        for entry in data.get(level) or ():
            conditions = entry.get("conditions") or {}
            cap = conditions.get("max_foreign_share")
            measure = Measure(id=entry["id"], level=level, codes=tuple(entry["codes"]), zh=entry["zh"],
                              en=entry["en"], joint_venture_only=bool(conditions.get("joint_venture_only")),
                              max_foreign_share=Decimal(str(cap)) if cap is not None else None)
            for code in measure.codes:
                by_code[code] = measure
    return str(data.get("version", "")), by_code


def check_scope(codes: list[str]) -> ScopeCheck:
    """Look the codes up; raises KeyError(position) for an unknown code (the caller names it)."""
    cat = catalogue()
    _version, measures = negative_list()
    items: list[ScopeItem] = []
    prohibited: list[tuple[int, ScopeItem, Measure]] = []
    restricted: list[tuple[int, ScopeItem, Measure]] = []
    for position, code in enumerate(codes):
        item = cat.get(code)
        if item is None:
            raise KeyError(position)
        items.append(item)
        measure = measures.get(code)
        if measure is not None:
            (prohibited if measure.level == "prohibited" else restricted).append((position, item, measure))
    return ScopeCheck(tuple(items), tuple(prohibited), tuple(restricted))


def scope_text(items: tuple[ScopeItem, ...] | list[ScopeItem]) -> tuple[str, str]:
    """The business scope as a licence writes it, in Chinese and English."""
    general = [i for i in items if i.kind == "general"]
    licensed = [i for i in items if i.kind == "licensed"]
    zh_parts, en_parts = [], []
    if licensed:
        zh_parts.append("许可项目：" + "；".join(i.zh for i in licensed) + "（依法须经批准的项目，经相关部门批准后方可"
                        "开展经营活动）")
        en_parts.append("Licensed items: " + "; ".join(i.en for i in licensed) + " (only after approval by the "
                        "competent authorities)")
    if general:
        zh_parts.append("一般项目：" + "；".join(i.zh for i in general) + "（除依法须经批准的项目外，凭营业执照依法"
                        "自主开展经营活动）")
        en_parts.append("General items: " + "; ".join(i.en for i in general) + ".")
    return "".join(zh_parts), " ".join(en_parts)
