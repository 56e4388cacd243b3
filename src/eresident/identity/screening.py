"""Sanctions-list screening of applicants by name and date of birth.

The list is read in the FollowTheMoney (FtM) entity shape that OpenSanctions
exports: one JSON object per line with ``id``, ``schema``, ``caption`` and a
``properties`` mapping of lists of strings.  Only ``Person`` entities are kept.

A hit never decides anything on its own.  It sends the application to a
person, who sees every hit with its score and the reasons behind it, so each
``Hit`` carries plain-English ``reasons``.

How a screen works
------------------
1. Every name, on the list and from the applicant, is normalised: transliterated
   to Latin with ``anyascii`` (a Chinese or Korean name written as one run of
   characters becomes "Surname Givenname", the way passports write it),
   casefolded, apostrophes dropped, everything that is not a letter or digit
   turned into a space, the Arabic article joined to its word ("al Farzani" ->
   "alfarzani").  Word order is ignored by the scorer, so the MRZ-style
   "PETROV<<IVAN" finds the list name "Ivan Petrov".
2. Candidates come from a two-level inverted index: distinct list tokens are
   found by the word itself, by shared character 3-grams (small spelling
   variants), by a vowel-folded spelling key (Mohammed / Muhammad / Mohamed)
   and by a consonant skeleton (vowel-less Arabic transliterations such as
   ``mhmd``); each token lists the names it occurs in.  Posting lists are read
   rarest first within a budget, so common parts ("al", "ivan") stay cheap.
3. At most ``MAX_CANDIDATES`` names per query name are scored with rapidfuzz
   (see ``_name_similarity``), then adjusted for date of birth, nationality
   and weak aliases (see ``ScreeningIndex.screen``).
"""

from __future__ import annotations

import gc
import gzip
import json
import re
import unicodedata
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from anyascii import anyascii
from rapidfuzz import fuzz

__all__ = [
    "SAMPLE_LIST_PATH",
    "Hit",
    "ListEntity",
    "ScreeningIndex",
    "ScreeningListError",
    "load_ftm_file",
    "normalise_name",
    "parse_ftm",
]

SAMPLE_LIST_PATH = Path(__file__).resolve().parent.parent / "data" / "screening" / "sample.ftm.jsonl"

#: FtM schemas kept for person screening.
PERSON_SCHEMAS = frozenset({"Person"})

# Scoring constants (points on the 0..100 scale).
WEAK_ALIAS_PENALTY = 10.0
EXTRA_TOKEN_PENALTY = 5.0  # per name part one side has and the other lacks
SKELETON_FACTOR = 0.92  # consonant-only comparison is weaker evidence
DOB_EXACT = 8.0
DOB_YEAR_MONTH = 5.0
DOB_YEAR = 3.0
DOB_TRANSPOSED = 3.0
DOB_SAME_YEAR_OTHER_DAY = -3.0
DOB_YEAR_MONTH_OTHER = -3.0
DOB_OFF_BY_ONE_YEAR = -8.0
DOB_CONTRADICTS = -25.0
NATIONALITY_MATCH = 2.0
MAX_BONUS = DOB_EXACT + NATIONALITY_MATCH
#: Birth-date and nationality bonuses only apply from this name score up:
#: sharing a birthday does not make "Matthias Mueller" look like "Matthias Grunewalder".
BONUS_MIN_NAME_SCORE = 80.0

# Candidate generation.
MAX_CANDIDATES = 150  # names scored per query name
MAX_SIMILAR_TOKENS = 40  # list tokens taken per query token from the 3-grams
MIN_GRAM_SHARE = 0.5  # share of a query token's 3-grams a list token must have
MIN_QUERY_GRAMS = 3  # 3-grams always used per query token, however common
GRAM_BUDGET = 8_000  # token postings read per query token
NAME_POSTINGS_BUDGET = 30_000  # name postings read per query name
NAME_CACHE_SIZE = 50_000  # prepared list names kept between screens


# --------------------------------------------------------------------------
# List entities and parsing
# --------------------------------------------------------------------------


