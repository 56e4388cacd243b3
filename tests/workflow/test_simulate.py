"""The simulation: deterministic for a seed, sane numbers, and a year of traffic in one run."""

from __future__ import annotations

import random
import textwrap

import pytest

from eresident.workflow.definition import load_definition
from eresident.workflow.simulate import ERESIDENCY_SCENARIO, compare, make_dist, simulate
from tests.workflow.builders import eresidency


def run(version: int, *, days: int = 20, per_day: float = 120, seed: int = 1, **overrides):
    scenario = {**ERESIDENCY_SCENARIO, **overrides}
    return simulate(eresidency(version), arrivals_per_day=per_day, days=days, seed=seed, **scenario)


def test_the_same_seed_gives_the_same_report():
    a, b = run(1, seed=42), run(1, seed=42)
    assert a == b                     # wall-clock and CPU time are left out of the comparison
    assert a.to_text().splitlines()[:-1] == b.to_text().splitlines()[:-1]
    assert run(1, seed=43) != a


def test_a_report_has_sane_numbers():
    report = run(1, days=30, per_day=100)
    assert 2700 < report.cases < 3300            # Poisson arrivals: 3000 expected
    assert report.finished == report.cases and report.unfinished == 0
    assert sum(report.outcomes.values()) == report.finished
    assert report.decided == {"human": report.finished}
    assert 0 < report.decision_days_p50 <= report.decision_days_p90
    assert 0 < report.decision_working_hours_p50 <= report.decision_working_hours_p90
    assert report.decision_working_hours_p50 < report.decision_days_p50 * 24   # only office hours count
    review = report.steps["review"]
    assert review.entered >= report.cases and review.queue_max >= review.queue_mean >= 0
    assert report.steps["decision"].entered == report.cases
    assert 0 < report.utilisation["reviewer"] < 1
    assert report.transitions > 4 * report.cases


def test_the_re_engineered_process_decides_sooner_with_fewer_people():
    before, after = run(1, days=30), run(2, days=30)
    assert before.automatic_share == 0
    assert after.automatic_share > 0.85
    assert after.decision_days_p50 < before.decision_days_p50
    assert after.utilisation["reviewer"] < before.utilisation["reviewer"]
    assert after.rules["triage:clean"] + after.rules["triage:refer"] == after.cases
    table = compare(before, after)
    assert "e-residency v1" in table and "e-residency v2" in table
    assert "time to decision p50 (days)" in table and "decided automatically" in table
    assert "queue review mean/max" in table


def test_v3_sends_high_risk_cases_to_two_approvers():
    report = run(3, days=30)
    panel = report.steps["panel_decision"]
    assert panel.entered > 0 and panel.entered == report.rules["route_decision:high_risk"]
    assert report.unfinished == 0


def test_split_votes_do_not_leave_a_case_stuck():
    text = textwrap.dedent("""\
        process: vote
        version: 1
        title: Vote
        calendar: LJ
        start: vote
        steps:
          vote:
            kind: task
            role: approver
            quorum: 2
            actions:
              yes: {next: done}
              no: {next: done}
          done: {kind: end, outcome: decided}
        """)
    defn = load_definition(text)
    for per_day in (40, 1):   # busy, and idle people who must be called back for the third vote
        report = simulate(defn, arrivals_per_day=per_day, days=20, staff={"approver": 4}, seed=3,
                          choices={"vote": {"yes": 1, "no": 1}})
        assert report.cases > 0 and report.unfinished == 0
        assert report.steps["vote"].completed == report.cases


def test_without_staff_cases_stay_open_and_are_reported():
    report = run(1, days=5, per_day=10, staff={"reviewer": 0, "approver": 2}, drain_days=10)
    assert report.finished == 0 and report.unfinished == report.cases > 0
    assert report.steps["review"].queue_max == report.cases


def test_a_timeout_in_the_simulation_takes_the_timeout_path():
    text = textwrap.dedent("""\
        process: answer
        version: 1
        title: Answer or lapse
        calendar: LJ
        start: wait
        steps:
          wait:
            kind: wait
            on: {answered: done}
            deadline: {working_hours: 7}
            on_timeout: lapsed
          done: {kind: end, outcome: answered}
          lapsed: {kind: end, outcome: lapsed}
        """)
    report = simulate(load_definition(text), arrivals_per_day=20, days=10, staff={}, seed=5,
                      event_delay={"answered": "uniform:0,96"})
    assert set(report.outcomes) == {"answered", "lapsed"}
    assert report.decided.get("timeout") == report.outcomes["lapsed"]


@pytest.mark.parametrize(("spec", "low", "high"), [
    (5, 5, 5), ("7.5", 7.5, 7.5), ("exp:10", 0, 1000), ("lognormal:30,10", 0, 1000),
    ("uniform:2,4", 2, 4), ("triangular:1,2,9", 1, 9), ({"uniform": [3, 3]}, 3, 3),
    (lambda rng: -5, 0, 0),
])
def test_distributions(spec, low, high):
    sample = make_dist(spec)
    rng = random.Random(1)
    values = [sample(rng) for _ in range(200)]
    assert all(low <= v <= high for v in values)


def test_lognormal_has_the_asked_mean():
    sample = make_dist("lognormal:30,10")
    rng = random.Random(2)
    values = [sample(rng) for _ in range(20000)]
    assert abs(sum(values) / len(values) - 30) < 1


@pytest.mark.parametrize("spec", ["gamma:3", "exp:0", "uniform:5,1", {"a": 1, "b": 2}, True, "lognormal:1"])
def test_bad_distributions_are_refused(spec):
    with pytest.raises((ValueError, TypeError)):
        make_dist(spec)


def test_a_year_of_one_region_simulates():
    """100,000 cases (274 a day for a year) through today's process, every one by people."""
    report = run(1, days=365, per_day=274, seed=7)
    assert 98_000 < report.cases < 102_000
    assert report.finished == report.cases
    assert report.decided == {"human": report.cases}
    assert 1 < report.decision_days_p50 < report.decision_days_p90 < 60
    assert report.steps["decision"].entered == report.cases
    assert 0.3 < report.utilisation["reviewer"] < 1
    print(f"\n{report.cases} cases in {report.elapsed_seconds:.1f} s "
          f"({report.cpu_seconds:.1f} s CPU, {report.cases_per_second:,.0f} cases per CPU second)")
