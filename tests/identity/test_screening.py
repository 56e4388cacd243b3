from __future__ import annotations

import gzip
import json
import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eresident.identity.screening import (
    SAMPLE_LIST_PATH,
    Hit,
    ListEntity,
    ScreeningIndex,
    ScreeningListError,
    load_ftm_file,
    normalise_name,
    parse_ftm,
)

# Entities of the sample list that these tests rely on (marked in the file with
# "notes": ["synthetic test entity"]).
CYRILLIC = "syn-test-cyrillic"  # Радомир Зелтоварский, b. 1968-03-14, ru; one-word alias "Radomir"
ARABIC = "syn-test-arabic"  # خالد منصور الفرزاني / Muhammad Khalid al-Farzani, b. 1975, weak alias "Abu Tariq"
CHINESE = "syn-test-chinese"  # 鲍骁砚 / 鮑驍硯, no birth date


@pytest.fixture(scope="module")
def entities() -> list[ListEntity]:
    return load_ftm_file(SAMPLE_LIST_PATH)


@pytest.fixture(scope="module")
def index(entities) -> ScreeningIndex:
    return ScreeningIndex(entities)


def hit_for(hits: list[Hit], entity_id: str) -> Hit | None:
    return next((h for h in hits if h.entity_id == entity_id), None)


def person(entity_id: str, *names: str, weak: tuple[str, ...] = (), dob: tuple[str, ...] = ()) -> ListEntity:
    return ListEntity(
        entity_id=entity_id,
        schema="Person",
        caption=names[0],
        names=names,
        weak_aliases=weak,
        birth_dates=dob,
        nationalities=(),
        datasets=("test",),
    )


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def test_sample_file_parses_with_ids_and_captions(entities):
    assert len(entities) >= 50
    assert all(e.schema == "Person" for e in entities)
    for e in entities:
        assert e.entity_id
        assert e.caption
        assert e.names
    ids = [e.entity_id for e in entities]
    assert len(ids) == len(set(ids))
    assert {CYRILLIC, ARABIC, CHINESE} <= set(ids)


def test_sample_file_marks_test_entities_and_holds_other_schemas():
    raw = [json.loads(line) for line in SAMPLE_LIST_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    marked = {e["id"] for e in raw if e["properties"].get("notes") == ["synthetic test entity"]}
    assert marked == {CYRILLIC, ARABIC, CHINESE}
    non_person = {e["id"] for e in raw if e["schema"] != "Person"}
    assert non_person
    parsed = {e.entity_id for e in load_ftm_file(SAMPLE_LIST_PATH)}
    assert not parsed & non_person


def test_sample_has_scripts_and_birth_date_precisions(entities):
    names = " ".join(n for e in entities for n in e.names)
    assert any("\u0400" <= ch <= "\u04ff" for ch in names)  # Cyrillic
    assert any("\u0600" <= ch <= "\u06ff" for ch in names)  # Arabic
    assert any("\u4e00" <= ch <= "\u9fff" for ch in names)  # Chinese
    dates = [d for e in entities for d in e.birth_dates]
    assert {len(d) for d in dates} == {4, 7, 10}
    assert any(not e.birth_dates for e in entities)


def test_parse_ftm_fields_and_filters():
    lines = [
        json.dumps(
            {
                "id": "p1",
                "schema": "Person",
                "caption": "Anna Test",
                "properties": {
                    "name": ["Anna Test", "ANNA TEST"],
                    "alias": ["Anja Testova"],
                    "weakAlias": ["Annie", "Anna Test"],
                    "birthDate": ["1970-01-02", "1971", "1972-03", "1973-02-30", "garbage"],
                    "nationality": ["RU"],
                    "citizenship": ["by"],
                },
                "datasets": ["ds1"],
            }
        ),
        "",
        "   ",
        json.dumps({"id": "o1", "schema": "Organization", "properties": {"name": ["Test Org"]}}).encode(),
        json.dumps({"id": "c1", "schema": "Company", "properties": {"name": ["Test Co"]}}),
        json.dumps({"id": "l1", "schema": "LegalEntity", "properties": {"name": ["Test Legal"]}}),
        json.dumps({"id": "p2", "schema": "Person", "properties": {"firstName": ["Olga"], "lastName": ["Probna"]}}),
    ]
    parsed = list(parse_ftm(lines))
    assert [e.entity_id for e in parsed] == ["p1", "p2"]
    p1, p2 = parsed
    assert p1.caption == "Anna Test"
    assert p1.names == ("Anna Test", "Anja Testova")
    assert p1.weak_aliases == ("Annie",)
    assert p1.birth_dates == ("1970-01-02", "1971", "1972-03", "1973-02")
    assert p1.nationalities == ("ru", "by")
    assert p1.datasets == ("ds1",)
    assert p2.names == ("Olga Probna",)
    assert p2.caption == "Olga Probna"


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ('{"id": "x", "schema": "Person", ', "malformed JSON"),
        ('{"schema": "Person", "properties": {}}', "no 'id'"),
        ('{"id": "x", "properties": {}}', "no 'schema'"),
        ('["not", "an", "object"]', "JSON object"),
    ],
)
def test_malformed_line_reports_line_number(bad, fragment):
    lines = [
        json.dumps({"id": "a", "schema": "Person", "properties": {"name": ["A B"]}}),
        "",
        bad,
        json.dumps({"id": "b", "schema": "Person", "properties": {"name": ["C D"]}}),
    ]
    with pytest.raises(ScreeningListError) as info:
        list(parse_ftm(lines))
    assert info.value.line == 3
    assert fragment in info.value.message
    assert isinstance(info.value, ValueError)
    assert "line 3" in str(info.value)


