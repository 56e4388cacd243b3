"""An in-memory index of a region's trade names for the conflict check of a name declaration.

Blocks: the same trade name in the same industry, registered, reserved, or freed less than
a year ago. Warnings: the same trade name in another industry, and similar trade names, by
rapidfuzz WRatio on the syllables of the pinyin (one symbol per syllable, with the merges
Chongqing and Sichuan speakers make: in/ing, en/eng, z/zh, c/ch, s/sh, l/n). Characters that
match always sound alike, so that one score covers both; the score on the characters is
reported beside it. Candidates come from posting lists of syllable pairs, so a check never
scans all names: a full rapidfuzz scan of a million names takes seconds (MEASURED.md, trap 3).
"""

from __future__ import annotations

import random
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz, process

from eresident.enterprise.names import industries, to_simplified
from eresident.i18n import N_
from eresident.kit.errors import Message

__all__ = [
    "FREED",
    "REGISTERED",
    "RESERVED",
    "ConflictResult",
    "NameEntry",
    "NameIndex",
    "SimilarName",
    "THRESHOLD",
    "normalise_trade_name",
    "pinyin_keys",
    "synthetic_entries",
]

REGISTERED = "registered"
RESERVED = "reserved"
FREED = "freed"
_STATUSES = (REGISTERED, RESERVED, FREED)

# A similar name scores at least this: rapidfuzz WRatio (0-100) on the sound strings. One
# trade name inside another (星海 / 星海达) scores 90, and so does a name that sounds like one
# inside another (新海 / 星海达); 星海达 / 星海通达 scores 86; one syllable in five changed, 80.
# The index finds exactly what a full scan with this threshold finds (see _search); that
# needs a threshold of at least 85.
THRESHOLD = 85.0
MAX_WARNINGS = 20
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class NameEntry:
    """A name the region knows: registered, reserved (until reserved_until, if set) or
    freed at freed_at (a deregistered company's name stays blocked for a year)."""

    id: str
    trade_name: str
    full_name: str
    industry_code: str
    status: str = REGISTERED
    freed_at: datetime | None = None
    reserved_until: datetime | None = None

    def __post_init__(self) -> None:
        if not "".join(self.trade_name.split()):
            raise ValueError(f"entry {self.id}: empty trade name")
        if self.status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        if self.status == FREED and self.freed_at is None:
            raise ValueError("a freed name needs freed_at")
        for value in (self.freed_at, self.reserved_until):
            if value is not None and value.tzinfo is None:
                raise ValueError("datetimes must be timezone-aware (UTC)")

    def holds_until(self) -> float:
        """POSIX time until which the name counts in the conflict check."""
        if self.status == FREED:
            return _add_year(self.freed_at).timestamp()  # type: ignore[arg-type]
        if self.status == RESERVED and self.reserved_until is not None:
            return self.reserved_until.timestamp()
        return _INF


@dataclass(frozen=True, slots=True)
class SimilarName:
    """A known name that conflicts with or resembles the proposed one."""

    id: str
    trade_name: str
    full_name: str
    industry_code: str
    status: str
    same_industry: bool
    kind: str            # identical, homophone, near-homophone, similar
    score: float         # the ranking score: pinyin_score (identical: 100)
    char_score: float    # WRatio on the characters; never above pinyin_score
    pinyin_score: float  # WRatio on the sound strings
    reason: str
    reason_zh: str


@dataclass(frozen=True, slots=True)
class ConflictResult:
    trade_name: str       # the proposed trade name, normalised
    industry_code: str
    blocks: tuple[SimilarName, ...]
    warnings: tuple[SimilarName, ...]   # at most MAX_WARNINGS, best first
    similar_total: int                  # all similar names found, before the cut
    candidates: int                     # names scored (for diagnostics)

    @property
    def blocked(self) -> bool:
        return bool(self.blocks)


def _add_year(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + 1, day=28)


# --------------------------------------------------------------------------- text keys


def normalise_trade_name(text: str) -> str:
    """The comparable form of a trade name: no spaces, simplified characters, Latin lower case."""
    return to_simplified("".join(text.split())).lower()


_SYLLABLES: dict[str, tuple[str, str]] = {}   # character -> (toneless pinyin, symbol)
# merged syllable -> one private-use character, assigned in first-seen order: sound strings
# live only in this process's memory, never store them
_SYMBOLS: dict[str, str] = {}
_SYMBOL_LOCK = threading.Lock()
_FIRST_SYMBOL = 0xE000


