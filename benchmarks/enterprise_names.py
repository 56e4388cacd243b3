"""Name conflict check against 1,000,000 registered names: the index beside a full scan.

Builds synthetic names (2-4 common trade-name characters, Zipf-like), then times
NameIndex.check() over a mix of queries (exact conflicts, near-homophones, clean names) and,
in the same run, a brute-force rapidfuzz scan (process.extract over all trade names) for a
handful of them. For those it also scans all sound strings and checks that the index found
exactly the same similar names. Prints a table; the last line is the ratio.

    python benchmarks/enterprise_names.py [--names 1000000] [--queries 1500] [--brute 5]

Part (1) of `eresident bench enterprise` (benchmarks/enterprise.py), which calls run().
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime

from rapidfuzz import fuzz, process

from eresident.enterprise.name_index import (
    THRESHOLD,
    NameIndex,
    TRADE_NAME_CHARS,
    normalise_trade_name,
    pinyin_keys,
    synthetic_entries,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Characters rare in trade names, for queries that should find little.
RARE_CHARS = "璟翊琛珩玥瑾煜璞琨昀晔骐骁珏璘珺琰瑄璇昶暄曦霁翎羲遥渺岚屹峤嵘巍崧澈泷"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def make_queries(entries, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(kind, trade name, industry code): a third each of exact conflicts, near-homophones
    (one character swapped for another of the same merged sound) and clean names."""
    by_sound: dict[str, list[str]] = defaultdict(list)
    for char in dict.fromkeys(TRADE_NAME_CHARS):
        by_sound[pinyin_keys(char)[1]].append(char)
    queries = []
    for number in range(count):
        entry = rng.choice(entries)
        kind = ("exact", "homophone", "clean")[number % 3]
        if kind == "exact":
            trade = entry.trade_name
        elif kind == "homophone":
            chars = list(entry.trade_name)
            position = rng.randrange(len(chars))
            options = [c for c in by_sound[pinyin_keys(chars[position])[1]] if c != chars[position]]
            chars[position] = rng.choice(options) if options else rng.choice(RARE_CHARS)
            trade = "".join(chars)
        else:
            trade = "".join(rng.choice(RARE_CHARS) for _ in range(rng.choice((2, 3, 4))))
        queries.append((kind, trade, entry.industry_code))
    return queries


def run(*, names: int = 1_000_000, queries: int = 1500, brute: int = 5, seed: int = 4,
        freeze: bool = True) -> dict:
    """Build the index over `names` synthetic names, time `queries` checks and `brute` full scans.
    Returns the figures (and the report lines in "lines"); the index is dropped before returning."""
    rng = random.Random(seed)
    lines: list[str] = []
    started = time.perf_counter()
    entries = synthetic_entries(names, seed=seed, now=NOW)
    generated = time.perf_counter()
    index = NameIndex(entries)
    built = time.perf_counter()
    if freeze:
        # What a node does after loading its index at startup: the million long-lived
        # objects leave the collector's generations, so a full collection does not walk them.
        gc.collect()
        gc.freeze()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"names: {len(index):,}  generated in {generated - started:.1f} s, "
                 f"index built in {built - generated:.1f} s, peak RSS {rss_mib:,.0f} MiB")
    print(lines[-1], flush=True)

    picked = make_queries(entries, queries, rng)
    for kind, trade, code in picked[:30]:  # warm the syllable cache and the allocator
        index.check(trade, code, NOW)
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    blocked = warned = 0
    candidates: list[int] = []
    for kind, trade, code in picked:
        t0, c0 = time.perf_counter(), time.thread_time()
        result = index.check(trade, code, NOW)
        c1, t1 = time.thread_time(), time.perf_counter()
        for key in (kind, "all"):
            wall[key].append((t1 - t0) * 1000)
            cpu[key].append((c1 - c0) * 1000)
        blocked += result.blocked
        warned += bool(result.warnings)
        candidates.append(result.candidates)

    # The same run, brute force: rapidfuzz over every trade name (characters), and over every
    # sound string with the index's threshold, to check the index misses nothing.
    trades = [normalise_trade_name(e.trade_name) for e in entries]
    sounds = [pinyin_keys(t)[1] for t in trades]
    holds = [e.holds_until() for e in entries]
    brute_ms: list[float] = []
    mismatches = 0
    picks = rng.sample([q for q in picked if q[0] != "clean"], min(brute, len(picked)))
    for kind, trade, code in picks:
        query = normalise_trade_name(trade)
        t0 = time.perf_counter()
        process.extract(query, trades, scorer=fuzz.WRatio, limit=20)
        brute_ms.append((time.perf_counter() - t0) * 1000)
        q_sound = pinyin_keys(query)[1]
        full = process.extract(q_sound, sounds, scorer=fuzz.WRatio, score_cutoff=THRESHOLD,
                               limit=None)
        expected = {entries[i].id for _, _, i in full
                    if trades[i] != query and holds[i] > NOW.timestamp()}
        expected |= {e.id for e, t, h in zip(entries, trades, holds)
                     if t == query and h > NOW.timestamp() and e.industry_code != code}
        found = index.check(trade, code, NOW)
        if found.similar_total != len(expected):
            mismatches += 1
    del index, entries, trades, sounds, holds
    if freeze:
        gc.unfreeze()
    gc.collect()

    load = os.getloadavg()[0]
    lines.append("")
    lines.append(f"{'what':<34}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    rows = [(f"indexed check ({k}), wall", wall[k]) for k in ("exact", "homophone", "clean", "all")]
    rows += [("indexed check (all), CPU", cpu["all"]), ("brute-force scan, wall", brute_ms)]
    for label, values in rows:
        lines.append(f"{label:<34}{len(values):>6}{percentile(values, .5):>10.2f}"
                     f"{percentile(values, .99):>10.2f}{max(values):>10.2f}")
    lines.append("")
    lines.append(f"queries blocked: {blocked}, with warnings: {warned}, candidates scored p50/p99: "
                 f"{percentile(candidates, .5):.0f}/{percentile(candidates, .99):.0f}")
    lines.append(f"index vs full scan of sound strings: {len(picks) - mismatches}/{len(picks)} queries "
                 f"found exactly the same similar names")
    lines.append(f"load average during the run: {load:.1f} on {os.cpu_count()} cores"
                 + ("  (busy machine: compare CPU times)" if load > (os.cpu_count() or 1) else ""))
    return {"names": names, "p50_ms": statistics.median(wall["all"]), "p99_ms": percentile(wall["all"], .99),
            "cpu_p99_ms": percentile(cpu["all"], .99), "brute_p50_ms": statistics.median(brute_ms),
            "brute_n": len(brute_ms), "mismatches": mismatches, "load": load, "lines": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1500)
    parser.add_argument("--brute", type=int, default=5, help="queries also run as a full scan")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the built index to the cyclic garbage collector")
    args, _ = parser.parse_known_args(argv)  # `eresident bench` adds --seconds, --clients
    result = run(names=args.names, queries=args.queries, brute=args.brute, seed=args.seed,
                 freeze=not args.no_freeze)
    print("\n".join(result["lines"][1:]))
    ratio = result["brute_p50_ms"] / result["p50_ms"]
    print(f"ratio brute/indexed p50={ratio:,.0f} ; indexed p99={result['p99_ms']:.2f} ms "
          f"(target < 20 ms)", flush=True)
    return 1 if result["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