def test_json_array_file_accepted(tmp_path):
    items = [
        {"id": "p1", "schema": "Person", "caption": "Ivo Testic", "properties": {"name": ["Ivo Testic"]}},
        {"id": "o1", "schema": "Organization", "caption": "Testic Ltd", "properties": {"name": ["Testic Ltd"]}},
        {"id": "p2", "schema": "Person", "caption": "Ana Testic", "properties": {"name": ["Ana Testic"]}},
    ]
    path = tmp_path / "list.json"
    path.write_text("\n" + json.dumps(items, indent=2), encoding="utf-8")
    assert [e.entity_id for e in load_ftm_file(path)] == ["p1", "p2"]

    path.write_text(json.dumps([items[0], {"schema": "Person"}]), encoding="utf-8")
    with pytest.raises(ScreeningListError) as info:
        load_ftm_file(path)
    assert info.value.line == 2


def test_jsonl_and_gzip_files(tmp_path):
    lines = [
        json.dumps({"id": "p1", "schema": "Person", "properties": {"name": ["Ivo Testic"]}}),
        "",
        json.dumps({"id": "p2", "schema": "Person", "properties": {"name": ["Ana Testic"]}}),
    ]
    text = "\n".join(lines) + "\n"
    (tmp_path / "list.jsonl").write_text(text, encoding="utf-8")
    (tmp_path / "list.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    for name in ("list.jsonl", "list.jsonl.gz"):
        assert [e.entity_id for e in load_ftm_file(tmp_path / name)] == ["p1", "p2"]
    (tmp_path / "bad.jsonl").write_text(lines[0] + "\n{oops\n", encoding="utf-8")
    with pytest.raises(ScreeningListError) as info:
        load_ftm_file(tmp_path / "bad.jsonl")
    assert info.value.line == 2


def test_index_ignores_non_person_entities():
    org = ListEntity("o1", "Organization", "Ivo Testic", ("Ivo Testic",), (), (), (), ())
    idx = ScreeningIndex([org, person("p1", "Ana Testic")])
    assert len(idx) == 1
    assert idx.screen(names=["Ivo Testic"], birth_date=None) == []


# --------------------------------------------------------------------------
# Name matching
# --------------------------------------------------------------------------


def test_exact_match(index):
    hits = index.screen(names=["Радомир Зелтоварский"], birth_date=None)
    assert hits[0].entity_id == CYRILLIC
    assert hits[0].name_score == 100
    assert hits[0].matched_name == "Радомир Зелтоварский"
    assert hits[0].caption == "Радомир Зелтоварский"
    assert hits[0].datasets == ("synthetic_sample",)


@pytest.mark.parametrize("query", ["ZELTOVARSKIY RADOMIR", "ZELTOVARSKIY<<RADOMIR", "Zeltovarskiy, Radomir"])
def test_reversed_name_order(index, query):
    hits = index.screen(names=[query], birth_date=None)
    assert hits[0].entity_id == CYRILLIC
    assert hits[0].name_score == 100
    assert any("different order" in r for r in hits[0].reasons)


@pytest.mark.parametrize(
    "query", ["Radomir Zeltovarskii", "RADOMIR ZELTOVARSKY", "ZELTOVARSKII<<RADOMIR", "Radomir Seltovarskij"]
)
def test_cyrillic_list_name_matches_latin_passport_name(index, query):
    hits = index.screen(names=[query], birth_date=None)
    hit = hit_for(hits, CYRILLIC)
    assert hit is not None and hits[0] is hit
    assert hit.query_name == query
    assert "transliterated 'Radomir Zeltovarskiy'" in hit.reasons[0]


@pytest.mark.parametrize("query", ["Khalid Mansour Al-Farzani", "KHALED MANSUR ALFARZANI", "Al Farzani Khalid Mansoor"])
def test_arabic_list_name_matches_latin_passport_name(index, query):
    hits = index.screen(names=[query], birth_date=None)
    hit = hit_for(hits, ARABIC)
    assert hit is not None and hits[0] is hit
    assert hit.matched_name == "خالد منصور الفرزاني"
    assert any("consonants" in r for r in hit.reasons)


@pytest.mark.parametrize("query", ["BAO XIAOYAN", "Xiaoyan Bao", "BAO<<XIAOYAN", "Bao Xiao Yan"])
def test_chinese_list_name_matches_pinyin_passport_name(index, query):
    hits = index.screen(names=[query], birth_date=None)
    hit = hit_for(hits, CHINESE)
    assert hit is not None and hits[0] is hit
    assert hit.matched_name in ("鲍骁砚", "鮑驍硯")
    assert "transliterated 'Bao Xiaoyan'" in hit.reasons[0]
    assert hit.score >= 95


def test_native_script_query_matches_native_list_name(index):
    hits = index.screen(names=["John Unrelated", "鲍骁砚"], birth_date=None)
    assert hits[0].entity_id == CHINESE
    assert hits[0].query_name == "鲍骁砚"
    assert hits[0].name_score == 100


@pytest.mark.parametrize(
    "query", ["Mohammed Khalid Al-Farzani", "Mohamed Khaled al Farzani", "Muhammed Halid Alfarzani"]
)
def test_spelling_variants(index, query):
    hits = index.screen(names=[query], birth_date=None)
    assert hit_for(hits, ARABIC) is hits[0]


def test_mohammed_muhammad_mohamed():
    idx = ScreeningIndex([person("m1", "Muhammad Rashidov Okantar"), person("m2", "Tomasz Wielgorski")])
    for query in ("Mohammed Rashidov Okantar", "Mohamed Rashidov Okantar", "Muhamad Rashidov Okantar"):
        hits = idx.screen(names=[query], birth_date=None)
        assert [h.entity_id for h in hits] == ["m1"], query
        assert 85 <= hits[0].name_score < 100


def test_one_word_name_is_not_a_full_match_for_a_longer_name(index):
    # The list alias "Radomir" must not fire for anyone called Radomir.
    hits = index.screen(names=["Radomir Okafor-Lindqvist"], birth_date=date(1968, 3, 14), nationality="ru")
    assert hit_for(hits, CYRILLIC) is None
    # ... and a one-word query does not fully match a longer list name.
    idx = ScreeningIndex([person("p1", "Radomir Zeltovarsky")])
    assert idx.screen(names=["Radomir"], birth_date=None) == []
    low = idx.screen(names=["Radomir"], birth_date=None, threshold=0)
    assert low and low[0].name_score < 80


def test_common_short_name_does_not_match_everything(index, entities):
    for query in ("Ali", "Al", "Li", "Omar", "Khalid"):
        assert index.screen(names=[query], birth_date=None) == [], query
    assert len(index.screen(names=["Ali"], birth_date=None, threshold=60, limit=100)) <= 2


def test_unrelated_name_gives_no_hits(index):
    assert index.screen(names=["Wilhelmina Okonkwo-Baptiste"], birth_date=date(1990, 1, 1)) == []
    assert index.screen(names=["Jean-Baptiste Fournival", "Жан Фурниваль"], birth_date=None) == []


def test_weak_alias_scored_lower_and_explained(index):
    hits = index.screen(names=["Abu Tariq"], birth_date=None)
    hit = hit_for(hits, ARABIC)
    assert hit is not None
    assert hit.matched_name == "Abu Tariq"
    assert hit.name_score == 100
    assert hit.score == 90
    assert any("weak alias" in r for r in hit.reasons)


def test_strong_name_preferred_over_weak_alias():
    idx = ScreeningIndex([person("p1", "Ivo Testic", weak=("Ivo Testic Junior",))])
    hits = idx.screen(names=["Ivo Testic"], birth_date=None)
    assert hits[0].matched_name == "Ivo Testic"
    assert not any("weak alias" in r for r in hits[0].reasons)


# --------------------------------------------------------------------------
# Birth date and nationality
# --------------------------------------------------------------------------


def test_exact_birth_date_boosts(index):
    query = ["Radomir Seltovarskij"]
    plain = hit_for(index.screen(names=query, birth_date=None), CYRILLIC)
    boosted = hit_for(index.screen(names=query, birth_date=date(1968, 3, 14)), CYRILLIC)
    assert plain is not None and boosted is not None
    assert plain.name_score < 100
    assert boosted.score > plain.score
    assert "birth date 1968-03-14 equals list birth date" in boosted.reasons


def test_contradicting_birth_date_falls_below_threshold(index):
    query = ["Radomir Zeltovarskiy"]
    assert hit_for(index.screen(names=query, birth_date=None), CYRILLIC).score == 100
    assert hit_for(index.screen(names=query, birth_date=date(1985, 6, 1)), CYRILLIC) is None
    low = hit_for(index.screen(names=query, birth_date=date(1985, 6, 1), threshold=0), CYRILLIC)
    assert low is not None and low.score < 85
    assert "birth date differs from list (1968-03-14)" in low.reasons


def test_close_birth_year_is_a_mild_penalty(index):
    hit = hit_for(index.screen(names=["Radomir Zeltovarskiy"], birth_date=date(1969, 3, 14), threshold=0), CYRILLIC)
    assert 85 <= hit.score < 100
    assert any("differs by one" in r for r in hit.reasons)


def test_year_only_birth_date(index):
    query = ["Mohammed Khalid Al-Farzani"]
    plain = hit_for(index.screen(names=query, birth_date=None), ARABIC)
    same_year = hit_for(index.screen(names=query, birth_date=date(1975, 8, 9)), ARABIC)
    assert same_year.score > plain.score
    assert "birth year 1975 matches" in same_year.reasons
    assert hit_for(index.screen(names=query, birth_date=date(1960, 8, 9)), ARABIC) is None


def test_no_list_birth_date_is_neutral(index):
    a = hit_for(index.screen(names=["Bao Xiaoyan"], birth_date=None), CHINESE)
    b = hit_for(index.screen(names=["Bao Xiaoyan"], birth_date=date(1950, 1, 1)), CHINESE)
    assert a.score == b.score
    assert any("no birth date on the list" in r for r in b.reasons)


def test_nationality_adds_a_little_and_is_never_required(index):
    query = ["Radomir Seltovarskij"]
    none = hit_for(index.screen(names=query, birth_date=None), CYRILLIC)
    same = hit_for(index.screen(names=query, birth_date=None, nationality="RU"), CYRILLIC)
    other = hit_for(index.screen(names=query, birth_date=None, nationality="ee"), CYRILLIC)
    assert same.score > none.score
    assert "nationality matches (ru)" in same.reasons
    assert other is not None and other.score == none.score


def test_birth_date_does_not_rescue_a_weak_name():
    idx = ScreeningIndex([person("p1", "Matthias Grunewalder", dob=("1975-12-01",))])
    assert idx.screen(names=["Matthias Mueller"], birth_date=date(1975, 12, 1), nationality="ch") == []


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


def test_one_hit_per_entity_best_first_and_limit():
    idx = ScreeningIndex(
        [
            person("p1", "Ivo Testic", "Ivo Testić", "Testic Ivo"),
            person("p2", "Ivo Testich"),
            person("p3", "Iva Testic"),
            person("p4", "Ivo Testicek Horvat"),
        ]
    )
    hits = idx.screen(names=["Ivo Testic", "IVO TESTIC"], birth_date=None, threshold=70)
    ids = [h.entity_id for h in hits]
    assert ids[0] == "p1"
    assert len(ids) == len(set(ids)) >= 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(idx.screen(names=["Ivo Testic"], birth_date=None, threshold=70, limit=2)) == 2


def test_hit_to_dict_is_json_ready(index):
    hit = index.screen(names=["Abu Tariq"], birth_date=date(1975, 1, 1), nationality="ye")[0]
    data = hit.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert set(data) == {
        "entity_id", "caption", "matched_name", "query_name", "score", "name_score", "reasons", "datasets",
    }
    assert data["reasons"] == list(hit.reasons)
    assert 0 <= data["score"] <= 100


def test_empty_queries(index):
    assert index.screen(names=[], birth_date=None) == []
    assert index.screen(names=["", "  ", "---"], birth_date=None) == []
    assert len(ScreeningIndex([])) == 0
    assert ScreeningIndex([]).screen(names=["Ivo Testic"], birth_date=None) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_normalise_name_gives_ascii_lowercase_tokens(text):
    for token in normalise_name(text):
        assert token and token.isascii() and token.isalnum() and token == token.lower()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_screen_accepts_any_text(index, text):
    for hit in index.screen(names=[text], birth_date=None, threshold=0):
        assert 0 <= hit.score <= 100


# --------------------------------------------------------------------------
# Scale
# --------------------------------------------------------------------------


def test_large_index_finds_planted_entity():
    rng = random.Random(20240601)
    onsets = ["b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "z", "g", "h", "sh", "kh", "p", "f", "ch", "j"]
    nuclei = ["a", "e", "i", "o", "u", "ai", "ou", "ia"]
    codas = ["", "n", "r", "l", "s", "v", "m", "k", "t"]

    def word(lo: int, hi: int) -> str:
        return "".join(
            rng.choice(onsets) + rng.choice(nuclei) + rng.choice(codas) for _ in range(rng.randint(lo, hi))
        ).capitalize()

    given_names = [word(1, 3) for _ in range(3000)]
    surnames = [word(2, 4) for _ in range(25000)]
    entities = []
    for i in range(100_000):
        full = f"{rng.choice(given_names)} {rng.choice(surnames)}"
        aliases = (f"{rng.choice(given_names)} {rng.choice(surnames)}",) if rng.random() < 0.3 else ()
        dob = (f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",)
        entities.append(person(f"gen-{i}", full, *aliases, dob=dob))
    planted = person("planted", "Radomir Zeltovarsky", "Радомир Зелтоварский", dob=("1968-03-14",))
    entities.insert(54_321, planted)
    idx = ScreeningIndex(entities)
    assert len(idx) == 100_001

    hits = idx.screen(names=["ZELTOVARSKII RADOMIR"], birth_date=date(1968, 3, 14))
    assert hits and hits[0].entity_id == "planted"
    assert hits[0].score == 100

    # and a generated entity is found from a misspelt, reordered name
    target = entities[77_777]
    given_name, surname = target.names[0].split()
    typo = surname[:-2] + ("a" if surname[-2] != "a" else "o") + surname[-1]
    hits = idx.screen(names=[f"{typo} {given_name}"], birth_date=None, threshold=80)
    assert target.entity_id in [h.entity_id for h in hits]