def _merged_syllable(syllable: str) -> str:
    # Southwestern Mandarin (Chongqing, Sichuan) does not keep these apart, and elsewhere
    # they are the usual near-homophones.
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    elif syllable[:1] == "n" and len(syllable) > 1:
        syllable = "l" + syllable[1:]
    if syllable.endswith(("ing", "eng")):
        syllable = syllable[:-1]
    return syllable


def _syllable(char: str) -> tuple[str, str]:
    """(toneless pinyin of the most common reading, symbol of its merged syllable)."""
    cached = _SYLLABLES.get(char)
    if cached is None:
        exact = lazy_pinyin(char)[0].lower()
        if not exact.isalpha() or not exact.isascii() or exact == char:
            cached = (char, char)   # not a Chinese character: it stands for itself
        else:
            merged = _merged_syllable(exact)
            with _SYMBOL_LOCK:
                symbol = _SYMBOLS.get(merged)
                if symbol is None:
                    symbol = _SYMBOLS[merged] = chr(_FIRST_SYMBOL + len(_SYMBOLS))
                cached = _SYLLABLES.setdefault(char, (exact, symbol))
        _SYLLABLES[char] = cached
    return cached


def pinyin_keys(trade: str) -> tuple[str, str]:
    """(toneless pinyin with spaces, sound string: one symbol per merged syllable) of a
    normalised trade name. 星海 and 新海 have the same sound string, 星海 and 兴海 the same
    pinyin too."""
    pairs = [_syllable(c) for c in trade]
    return " ".join(p[0] for p in pairs), "".join(p[1] for p in pairs)


def _pairs(sound: str) -> set[str]:
    return {sound[i:i + 2] for i in range(len(sound) - 1)}


def _posting_keys(sound: str) -> set[str]:
    # A symbol pair and the name's length: the length decides how WRatio scores (see _search).
    length = chr(len(sound))
    return {pair + length for pair in _pairs(sound)}


# --------------------------------------------------------------------------- the index