class ScreeningListError(ValueError):
    """A sanctions list line (or array item) could not be read."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class ListEntity:
    entity_id: str
    schema: str
    caption: str
    names: tuple[str, ...]  # name + alias
    weak_aliases: tuple[str, ...]
    birth_dates: tuple[str, ...]  # ISO partials: "1970", "1970-01", "1970-01-02"
    nationalities: tuple[str, ...]  # lowercase ISO alpha-2
    datasets: tuple[str, ...]


_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def _unique(values: Iterable[str], exclude: Iterable[str] = ()) -> tuple[str, ...]:
    seen = {v.casefold() for v in exclude}
    out: list[str] = []
    for v in values:
        key = v.casefold()
        if key not in seen:
            seen.add(key)
            out.append(v)
    return tuple(out)


def _clean_date(value: str) -> str | None:
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    year, month, day = m.groups()
    if month is None:
        return year
    if not 1 <= int(month) <= 12:
        return year
    if day is None:
        return f"{year}-{month}"
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return f"{year}-{month}"
    return f"{year}-{month}-{day}"


def _entity_from_dict(data: Any, line: int) -> ListEntity | None:
    if not isinstance(data, dict):
        raise ScreeningListError(line, "expected a JSON object")
    entity_id = data.get("id")
    schema = data.get("schema")
    if not isinstance(entity_id, str) or not entity_id.strip():
        raise ScreeningListError(line, "entity has no 'id'")
    if not isinstance(schema, str) or not schema.strip():
        raise ScreeningListError(line, f"entity {entity_id!r} has no 'schema'")
    if schema not in PERSON_SCHEMAS:
        return None
    props = data.get("properties") or {}
    if not isinstance(props, dict):
        raise ScreeningListError(line, f"entity {entity_id!r}: 'properties' is not an object")

    names = _strings(props.get("name")) + _strings(props.get("alias"))
    if not names:
        parts = [
            " ".join(_strings(props.get(key)))
            for key in ("firstName", "secondName", "middleName", "fatherName", "lastName")
        ]
        built = " ".join(p for p in parts if p)
        if built:
            names.append(built)
    caption = data.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        caption = names[0] if names else entity_id
    caption = caption.strip()
    if not names and caption != entity_id:
        names.append(caption)
    strong = _unique(names)
    weak = _unique(_strings(props.get("weakAlias")), exclude=strong)

    dates = []
    for raw in _strings(props.get("birthDate")):
        cleaned = _clean_date(raw)
        if cleaned:
            dates.append(cleaned)
    nationalities = [
        v.casefold() for v in _strings(props.get("nationality")) + _strings(props.get("citizenship"))
    ]
    return ListEntity(
        entity_id=entity_id.strip(),
        schema=schema,
        caption=caption,
        names=strong,
        weak_aliases=weak,
        birth_dates=_unique(dates),
        nationalities=_unique(nationalities),
        datasets=_unique(_strings(data.get("datasets"))),
    )


def parse_ftm(lines: Iterable[str | bytes]) -> Iterator[ListEntity]:
    """Yield the Person entities of FtM JSON lines (one object per line).

    Blank lines are skipped; entities of other schemas are read (so their
    syntax is checked) but not yielded.  Raises ``ScreeningListError`` with the
    1-based line number on malformed JSON or an entity without id/schema.
    """
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ScreeningListError(line_no, f"not valid UTF-8: {exc.reason}") from None
        text = raw.strip().lstrip("\ufeff")
        if not text:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScreeningListError(line_no, f"malformed JSON: {exc.msg} (column {exc.colno})") from None
        entity = _entity_from_dict(data, line_no)
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            if data["id"] in seen:  # a list that repeats an id is ambiguous: refuse it whole
                raise ScreeningListError(line_no, f"entity id {data['id']!r} appears again "
                                                  f"(first on line {seen[data['id']]})")
            seen[data["id"]] = line_no
        if entity is not None:
            yield entity


def load_ftm_file(path: str | Path) -> list[ListEntity]:
    """Read an FtM list file: JSON lines, or one JSON array of entities.

    ``.gz`` files are decompressed.  For an array the error "line" is the
    1-based position of the offending item.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScreeningListError(line, f"not valid UTF-8: {exc.reason}") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScreeningListError(exc.lineno, f"malformed JSON array: {exc.msg}") from None
        entities = []
        seen: dict[str, int] = {}
        for position, item in enumerate(items, start=1):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                if item["id"] in seen:
                    raise ScreeningListError(position, f"entity id {item['id']!r} appears again "
                                                       f"(first at item {seen[item['id']]})")
                seen[item["id"]] = position
            entity = _entity_from_dict(item, position)
            if entity is not None:
                entities.append(entity)
        return entities
    return list(parse_ftm(text.splitlines()))


