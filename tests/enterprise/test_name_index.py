"""The name conflict index: blocks, warnings, homophones, freed names, live changes, and
that its candidates never miss what a full scan finds."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

from eresident.enterprise.name_index import (
    FREED,
    REGISTERED,
    RESERVED,
    THRESHOLD,
    NameEntry,
    NameIndex,
    normalise_trade_name,
    pinyin_keys,
    synthetic_entries,
)

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def entry(entry_id: str, trade: str, industry: str = "trade", status: str = REGISTERED, **kw) -> NameEntry:
    return NameEntry(entry_id, trade, f"重庆{trade}有限公司", industry, status, **kw)


def by_trade(result) -> dict[str, object]:
    return {w.trade_name: w for w in result.warnings}


def test_identical_trade_name_in_the_same_industry_blocks():
    index = NameIndex([entry("a", "星海", "trade"), entry("b", "星河", "trade")])
    result = index.check("星海", "trade", NOW)
    assert result.blocked
    assert [b.id for b in result.blocks] == ["a"]
    assert result.blocks[0].kind == "identical" and result.blocks[0].same_industry
    assert "重庆星海有限公司" in result.blocks[0].reason
    assert "字号相同且行业相同" in result.blocks[0].reason_zh


def test_identical_trade_name_in_another_industry_is_a_warning():
    index = NameIndex([entry("a", "星海", "technology")])
    result = index.check("星海", "trade", NOW)
    assert not result.blocked
    [warning] = result.warnings
    assert (warning.id, warning.kind, warning.same_industry, warning.score) == ("a", "identical", False, 100.0)


def test_unrelated_names_give_nothing():
    index = NameIndex([entry("a", "星河"), entry("b", "海星"), entry("c", "蓝天")])
    result = index.check("星海", "trade", NOW)
    assert not result.blocked and result.warnings == () and result.similar_total == 0


def test_homophone_by_pinyin():
    index = NameIndex([entry("a", "兴海")])    # xing hai, like 星海
    [warning] = index.check("星海", "trade", NOW).warnings
    assert warning.kind == "homophone" and warning.score == 100.0
    assert warning.char_score == 50.0 and warning.pinyin_score == 100.0
    assert warning.same_industry and "sounds the same" in warning.reason


@pytest.mark.parametrize("registered, proposed", [
    ("新海", "星海"),   # xin / xing
    ("蓝海", "南海"),   # lan / nan
    ("森达", "生达"),   # sen / sheng
])
def test_near_homophones_as_spoken_in_chongqing_and_sichuan(registered, proposed):
    index = NameIndex([entry("a", registered)])
    [warning] = index.check(proposed, "trade", NOW).warnings
    assert warning.kind == "near-homophone"


def test_one_name_inside_another_is_similar():
    index = NameIndex([entry("a", "星海达"), entry("b", "新海达"), entry("c", "星海通达")])
    found = by_trade(index.check("星海", "trade", NOW))
    assert found["星海达"].char_score == 90.0 and found["星海达"].kind == "similar"
    assert found["新海达"].pinyin_score == 90.0 and found["新海达"].char_score < THRESHOLD
    assert "星海通达" in found   # 4 in 2: partial match, scaled
    assert not index.check("星海", "trade", NOW).blocked


def test_traditional_and_simplified_variants_are_the_same_name():
    index = NameIndex([entry("a", "星華")])
    result = index.check("星华", "trade", NOW)
    assert result.blocked and result.trade_name == "星华"
    assert NameIndex([entry("a", "星华")]).check("星 華", "trade", NOW).blocked


def test_freed_less_than_a_year_ago_blocks_and_more_than_a_year_ago_is_free():
    recent = entry("a", "星海", status=FREED, freed_at=NOW - timedelta(days=364))
    old = entry("b", "星海", status=FREED, freed_at=NOW - timedelta(days=366))
    assert NameIndex([recent]).check("星海", "trade", NOW).blocked
    result = NameIndex([old]).check("星海", "trade", NOW)
    assert not result.blocked and result.warnings == ()
    # similar names freed long ago do not warn either
    assert NameIndex([entry("c", "兴海", status=FREED, freed_at=NOW - timedelta(days=400))]).check(
        "星海", "trade", NOW).warnings == ()


def test_freed_on_29_february():
    leap = entry("a", "星海", status=FREED, freed_at=datetime(2028, 2, 29, tzinfo=UTC))
    index = NameIndex([leap])
    assert index.check("星海", "trade", datetime(2029, 2, 27, tzinfo=UTC)).blocked
    assert not index.check("星海", "trade", datetime(2029, 2, 28, tzinfo=UTC)).blocked


def test_reservations_hold_until_they_lapse():
    index = NameIndex([entry("a", "星海", status=RESERVED, reserved_until=NOW + timedelta(days=1))])
    assert index.check("星海", "trade", NOW).blocked
    assert not index.check("星海", "trade", NOW + timedelta(days=2)).blocked
    assert NameIndex([entry("b", "星海", status=RESERVED)]).check("星海", "trade", NOW).blocked


def test_names_are_added_and_removed_live():
    index = NameIndex(synthetic_entries(2_000, seed=1))
    assert not index.check("星海", "trade", NOW).blocked
    index.add(entry("new", "星海", status=RESERVED))
    assert "new" in index and index.check("星海", "trade", NOW).blocked
    index.add(entry("new", "星海", status=REGISTERED))         # same id: replaced
    assert index.get("new").status == REGISTERED
    assert [b.status for b in index.check("星海", "trade", NOW).blocks] == [REGISTERED]
    index.add(entry("homo", "兴海"))
    assert "兴海" in by_trade(index.check("星海", "trade", NOW))
    assert index.remove("new") and not index.remove("new")
    assert not index.check("星海", "trade", NOW).blocked
    assert index.remove("homo")
    assert "兴海" not in by_trade(index.check("星海", "trade", NOW))
    assert len(index) == 2_000
    index.add(entry("again", "星海"))                           # reuses a freed slot
    assert index.check("星海", "trade", NOW).blocked


def test_free_keeps_the_name_for_a_year():
    index = NameIndex([entry("a", "星海")])
    index.free("a", NOW)
    assert index.get("a").status == FREED
    assert index.check("星海", "trade", NOW + timedelta(days=300)).blocked
    assert not index.check("星海", "trade", NOW + timedelta(days=400)).blocked
    with pytest.raises(KeyError):
        index.free("missing", NOW)


def test_purge_drops_names_that_no_longer_count():
    index = NameIndex([entry("a", "星海", status=FREED, freed_at=NOW - timedelta(days=400)),
                       entry("b", "星河", status=RESERVED, reserved_until=NOW - timedelta(days=1)),
                       entry("c", "蓝天")])
    assert index.purge(NOW) == 2
    assert len(index) == 1 and "c" in index and "a" not in index


def test_the_applicants_own_reservation_can_be_excluded():
    index = NameIndex([entry("mine", "星海", status=RESERVED), entry("homo", "兴海")])
    result = index.check("星海", "trade", NOW, exclude_ids=["mine"])
    assert not result.blocked and [w.id for w in result.warnings] == ["homo"]
    result = index.check("星海", "trade", NOW, exclude_ids=["homo"])
    assert result.blocked and result.warnings == ()


def test_ranking_and_the_cut():
    entries = [entry("same", "兴海", "trade"), entry("other", "兴海", "technology"),
               entry("near", "新海", "trade")]
    entries += [entry(f"x{i}", f"星海{c}", "trade") for i, c in enumerate("达通源盛华鑫")]
    index = NameIndex(entries, max_warnings=4)
    result = index.check("星海", "trade", NOW)
    # best score first; at the same score the same industry first, then the closer sound
    assert [w.id for w in result.warnings[:3]] == ["same", "near", "other"]
    assert len(result.warnings) == 4 and result.similar_total == 9


def test_input_checks():
    with pytest.raises(ValueError):
        NameIndex().check("星海", "trade", datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        NameIndex().check("  ", "trade", NOW)
    with pytest.raises(ValueError):
        entry("a", "星海", status="gone")
    with pytest.raises(ValueError):
        entry("a", "星海", status=FREED)
    with pytest.raises(ValueError):
        entry("a", "星海", status=FREED, freed_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        NameIndex([entry("a", " ")])


def test_pinyin_keys():
    assert pinyin_keys("星海")[0] == "xing hai"
    assert pinyin_keys("星海")[1] == pinyin_keys("新海")[1] == pinyin_keys("心海")[1]
    assert pinyin_keys("星海")[1] != pinyin_keys("星河")[1]
    assert pinyin_keys("ab")[1] == "ab"


# --------------------------------------------------------------------------- exactness


@settings(max_examples=500, deadline=None)
@given(a=st.text("abcde", min_size=2, max_size=9), b=st.text("abcde", min_size=2, max_size=9))
def test_above_the_threshold_two_names_always_share_a_pair(a, b):
    # The property that lets posting lists of symbol pairs replace a full scan.
    pairs_a = {a[i:i + 2] for i in range(len(a) - 1)}
    pairs_b = {b[i:i + 2] for i in range(len(b) - 1)}
    if fuzz.WRatio(a, b) >= THRESHOLD:
        assert pairs_a & pairs_b


def test_the_index_finds_exactly_what_a_full_scan_finds():
    entries = synthetic_entries(20_000, seed=11, now=NOW)
    index = NameIndex(entries, max_warnings=10**9)
    trades = [normalise_trade_name(e.trade_name) for e in entries]
    sounds = [pinyin_keys(t)[1] for t in trades]
    holds = [e.holds_until() for e in entries]
    rng = random.Random(5)
    queries = [rng.choice(trades) for _ in range(40)]
    queries += ["".join(rng.choice("鑫华盛恒泰达源兴诚信通新心星") for _ in range(rng.choice((2, 3, 4, 5))))
                for _ in range(40)]
    # long queries take the other path; some contain existing names
    queries += ["".join(rng.choice("鑫华盛恒泰达源兴诚信通新心星") for _ in range(rng.choice((9, 10, 12))))
                for _ in range(10)]
    queries += [rng.choice(trades) + rng.choice(trades) + rng.choice(trades) for _ in range(10)]
    checked = 0
    for query in queries:
        full = process.extract(pinyin_keys(query)[1], sounds, scorer=fuzz.WRatio,
                               score_cutoff=THRESHOLD, limit=None)
        expected = {entries[i].id for _, _, i in full
                    if trades[i] != query and holds[i] > NOW.timestamp()}
        expected |= {e.id for e, t, h in zip(entries, trades, holds, strict=True)
                     if t == query and h > NOW.timestamp() and e.industry_code != "trade"}
        result = index.check(query, "trade", NOW)
        assert {w.id for w in result.warnings} == expected, query
        checked += len(expected)
    assert checked > 1_000   # the queries did find plenty


def brute_force(names: list[str], query: str, threshold: float = THRESHOLD) -> dict[int, float]:
    return {i: score for _, score, i in process.extract(query, names, scorer=fuzz.WRatio,
                                                         score_cutoff=threshold, limit=None)
            if names[i] != query}


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.text("abcd", min_size=1, max_size=14), min_size=1, max_size=60),
       query=st.text("abcd", min_size=2, max_size=14),
       threshold=st.sampled_from([85.0, 88.0, 90.0, 95.0]))
def test_index_equals_full_scan_on_crowded_small_alphabets(names, query, threshold):
    # Latin letters stand for themselves, so these names are their own sound strings; four
    # letters make every kind of overlap, at every length ratio.
    index = NameIndex([entry(str(i), name) for i, name in enumerate(names)], threshold=threshold,
                      max_warnings=10**6)
    found = {int(w.id): w.score for w in index.check(query, "trade", NOW).warnings
             if w.kind != "identical"}
    expected = brute_force(names, query, threshold)
    assert found.keys() == expected.keys()
    for i, score in expected.items():
        assert found[i] == pytest.approx(score, abs=0.06)


@pytest.mark.parametrize("n", range(2, 14))
def test_index_equals_full_scan_at_every_length_ratio(n):
    # Names built around a query of n symbols at every length from 1 to 8n + 3: containing
    # it, contained in it, overlapping its ends, with one symbol changed; so each of
    # rapidfuzz's length-ratio boundaries (1.5 and 8) is crossed in both directions.
    rng = random.Random(n)
    query = "".join(rng.choice("abcd") for _ in range(n))
    names = set()
    for m in range(1, 8 * n + 4):
        pad = "".join(rng.choice("efgh") for _ in range(max(0, m - n)))
        names |= {query + pad, pad + query, pad[: len(pad) // 2] + query + pad[len(pad) // 2:]}
        names |= {query[1:] + pad, pad + query[:-1]}          # overlapping an end
        changed = query[: n // 2] + "z" + query[n // 2 + 1:]
        names |= {changed + pad, pad + changed}
        if m < n:
            names |= {query[i:i + m] for i in range(n - m + 1)}   # inside the query
    names.discard(query)
    names = sorted(names)
    index = NameIndex([entry(str(i), name) for i, name in enumerate(names)], max_warnings=10**6)
    found = {int(w.id): w.score for w in index.check(query, "trade", NOW).warnings}
    expected = brute_force(names, query)
    assert found.keys() == expected.keys()
    assert all(found[i] == pytest.approx(score, abs=0.06) for i, score in expected.items())


def test_threshold_must_keep_the_index_exact():
    for bad in (80.0, 84.9, 100.1):
        with pytest.raises(ValueError):
            NameIndex(threshold=bad)


def test_every_character_match_is_also_a_sound_match():
    entries = synthetic_entries(3_000, seed=2)
    trades = [normalise_trade_name(e.trade_name) for e in entries]
    for query in trades[:60]:
        q_sound = pinyin_keys(query)[1]
        for trade in trades:
            assert fuzz.WRatio(query, trade) <= fuzz.WRatio(q_sound, pinyin_keys(trade)[1]) + 1e-9


# --------------------------------------------------------------------------- speed and threads


def test_checks_stay_fast_on_100k_names():
    # A regression guard, not the benchmark: a full scan of 100k names costs ~200 ms of CPU.
    entries = synthetic_entries(100_000, seed=3)
    index = NameIndex(entries)
    rng = random.Random(1)
    costs = []
    for e in rng.sample(entries, 300):
        started = time.thread_time()
        index.check(e.trade_name, e.industry_code, NOW)
        costs.append(time.thread_time() - started)
    costs.sort()
    assert costs[len(costs) // 2] < 0.005
    assert costs[int(len(costs) * 0.99)] < 0.05


def test_concurrent_adds_and_checks():
    index = NameIndex(synthetic_entries(5_000, seed=4))
    errors: list[BaseException] = []

    def writer():
        try:
            for i in range(500):
                index.add(entry(f"w{i}", f"星海{i % 7}"))
                if i % 3 == 0:
                    index.remove(f"w{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        index.check("星海", "trade", NOW)
    thread.join()
    assert not errors
    assert len(index) == 5_000 + 500 - 167