class NameIndex:
    """Trade names of one region, with incremental add and remove (thread-safe)."""

    def __init__(self, entries: Iterable[NameEntry] = (), *, threshold: float = THRESHOLD,
                 max_warnings: int = MAX_WARNINGS) -> None:
        if not 85.0 <= threshold <= 100.0:
            raise ValueError("the threshold must be between 85 and 100 for the index to be exact")
        self.threshold = threshold
        self.max_warnings = max_warnings
        self._lock = threading.RLock()
        self._by_id: dict[str, int] = {}
        self._entries: list[NameEntry | None] = []
        self._trade: list[str] = []       # normalised trade name per slot
        self._industry: list[str] = []
        self._pinyin: list[str] = []
        self._sound: list[str] = []
        self._until = array("d")          # POSIX time until which the slot counts
        self._free: list[int] = []
        self._exact: dict[str, list[int]] = {}      # trade name -> slots
        self._by_sound: dict[str, list[int]] = {}   # sound string -> slots
        self._postings: dict[str, array] = {}       # symbol pair + length -> slots
        self._lengths: dict[int, int] = {}          # sound length -> how many names
        self.add_many(entries)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def get(self, entry_id: str) -> NameEntry | None:
        slot = self._by_id.get(entry_id)
        return None if slot is None else self._entries[slot]

    # ------------------------------------------------------------------ changes

    def add(self, entry: NameEntry) -> None:
        """Add a name, or replace the entry with the same id (e.g. reserved -> registered)."""
        self.add_many((entry,))

    def add_many(self, entries: Iterable[NameEntry]) -> int:
        count = 0
        with self._lock:
            for entry in entries:
                if entry.id in self._by_id:
                    self._remove(entry.id)
                self._add(entry)
                count += 1
        return count

    def remove(self, entry_id: str) -> bool:
        with self._lock:
            if entry_id not in self._by_id:
                return False
            self._remove(entry_id)
            return True

    def free(self, entry_id: str, freed_at: datetime) -> None:
        """A company is deregistered: its name keeps blocking for a year from freed_at."""
        with self._lock:
            entry = self.get(entry_id)
            if entry is None:
                raise KeyError(entry_id)
            self.add(NameEntry(entry.id, entry.trade_name, entry.full_name, entry.industry_code,
                               FREED, freed_at=freed_at))

    def purge(self, now: datetime) -> int:
        """Drop names that no longer count (freed over a year ago, lapsed reservations)."""
        cutoff = now.timestamp()
        with self._lock:
            stale = [e.id for e in self._entries if e is not None and e.holds_until() <= cutoff]
            for entry_id in stale:
                self._remove(entry_id)
        return len(stale)

    def _add(self, entry: NameEntry) -> None:
        trade = normalise_trade_name(entry.trade_name)
        pinyin, sound = pinyin_keys(trade)
        if self._free:
            slot = self._free.pop()
            self._entries[slot] = entry
            self._trade[slot] = trade
            self._industry[slot] = entry.industry_code
            self._pinyin[slot] = pinyin
            self._sound[slot] = sound
            self._until[slot] = entry.holds_until()
        else:
            slot = len(self._entries)
            self._entries.append(entry)
            self._trade.append(trade)
            self._industry.append(entry.industry_code)
            self._pinyin.append(pinyin)
            self._sound.append(sound)
            self._until.append(entry.holds_until())
        self._by_id[entry.id] = slot
        self._exact.setdefault(trade, []).append(slot)
        self._by_sound.setdefault(sound, []).append(slot)
        self._lengths[len(sound)] = self._lengths.get(len(sound), 0) + 1
        postings = self._postings
        for key in _posting_keys(sound):
            posting = postings.get(key)
            if posting is None:
                postings[key] = array("I", (slot,))
            else:
                posting.append(slot)

    def _remove(self, entry_id: str) -> None:
        slot = self._by_id.pop(entry_id)
        trade = self._trade[slot]
        same = self._exact[trade]
        same.remove(slot)
        if not same:
            del self._exact[trade]
        sound = self._sound[slot]
        same = self._by_sound[sound]
        same.remove(slot)
        if not same:
            del self._by_sound[sound]
        self._lengths[len(sound)] -= 1
        if not self._lengths[len(sound)]:
            del self._lengths[len(sound)]
        for key in _posting_keys(sound):
            posting = self._postings[key]
            posting.remove(slot)
            if not posting:
                del self._postings[key]
        self._entries[slot] = None
        self._trade[slot] = self._industry[slot] = self._pinyin[slot] = self._sound[slot] = ""
        self._until[slot] = -_INF
        self._free.append(slot)

    def _live(self, slot: int) -> NameEntry:
        entry = self._entries[slot]
        assert entry is not None  # a removed entry's slot has left every index that finds slots
        return entry

    # ------------------------------------------------------------------ the check

    def check(self, trade_name: str, industry_code: str, now: datetime, *,
              exclude_ids: Iterable[str] = ()) -> ConflictResult:
        """Conflicts of a proposed trade name in an industry at ``now`` (UTC-aware).

        ``exclude_ids``: names not to compare with (the applicant's own reservation).
        A one-character trade name (which the naming rules refuse) is compared only with
        identical names and one-character names.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")
        query = normalise_trade_name(trade_name)
        if not query:
            raise ValueError("empty trade name")
        q_pinyin, q_sound = pinyin_keys(query)
        now_ts = now.timestamp()
        with self._lock:
            identical = sorted(self._exact.get(query, ()))
            excluded = {self._by_id[i] for i in exclude_ids if i in self._by_id}
            skip = excluded.union(identical)
            buckets, scored = self._search(q_sound, skip)

            until, industry, pinyin = self._until, self._industry, self._pinyin
            blocks: list[SimilarName] = []
            others = []
            for slot in identical:
                if slot in excluded or until[slot] <= now_ts:
                    continue
                if industry[slot] == industry_code:
                    blocks.append(_similar(self._live(slot), True, "identical", 100.0, 100.0, 100.0))
                else:
                    others.append(slot)
            if others:
                buckets.setdefault(100.0, [])
            # Best score first; at one score the same industry first, then identical, homophone,
            # near-homophone; then the older name. Sort keys are built only while the top
            # warnings are not yet full: a common name can have thousands of similar ones.
            total = 0
            top: list[tuple[float, bool, int, int]] = []
            for score in sorted(buckets, reverse=True):
                active = [s for s in buckets[score] if until[s] > now_ts]
                total += len(active)
                if score == 100.0:
                    total += len(others)
                if len(top) >= self.max_warnings:
                    continue
                if score == 100.0:
                    keys = [(industry[s] != industry_code, 1 if pinyin[s] == q_pinyin else 2, s)
                            for s in active]
                    keys += [(True, 0, s) for s in others]
                else:
                    keys = [(industry[s] != industry_code, 3, s) for s in active]
                keys.sort()
                top += [(score, other, kind, s) for other, kind, s in keys[: self.max_warnings - len(top)]]
            trade = self._trade
            warnings = tuple(
                _similar(self._live(slot), not other, _KINDS[kind], score,
                         100.0 if kind == 0 else fuzz.WRatio(query, trade[slot]), score)
                for score, other, kind, slot in top)
        return ConflictResult(trade_name=query, industry_code=industry_code, blocks=tuple(blocks),
                              warnings=warnings, similar_total=total, candidates=scored)

    def _search(self, q: str, skip: set[int]) -> tuple[dict[float, list[int]], int]:
        """Every name whose sound string scores at least the threshold against ``q``, by score,
        without scanning all names. Returns ({score: slots}, names looked at).

        WRatio(q, c) depends on the length ratio r of the two strings (rapidfuzz's rules):
        r < 1.5: the plain ratio; 1.5 <= r <= 8: the larger of the ratio (at most 80 here) and
        0.9 * partial_ratio; r > 8: at most 60. So, with a threshold of 85 or more:
        - similar lengths: a plain ratio above 80 implies a shared symbol pair (every gap in
          the common subsequence costs a symbol), so the postings of q's pairs at each such
          length hold every hit; rapidfuzz scores them;
        - one string 1.5 to 8 times the other: for strings of up to 9 symbols a score of 85
          needs the shorter one inside the longer, and then the score is exactly 90: shorter
          names are looked up by the substrings of q, longer ones are the postings of a pair
          of q filtered by containment (for two symbols, the posting itself);
        - longer queries (10 symbols or more) are scored by rapidfuzz on the postings.
        """
        n = len(q)
        by_sound, postings, sound = self._by_sound, self._postings, self._sound
        buckets: dict[float, list[int]] = {}
        scored = 0
        if n == 1:
            hits = [s for s in by_sound.get(q, ()) if s not in skip]
            if hits:
                buckets[100.0] = hits
            return buckets, len(hits)
        pairs = _pairs(q)
        lengths = [m for m in self._lengths if max(m, n) / min(m, n) <= 8.0]
        ratio_zone: set[int] = set()
        partial_hits: list[int] = []
        long_query = n >= 10
        for m in lengths:
            length = chr(m)
            if long_query or max(m, n) / min(m, n) < 1.5:
                for pair in pairs:
                    posting = postings.get(pair + length)
                    if posting is not None:
                        ratio_zone.update(posting)
            elif self.threshold > 90.0:
                continue
            elif m < n:
                for sub in {q[i:i + m] for i in range(n - m + 1)}:
                    partial_hits.extend(by_sound.get(sub, ()))
            elif n == 2:
                partial_hits.extend(postings.get(q + length, ()))
            else:
                groups = [postings.get(pair + length) for pair in pairs]
                if all(g is not None for g in groups):
                    smallest = min(groups, key=len)  # type: ignore[arg-type]
                    scored += len(smallest)  # type: ignore[arg-type]
                    partial_hits.extend(s for s in smallest if q in sound[s])  # type: ignore[union-attr]
        if partial_hits:
            hits = [s for s in partial_hits if s not in skip]
            scored += len(partial_hits)
            if hits:
                buckets[90.0] = hits
        ratio_zone -= skip
        if ratio_zone:
            order = list(ratio_zone)
            scored += len(order)
            scorer = fuzz.WRatio if long_query else fuzz.ratio
            choices = [sound[s] for s in order]
            for _, score, index in process.extract(q, choices, scorer=scorer,
                                                   score_cutoff=self.threshold, limit=None):
                buckets.setdefault(float(score), []).append(order[index])
        return buckets, scored


_KINDS = ("identical", "homophone", "near-homophone", "similar")


_KIND_TEXT = {
    "identical": ("the same trade name", "字号相同"),
    "homophone": ("a trade name that sounds the same", "字号同音"),
    "near-homophone": ("a trade name that sounds almost the same", "字号音近"),
    "similar": ("a similar trade name", "字号近似"),
}
_STATUS_TEXT = {REGISTERED: (N_("registered"), "已登记"), RESERVED: (N_("reserved"), "已预留"),
                FREED: (N_("freed less than a year ago"), "注销未满一年")}


def _similar(entry: NameEntry, same_industry: bool, kind: str, score: float, char_score: float,
             pinyin_score: float) -> SimilarName:
    what, what_zh = _KIND_TEXT[kind]
    status, status_zh = _STATUS_TEXT[entry.status]
    industry = "in the same industry" if same_industry else "in another industry"
    industry_zh = "行业相同" if same_industry else "行业不同"
    if kind == "identical" and same_industry:
        reason: str = Message(N_("%(name)s (%(status)s) has the same trade name in the same industry; choose another "
                                 "trade name."), name=entry.full_name, status=Message(status))
        reason_zh = f"与{status_zh}的企业名称“{entry.full_name}”字号相同且行业相同，请另选字号。"
    else:
        reason = f"{entry.full_name} ({status}) has {what} {industry} (score {score:.0f})."
        reason_zh = f"与{status_zh}的企业名称“{entry.full_name}”{what_zh}，{industry_zh}（相似度 {score:.0f}）。"
    return SimilarName(id=entry.id, trade_name=entry.trade_name, full_name=entry.full_name,
                       industry_code=entry.industry_code, status=entry.status,
                       same_industry=same_industry, kind=kind, score=round(score, 1),
                       char_score=round(char_score, 1), pinyin_score=round(pinyin_score, 1),
                       reason=reason, reason_zh=reason_zh)


# --------------------------------------------------------------------------- synthetic data

# Characters that trade names use most (鑫, 华, 盛 …), roughly most frequent first.
TRADE_NAME_CHARS = (
    "鑫华盛恒泰达源兴诚信通宏博瑞嘉德隆丰和康顺荣昌万海金银天宇星辰龙凤祥福禄寿安平宁远明亮光辉"
    "晨阳春秋东南西北中新旺发成立建业伟志豪杰英才智慧聚合创联汇美佳丽雅致雅韵锦绣鼎正元亨利贞"
    "富贵宝玉珍晶石峰山川江河湖泉润泽清洁绿青蓝红紫白黑云雨雪霞虹彩烁耀腾飞翔鹏鹰骏驰速迅捷"
    "科技信息数据网络智能电子软件硬件工业实业商贸易物流运通达路桥城市乡村田园林木森竹梅兰菊松"
    "柏桂桃李杏橙果蔬粮食香味品优良精诚意心思想梦圆满乐欣悦喜庆吉祥如意鸿运久长永恒久远广大"
    "众合力同舟协和谐友邦家园居室家具装饰设计策划咨询管理服务文化传媒影视艺术音乐书画诗韵墨"
    "道德仁义礼智勇毅坚韧卓越非凡领先锐进取开拓创新超越尚品臻选汇聚融通启航远航扬帆破浪凌云"
    "九八七六五四三二一百千亿兆首尊御皇帝王君臣将帅师佑护卫守望朗逸宸熙睿哲铭航泓澜渝蜀巴川"
)


def synthetic_entries(count: int, *, seed: int = 4, now: datetime | None = None) -> list[NameEntry]:
    """Realistic made-up names for benchmarks, tests and demos: 2-4 common trade-name
    characters (Zipf-like frequencies), common industries, a few reserved and freed names."""
    rng = random.Random(seed)
    now = now or datetime(2026, 1, 1, tzinfo=UTC)
    chars = list(dict.fromkeys(TRADE_NAME_CHARS))
    char_weights = [1.0 / (rank + 8) ** 0.9 for rank in range(len(chars))]
    codes = [i.code for i in industries()]
    terms = {i.code: i.terms[0] for i in industries()}
    code_weights = [1.0 / (rank + 2) for rank in range(len(codes))]
    rng.shuffle(codes)
    lengths = rng.choices((2, 3, 4), weights=(60, 30, 10), k=count)
    picked_codes = rng.choices(codes, weights=code_weights, k=count)
    flat = rng.choices(chars, weights=char_weights, k=sum(lengths))
    entries = []
    position = 0
    for number, (length, code) in enumerate(zip(lengths, picked_codes, strict=True)):
        trade = "".join(flat[position:position + length])
        position += length
        roll = rng.random()
        if roll < 0.02:
            status, freed_at, until = RESERVED, None, now + timedelta(days=rng.randint(1, 30))
        elif roll < 0.03:
            status, freed_at, until = FREED, now - timedelta(days=rng.randint(1, 730)), None
        else:
            status, freed_at, until = REGISTERED, None, None
        division = "重庆两江" if number % 2 else "重庆"
        entries.append(NameEntry(f"n{number}", trade, f"{division}{trade}{terms[code]}有限公司", code,
                                 status, freed_at=freed_at, reserved_until=until))
    return entries