# --------------------------------------------------------------------------
# Name normalisation
# --------------------------------------------------------------------------

_CJK_RUN_RE = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002ebef]+"
)
_ABJAD_RE = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_APOSTROPHE_RE = re.compile("['`\u2018\u2019\u02bb\u02bc\u00b4]")
_NON_ALNUM_RE = re.compile(r"[^0-9a-z]+")
_COMPOUND_SURNAMES = frozenset(
    "欧阳 歐陽 司马 司馬 诸葛 諸葛 上官 东方 東方 皇甫 尉迟 尉遲 公孙 公孫 慕容 长孙 長孫 "
    "宇文 司徒 夏侯 令狐 轩辕 軒轅 端木 西门 西門 南宫 南宮 独孤 獨孤 澹台 澹臺 百里 呼延".split()
)
_FOLD_SUBS = (("dzh", "j"), ("ph", "f"), ("ck", "k"), ("q", "k"), ("x", "ks"), ("w", "v"))
_VOWELS_TO_A = str.maketrans("eiouy", "aaaaa")
_SKELETON_SUBS = (("ph", "f"), ("ck", "k"), ("q", "k"), ("x", "ks"))
_DROP_VOWELS = str.maketrans("", "", "aeiouyw")


def _syllables(run: str) -> str:
    return "".join(anyascii(ch) for ch in run)


def romanise(text: str) -> str:
    """Latin-script rendering of a name, for people and for matching.

    A name that is one run of Chinese characters (or Hangul) becomes
    "Surname Givenname", as pinyin passports write it.
    """
    text = unicodedata.normalize("NFKC", text).strip()
    if len(text) >= 2 and _CJK_RUN_RE.fullmatch(text):
        cut = 2 if text[:2] in _COMPOUND_SURNAMES else 1
        surname = _syllables(text[:cut]).capitalize()
        given = _syllables(text[cut:]).capitalize()
        return f"{surname} {given}".strip()
    text = _CJK_RUN_RE.sub(lambda m: " " + _syllables(m.group()).capitalize() + " ", text)
    return " ".join(anyascii(text).split())


_ARTICLES = frozenset({"al", "el"})


def normalise_name(text: str) -> tuple[str, ...]:
    """Lowercase ASCII word tokens of a name in any script.

    The Arabic article is joined to the word it belongs to, as Arabic script
    writes it: "Al-Farzani", "al Farzani" and "Alfarzani" all give "alfarzani".
    """
    latin = _APOSTROPHE_RE.sub("", romanise(text).casefold())
    tokens = [t for t in _NON_ALNUM_RE.split(latin) if t]
    if len(tokens) > 1 and not _ARTICLES.isdisjoint(tokens[:-1]):
        joined: list[str] = []
        i = 0
        while i < len(tokens):
            if tokens[i] in _ARTICLES and i + 1 < len(tokens):
                joined.append(tokens[i] + tokens[i + 1])
                i += 2
            else:
                joined.append(tokens[i])
                i += 1
        tokens = joined
    return tuple(tokens)


def _collapse(token: str) -> str:
    return "".join(ch for ch, _ in groupby(token))


@lru_cache(maxsize=1 << 18)
def _fold(token: str) -> str:
    """Spelling-variant key: all vowels alike, doubled letters collapsed."""
    for old, new in _FOLD_SUBS:
        token = token.replace(old, new)
    return _collapse(token.translate(_VOWELS_TO_A))


@lru_cache(maxsize=1 << 18)
def _skeleton(token: str) -> str:
    """Consonant skeleton, as Arabic-script names are written without short vowels."""
    for old, new in _SKELETON_SUBS:
        token = token.replace(old, new)
    token = _collapse(token.translate(_DROP_VOWELS))
    if len(token) >= 2 and token.endswith("h"):  # ta marbuta, final -ah / -eh, "Allah"
        token = token[:-1]
    return token


@lru_cache(maxsize=1 << 18)
def _grams(token: str) -> frozenset[str]:
    """Character 3-grams of a token, padded so first and last letters count."""
    padded = f"^{token}$"
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


class _Name:
    """One name in all the forms the scorer needs."""

    __slots__ = ("original", "tokens", "_folded", "skeleton", "abjad", "weak", "entity")

    def __init__(self, original: str, tokens: tuple[str, ...], *, weak: bool = False, entity: int = -1):
        self.original = original
        self.tokens = tokens
        self._folded: tuple[str, ...] | None = None
        self.skeleton = tuple(s for s in map(_skeleton, tokens) if s)
        self.abjad = _ABJAD_RE.search(original) is not None
        self.weak = weak
        self.entity = entity

    @property
    def folded(self) -> tuple[str, ...]:
        if self._folded is None:
            self._folded = tuple(map(_fold, self.tokens))
        return self._folded


# --------------------------------------------------------------------------
# Name similarity
# --------------------------------------------------------------------------


def _aligned_score(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Compare names part by part, for names of 2+ parts.

    Each part of the shorter name (longest first) is paired with its closest
    part of the other name, and the paired parts are compared in that order,
    so a misspelt first letter does not upset the order that sorting gives.
    When one name has extra parts (middle names, patronymic), every part of
    the shorter name must find a counterpart, and each extra part costs
    ``EXTRA_TOKEN_PENALTY``.
    """
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    pool = list(long_)
    left: list[str] = []
    right: list[str] = []
    worst = 100.0
    for tok in sorted(short, key=len, reverse=True):
        best_i, best = 0, -1.0
        for i, other in enumerate(pool):
            s = fuzz.ratio(tok, other)
            if s > best:
                best_i, best = i, s
        left.append(tok)
        right.append(pool.pop(best_i))
        worst = min(worst, best)
    extra = len(long_) - len(short)
    if extra and worst < 70:
        return 0.0
    return fuzz.ratio(" ".join(left), " ".join(right)) - EXTRA_TOKEN_PENALTY * min(extra, 3)


def _token_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[float, int]:
    """rapidfuzz similarity of two token sequences, 0..100, and unmatched parts.

    The score is the max of
      * token_sort_ratio: order-insensitive ("PETROV IVAN" = "Ivan Petrov");
      * ratio of the names with spaces removed ("Abdullah" = "Abd Allah",
        "Xiaoming" = "Xiao Ming");
      * the mean of WRatio and token_sort_ratio: WRatio rewards containment and
        partial matches, which on its own lets "Ivan" score 90 against
        "Ivan Petrov"; averaged with token_sort_ratio it can lift a close
        match but cannot make a subset look like the whole name;
      * for names of 2+ parts on both sides, ``_aligned_score``.
    A one-word name against a longer one only gets the first three, so it
    never scores 100 just by being contained.  The second value is how many
    name parts one side has on top of the other (0 when the difference is
    only in spacing).
    """
    if not a or not b:
        return 0.0, 0
    at, bt = " ".join(a), " ".join(b)
    ts = fuzz.token_sort_ratio(at, bt)
    if ts == 100.0:
        return 100.0, 0
    compact = fuzz.ratio("".join(a), "".join(b))
    score = max(ts, compact, (fuzz.WRatio(at, bt) + ts) / 2)
    extra = abs(len(a) - len(b))
    if min(len(a), len(b)) >= 2:
        score = max(score, _aligned_score(a, b))
    if compact >= score:
        extra = 0
    return score, extra


@dataclass(frozen=True)
class _NameMatch:
    score: float
    method: str  # "exact", "fuzzy", "spelling", "skeleton"
    reordered: bool
    extra_parts: int


def _name_similarity(q: _Name, listed: _Name) -> _NameMatch:
    """Name score: the best of the plain, spelling-folded and consonant forms.

    * plain: ``_token_similarity`` of the normalised tokens;
    * spelling: average of plain and the same on vowel-folded tokens, so
      Mohammed / Muhammad (83 plain, 100 folded) reach ~92 while unrelated
      names that merely share consonants gain at most half the gap;
    * skeleton (only if either name is in Arabic/Hebrew script, which omit
      short vowels): similarity of consonant skeletons x 0.92.
    """
    plain, extra = _token_similarity(q.tokens, listed.tokens)
    reordered = q.tokens != listed.tokens and sorted(q.tokens) == sorted(listed.tokens)
    if plain == 100.0:
        return _NameMatch(100.0, "exact", reordered, extra)
    best, method = plain, "fuzzy"
    folded, folded_extra = _token_similarity(q.folded, listed.folded)
    spelling = (plain + folded) / 2
    if spelling > best:
        best, method, extra = spelling, "spelling", min(extra, folded_extra)
    if q.abjad or listed.abjad:
        skeleton, skeleton_extra = _token_similarity(q.skeleton, listed.skeleton)
        skeleton *= SKELETON_FACTOR
        if skeleton > best:
            best, method, extra = skeleton, "skeleton", skeleton_extra
    return _NameMatch(best, method, reordered, extra)


# --------------------------------------------------------------------------
# Hits
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    entity_id: str
    caption: str
    matched_name: str
    query_name: str
    score: float  # 0..100 final score
    name_score: float  # rapidfuzz similarity of the names
    reasons: tuple[str, ...]
    datasets: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "entity_id": self.entity_id,
            "caption": self.caption,
            "matched_name": self.matched_name,
            "query_name": self.query_name,
            "score": self.score,
            "name_score": self.name_score,
            "reasons": list(self.reasons),
            "datasets": list(self.datasets),
        }


def _is_latin(text: str) -> bool:
    for ch in text:
        if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
            return False
    return True


def _described(name: str) -> str:
    if _is_latin(name):
        return f"'{name}'"
    return f"'{name}' (transliterated '{romanise(name)}')"


def _name_reasons(q: _Name, listed: _Name, match: _NameMatch) -> list[str]:
    reasons = [
        f"name {_described(q.original)} matches list name {_described(listed.original)} at {match.score:.0f}"
    ]
    if match.reordered:
        reasons.append("same name parts in a different order")
    if match.method == "spelling":
        reasons.append("spelling variant: names differ mainly in vowels or doubled letters")
    elif match.method == "skeleton":
        reasons.append(
            "compared by consonants only, as Arabic-script names are written without short vowels"
        )
    if match.extra_parts:
        longer = "list name" if len(listed.tokens) > len(q.tokens) else "applicant's name"
        parts = "part" if match.extra_parts == 1 else "parts"
        reasons.append(f"{longer} has {match.extra_parts} more name {parts}")
    if listed.weak:
        reasons.append(
            f"matched a weak alias (nickname or short alias), scored {WEAK_ALIAS_PENALTY:.0f} lower"
        )
    return reasons


def _dob_adjustment(birth_date: date | None, list_dates: tuple[str, ...]) -> tuple[float, str]:
    if not list_dates:
        return 0.0, "no birth date on the list entry; score rests on the name"
    if birth_date is None:
        return 0.0, "applicant birth date not given; list has " + ", ".join(list_dates)
    best: tuple[float, str] | None = None
    q_iso = birth_date.isoformat()
    for d in list_dates:
        year = int(d[:4])
        gap = abs(year - birth_date.year)
        if gap > 1:
            cand = (DOB_CONTRADICTS, f"birth date differs from list ({d})")
        elif gap == 1:
            cand = (DOB_OFF_BY_ONE_YEAR, f"birth year differs by one from list ({d})")
        elif len(d) == 10:
            if d == q_iso:
                cand = (DOB_EXACT, f"birth date {q_iso} equals list birth date")
            elif d == f"{year:04d}-{birth_date.day:02d}-{birth_date.month:02d}":
                cand = (DOB_TRANSPOSED, f"birth date matches list with day and month swapped ({d})")
            else:
                cand = (DOB_SAME_YEAR_OTHER_DAY, f"birth year matches but day/month differ from list ({d})")
        elif len(d) == 7:
            if int(d[5:7]) == birth_date.month:
                cand = (DOB_YEAR_MONTH, f"birth year and month {d} match")
            else:
                cand = (DOB_YEAR_MONTH_OTHER, f"birth year matches but month differs from list ({d})")
        else:
            cand = (DOB_YEAR, f"birth year {year} matches")
        if best is None or cand[0] > best[0]:
            best = cand
    assert best is not None
    if len(list_dates) > 1:
        best = (best[0], best[1] + f" (list gives {len(list_dates)} birth dates)")
    return best


def _nationality_adjustment(nationality: str | None, listed: tuple[str, ...]) -> tuple[float, str | None]:
    if not nationality or not listed:
        return 0.0, None
    nat = nationality.strip().casefold()
    if nat in listed:
        return NATIONALITY_MATCH, f"nationality matches ({nat})"
    return 0.0, f"nationality {nat} not among list nationalities ({', '.join(listed)}); no effect on score"


# --------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------


class ScreeningIndex:
    """In-memory index of list Persons for fast fuzzy name screening.

    Two levels: each distinct name token lists the names it occurs in, and
    tokens are found by the word itself, by their character 3-grams, by their
    spelling fold and by their consonant skeleton.  Names are also listed by
    the consonant skeleton of the whole name (catches "Abdullah" / "Abd Allah").
    """

    def __init__(self, entities: Iterable[ListEntity]):
        self._entities: list[ListEntity] = []
        self._name_text: list[str] = []
        self._name_tokens: list[tuple[str, ...]] = []
        self._name_entity: list[int] = []
        self._name_weak: list[bool] = []
        self._name_cache: dict[int, _Name] = {}
        self._token_id: dict[str, int] = {}
        self._token_len: list[int] = []
        # Posting lists are list[int] while building, array("I") afterwards.
        self._token_names: list[Any] = []  # token id -> names
        self._token_skel: list[str] = []  # token id -> consonant skeleton
        self._gram_tokens: dict[str, Any] = defaultdict(list)  # 3-gram -> token ids
        self._fold_tokens: dict[str, Any] = defaultdict(list)  # spelling fold -> token ids
        self._skel_tokens: dict[str, Any] = defaultdict(list)  # skeleton -> token ids
        self._compact_names: dict[str, Any] = defaultdict(list)  # whole-name skeleton -> names
        # Building allocates millions of small lists; the cyclic GC would
        # rescan them over and over and triple the build time.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for entity in entities:
                self._add_entity(entity)
            self._freeze()
        finally:
            if gc_was_enabled:
                gc.enable()
        self._gram_stop = max(1000, len(self._token_names) // 20)

    @classmethod
    def from_file(cls, path: str | Path) -> "ScreeningIndex":
        return cls(load_ftm_file(path))

    def __len__(self) -> int:
        return len(self._entities)

    # -- building -----------------------------------------------------------

    def _add_entity(self, entity: ListEntity) -> None:
        if entity.schema not in PERSON_SCHEMAS:
            return
        e_idx = len(self._entities)
        self._entities.append(entity)
        seen: set[tuple[str, ...]] = set()
        for weak, group in ((False, entity.names), (True, entity.weak_aliases)):
            for original in group:
                tokens = normalise_name(original)
                if tokens and tokens not in seen:
                    seen.add(tokens)
                    self._add_name(original, tokens, weak, e_idx)

    def _add_name(self, original: str, tokens: tuple[str, ...], weak: bool, e_idx: int) -> None:
        n_idx = len(self._name_text)
        self._name_text.append(original)
        self._name_tokens.append(tokens)
        self._name_entity.append(e_idx)
        self._name_weak.append(weak)
        token_id = self._token_id
        token_names = self._token_names
        token_skel = self._token_skel
        skeleton = []
        for tok in tokens:
            tid = token_id.get(tok)
            if tid is None:
                tid = self._add_token(tok)
            names = token_names[tid]
            if not names or names[-1] != n_idx:
                names.append(n_idx)
            skeleton.append(token_skel[tid])
        compact = "".join(skeleton)
        if len(compact) >= 3:
            self._compact_names[compact].append(n_idx)

    def _add_token(self, tok: str) -> int:
        tid = self._token_id[tok] = len(self._token_names)
        self._token_names.append([])
        grams = _grams(tok)
        self._token_len.append(len(grams))
        gram_tokens = self._gram_tokens
        for g in grams:
            gram_tokens[g].append(tid)
        self._fold_tokens[_fold(tok)].append(tid)
        sk = _skeleton(tok)
        self._token_skel.append(sk)
        if len(sk) >= 2:
            self._skel_tokens[sk].append(tid)
            if len(sk) >= 4 and sk[0] == "l":
                # Arabic writes the article "al-" onto the word and passports
                # often drop it: let "Zanbaqi" find "الزنبقي" (lznbk).
                self._skel_tokens[sk[1:]].append(tid)
        return tid

    def _freeze(self) -> None:
        """Store posting lists as arrays: compact, and invisible to the cyclic GC
        (hundreds of thousands of tracked lists make every full collection slow)."""
        self._token_names = [array("I", p) for p in self._token_names]
        for attr in ("_gram_tokens", "_fold_tokens", "_skel_tokens", "_compact_names"):
            setattr(self, attr, {k: array("I", p) for k, p in getattr(self, attr).items()})

    def _name(self, n_idx: int) -> _Name:
        name = self._name_cache.get(n_idx)
        if name is None:
            if len(self._name_cache) >= NAME_CACHE_SIZE:
                self._name_cache.clear()
            name = self._name_cache[n_idx] = _Name(
                self._name_text[n_idx],
                self._name_tokens[n_idx],
                weak=self._name_weak[n_idx],
                entity=self._name_entity[n_idx],
            )
        return name

    # -- candidates ---------------------------------------------------------

    def _similar_tokens(self, token: str) -> list[tuple[int, float]]:
        """List tokens sharing most of ``token``'s 3-grams, as (token id, share)."""
        grams = _grams(token)
        lists = sorted((p for p in map(self._gram_tokens.get, grams) if p), key=len)
        chosen: list[list[int]] = []
        total = 0
        for p in lists:
            if len(chosen) >= MIN_QUERY_GRAMS and (len(p) > self._gram_stop or total + len(p) > GRAM_BUDGET):
                break
            chosen.append(p)
            total += len(p)
        if not chosen:
            return []
        counts: Counter[int] = Counter()
        for p in chosen:
            counts.update(p)
        used = len(chosen)
        need = max(min(2, used), MIN_GRAM_SHARE * used)
        n_grams = len(grams)
        lo, hi = n_grams * 0.6, n_grams / 0.6
        token_len = self._token_len
        found = [
            (c / used, tid)
            for tid, c in counts.items()
            if c >= need and lo <= token_len[tid] <= hi
        ]
        if len(found) > MAX_SIMILAR_TOKENS:
            found.sort(reverse=True)
            del found[MAX_SIMILAR_TOKENS:]
        return [(tid, share) for share, tid in found]

    def _candidates(self, q: _Name) -> list[int]:
        """Names worth scoring against ``q``, at most ``MAX_CANDIDATES``.

        Every query token collects names through (a) the same token,
        (b) tokens sharing most 3-grams, (c) the same spelling fold,
        (d) the same consonant skeleton; a name's support is the sum over
        query tokens of the best route's weight.  Posting lists are taken
        shortest first up to ``NAME_POSTINGS_BUDGET``, so a very common token
        ("al", "mohammed") costs nothing once rarer parts of the name are in.
        """
        q_tokens = tuple(dict.fromkeys(q.tokens))
        routes: list[tuple[int, float, Any]] = []  # (query token, weight, names)
        for qi, tok in enumerate(q_tokens):
            weights: dict[int, float] = {}
            for tid, share in self._similar_tokens(tok):
                weights[tid] = 0.9 * share
            for tid in self._fold_tokens.get(_fold(tok), ()):
                weights[tid] = max(weights.get(tid, 0.0), 0.85)
            sk = _skeleton(tok)
            if len(sk) >= 2:
                for tid in self._skel_tokens.get(sk, ()):
                    weights[tid] = max(weights.get(tid, 0.0), 0.75)
            exact = self._token_id.get(tok)
            if exact is not None:
                weights[exact] = 1.0
            token_names = self._token_names
            routes.extend((qi, w, token_names[tid]) for tid, w in weights.items())
        routes.sort(key=lambda r: len(r[2]))
        per_token: list[dict[int, float]] = [{} for _ in q_tokens]
        taken = 0
        for qi, weight, names in routes:
            if taken and taken + len(names) > NAME_POSTINGS_BUDGET:
                break
            taken += len(names)
            best = per_token[qi]
            for n in names:
                if best.get(n, 0.0) < weight:
                    best[n] = weight
        support: dict[int, float] = {}
        for best in per_token:
            for n, w in best.items():
                support[n] = support.get(n, 0.0) + w
        compact = "".join(q.skeleton)
        if len(compact) >= 3:
            for n in self._compact_names.get(compact, ()):
                support[n] = max(support.get(n, 0.0), 0.9 * len(q_tokens))
        need = max(0.7, 0.5 * len(q_tokens))
        n_q = len(q.tokens)
        name_tokens = self._name_tokens
        ranked = [
            (w - 0.05 * abs(len(name_tokens[n]) - n_q), n) for n, w in support.items() if w >= need
        ]
        if len(ranked) > MAX_CANDIDATES:
            ranked.sort(reverse=True)
            del ranked[MAX_CANDIDATES:]
        return [n for _, n in ranked]

    # -- screening ----------------------------------------------------------

    def screen(
        self,
        *,
        names: Sequence[str],
        birth_date: date | None,
        nationality: str | None = None,
        threshold: float = 85.0,
        limit: int = 10,
    ) -> list[Hit]:
        """Hits scoring at least ``threshold``, best first, one per entity.

        ``names`` are the applicant's names (passport Latin, native script, ...);
        each entity's hit is its best (query name, list name) pair.

        score = name_score
                - 10 if the list name is a weak alias
                + birth date: +8 same full date, +5 same year-month, +3 same
                  year where the list has only the year, +3 day/month swapped,
                  -3 same year but other day or month, -8 year off by one,
                  -25 year off by more (best over the list's dates; 0 if the
                  list or the applicant has no date)
                + 2 if the nationality is among the list's
        clamped to 0..100.  The positive birth-date and nationality terms only
        count when name_score >= ``BONUS_MIN_NAME_SCORE`` (80).
        """
        if isinstance(names, str):
            names = [names]
        if isinstance(birth_date, datetime):
            birth_date = birth_date.date()
        elif isinstance(birth_date, str):
            birth_date = date.fromisoformat(birth_date)
        floor = threshold - MAX_BONUS

        # entity index -> (effective name score, raw name score, query, list name, match)
        best: dict[int, tuple[float, float, _Name, _Name, _NameMatch]] = {}
        seen_queries: set[tuple[str, ...]] = set()
        for raw in names:
            if not raw or not raw.strip():
                continue
            tokens = normalise_name(raw)
            if not tokens or tokens in seen_queries:
                continue
            seen_queries.add(tokens)
            q = _Name(raw.strip(), tokens)
            for n_idx in self._candidates(q):
                cand = self._name(n_idx)
                match = _name_similarity(q, cand)
                effective = match.score - (WEAK_ALIAS_PENALTY if cand.weak else 0.0)
                if effective < floor:
                    continue
                prev = best.get(cand.entity)
                if prev is None or (effective, match.score) > (prev[0], prev[1]):
                    best[cand.entity] = (effective, match.score, q, cand, match)

        hits: list[Hit] = []
        for e_idx, (effective, raw_score, q, cand, match) in best.items():
            entity = self._entities[e_idx]
            dob_adj, dob_reason = _dob_adjustment(birth_date, entity.birth_dates)
            nat_adj, nat_reason = _nationality_adjustment(nationality, entity.nationalities)
            bonus_note = None
            if raw_score < BONUS_MIN_NAME_SCORE and dob_adj + nat_adj > 0:
                bonus_note = (
                    f"birth date/nationality agreement not added: name score below {BONUS_MIN_NAME_SCORE:.0f}"
                )
                dob_adj, nat_adj = min(dob_adj, 0.0), 0.0
            score = round(min(100.0, max(0.0, effective + dob_adj + nat_adj)), 1)
            if score < threshold:
                continue
            reasons = _name_reasons(q, cand, match)
            reasons.append(dob_reason)
            if nat_reason:
                reasons.append(nat_reason)
            if bonus_note:
                reasons.append(bonus_note)
            hits.append(
                Hit(
                    entity_id=entity.entity_id,
                    caption=entity.caption,
                    matched_name=cand.original,
                    query_name=q.original,
                    score=score,
                    name_score=round(raw_score, 1),
                    reasons=tuple(reasons),
                    datasets=entity.datasets,
                )
            )
        hits.sort(key=lambda h: (-h.score, -h.name_score, h.entity_id))
        return hits[: max(0, limit)]
