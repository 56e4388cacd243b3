"""The e-residency process as data: version 1 is today's behaviour, version 2 the re-engineered
one, version 3 adds a second approver above a risk score."""

from __future__ import annotations

from datetime import timedelta

import pytest

from eresident.identity.service import STATUSES
from eresident.workflow.semantics import (
    AutoDecided,
    Escalated,
    WorkflowError,
    act,
    case_status,
    claim,
    decided_by,
    escalate_due,
    release,
    signal,
    start,
)
from tests.workflow.builders import CAL, CLEAN, MONDAY, admin, approver, eresidency, reviewer

HIT = {**CLEAN, "screening_hits": 1, "risk_score": 0.82}


def status(defn, state) -> str:
    return case_status(defn, state)


# --- version 1: today's process ---------------------------------------------------------------

def test_v1_uses_todays_statuses():
    defn = eresidency(1)
    names = {step.status for step in defn.steps.values()} | {
        step.claimed_status for step in defn.steps.values() if getattr(step, "claimed_status", None)}
    assert names == {"awaiting_identity_check", "awaiting_review", "in_review", "info_requested",
                     "awaiting_decision", "approved", "refused"}
    assert names <= set(STATUSES)


def test_v1_journey_with_a_request_for_information():
    defn = eresidency(1)
    state, _ = start(defn, {k: v for k, v in CLEAN.items() if k != "identity_verified"}, MONDAY, CAL)
    seen = [status(defn, state)]
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL, facts={"identity_verified": True})
    seen.append(status(defn, state))
    state, _ = claim(defn, state, "review", reviewer(1), MONDAY)
    seen.append(status(defn, state))
    state, _ = act(defn, state, "review", "request_info", reviewer(1), MONDAY, CAL, note="A clearer photo")
    seen.append(status(defn, state))
    state, _ = signal(defn, state, "resubmitted", MONDAY, CAL, facts={"screening_hits": 0})
    seen.append(status(defn, state))   # back with the same reviewer, as today
    state, _ = act(defn, state, "review", "recommend_approve", reviewer(1), MONDAY, CAL)
    seen.append(status(defn, state))
    state, _ = act(defn, state, "decision", "approve", approver(1), MONDAY, CAL)
    seen.append(status(defn, state))
    assert seen == ["awaiting_identity_check", "awaiting_review", "in_review", "info_requested", "in_review",
                    "awaiting_decision", "approved"]
    assert decided_by(state) == "human"


def test_v1_release_returns_the_case_to_the_queue():
    defn = eresidency(1)
    state, _ = start(defn, CLEAN, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(1), MONDAY)
    with pytest.raises(WorkflowError) as caught:
        release(defn, state, "review", reviewer(2), MONDAY)
    assert caught.value.code == "not-claimant"
    state, _ = release(defn, state, "review", reviewer(1), MONDAY)
    assert status(defn, state) == "awaiting_review"


def test_v1_four_eyes_and_reasons_for_refusal():
    defn = eresidency(1)
    both = type(reviewer())("official-5", {"reviewer", "approver"}, "LJ")
    state, _ = start(defn, CLEAN, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    state, _ = claim(defn, state, "review", both, MONDAY)
    with pytest.raises(WorkflowError) as caught:
        act(defn, state, "review", "recommend_refuse", both, MONDAY, CAL)
    assert caught.value.code == "note-required"
    state, _ = act(defn, state, "review", "recommend_refuse", both, MONDAY, CAL, note="Forged visa")
    with pytest.raises(WorkflowError) as caught:
        act(defn, state, "decision", "refuse", both, MONDAY, CAL, note="Forged visa")
    assert (caught.value.code, caught.value.status) == ("separation-of-duties", 403)
    with pytest.raises(WorkflowError) as caught:
        act(defn, state, "decision", "refuse", approver(2), MONDAY, CAL)
    assert caught.value.code == "note-required"
    state, _ = act(defn, state, "decision", "refuse", approver(2), MONDAY, CAL, note="Forged visa")
    assert status(defn, state) == "refused"


def test_v1_a_screening_hit_is_for_a_person_never_a_refusal():
    defn = eresidency(1)
    state, _ = start(defn, HIT, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    assert state.active_steps() == ["review"]
    state, _ = claim(defn, state, "review", reviewer(1), MONDAY)
    state, _ = act(defn, state, "review", "recommend_approve", reviewer(1), MONDAY, CAL)
    state, _ = act(defn, state, "decision", "approve", approver(1), MONDAY, CAL)
    assert state.outcome == "approved"


def test_v1_has_no_automatic_step_and_no_deadline():
    defn = eresidency(1)
    assert not any(step.kind in ("auto", "parallel") for step in defn.steps.values())
    assert not any(getattr(step, "deadline", None) for step in defn.steps.values())


# --- version 2: re-engineered ------------------------------------------------------------------

@pytest.mark.parametrize("order", [("identity_checked", "checks_completed"),
                                   ("checks_completed", "identity_checked")])
def test_v2_approves_a_clean_case_automatically(order):
    defn = eresidency(2)
    state, _ = start(defn, {}, MONDAY, CAL)
    assert sorted(state.active_steps()) == ["automatic_checks", "identity_check"]
    facts = {"identity_checked": {"identity_verified": True},
             "checks_completed": {"screening_hits": 0, "risk_score": 0.0, "refused_before": False}}
    state, _ = signal(defn, state, order[0], MONDAY, CAL, facts=facts[order[0]])
    assert state.outcome is None
    state, effects = signal(defn, state, order[1], MONDAY + timedelta(hours=3), CAL, facts=facts[order[1]])
    decided = next(e for e in effects if isinstance(e, AutoDecided))
    assert (decided.step, decided.rule_index, decided.outcome) == ("triage", 0, "clean")
    assert state.outcome == "approved" and decided_by(state) == "automatic"
    assert status(defn, state) == "approved"


@pytest.mark.parametrize(("facts", "missing"), [
    ({**CLEAN, "screening_hits": 2}, ()),
    ({**CLEAN, "refused_before": True}, ()),
    ({**CLEAN, "identity_verified": False}, ()),
    ({k: v for k, v in CLEAN.items() if k != "screening_hits"}, ("screening_hits",)),
])
def test_v2_sends_every_other_case_to_a_review_and_a_decision(facts, missing):
    defn = eresidency(2)
    state, _ = start(defn, facts, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    state, effects = signal(defn, state, "checks_completed", MONDAY, CAL)
    decided = next(e for e in effects if isinstance(e, AutoDecided))
    assert (decided.rule_index, decided.outcome, decided.missing_facts) == (None, "refer", missing)
    assert status(defn, state) == "awaiting_review"
    state, _ = claim(defn, state, "review", reviewer(1), MONDAY)
    state, _ = act(defn, state, "review", "recommend_approve", reviewer(1), MONDAY, CAL)
    with pytest.raises(WorkflowError):
        act(defn, state, "decision", "approve", reviewer(1), MONDAY, CAL)
    state, _ = act(defn, state, "decision", "approve", approver(1), MONDAY, CAL)
    assert state.outcome == "approved" and decided_by(state) == "human"


def test_v2_late_review_escalates_to_an_administrator():
    defn = eresidency(2)
    state, _ = start(defn, HIT, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    state, _ = signal(defn, state, "checks_completed", MONDAY, CAL)
    due = state.active[0].due_at
    assert due == CAL.add_working_hours(MONDAY, 14)
    state, effects = escalate_due(defn, state, due + timedelta(minutes=5), CAL)
    escalated = next(e for e in effects if isinstance(e, Escalated))
    assert escalated.to_role == "admin"
    with pytest.raises(WorkflowError) as caught:   # escalation informs; it does not hand over
        claim(defn, state, "review", admin(), due)
    assert caught.value.code == "wrong-role"


# --- version 3: two approvers above a risk score ---------------------------------------------------

def _v3_to_decision(facts):
    defn = eresidency(3)
    state, _ = start(defn, facts, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    state, _ = signal(defn, state, "checks_completed", MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(1), MONDAY)
    state, effects = act(defn, state, "review", "recommend_approve", reviewer(1), MONDAY, CAL)
    return defn, state, effects


def test_v3_high_risk_needs_two_approvers_who_did_not_review():
    defn, state, effects = _v3_to_decision(HIT)
    routed = next(e for e in effects if isinstance(e, AutoDecided))
    assert (routed.step, routed.outcome, routed.expression) == ("route_decision", "high_risk", "risk_score >= 0.7")
    assert state.active_steps() == ["panel_decision"]
    both = type(reviewer())("reviewer-1", {"reviewer", "approver"}, "LJ")
    with pytest.raises(WorkflowError) as caught:
        act(defn, state, "panel_decision", "approve", both, MONDAY, CAL)
    assert caught.value.code == "separation-of-duties"
    state, _ = act(defn, state, "panel_decision", "approve", approver(1), MONDAY, CAL)
    assert state.outcome is None
    with pytest.raises(WorkflowError) as caught:
        act(defn, state, "panel_decision", "approve", approver(1), MONDAY, CAL)
    assert caught.value.code == "already-acted"
    state, _ = act(defn, state, "panel_decision", "approve", approver(2), MONDAY, CAL)
    assert state.outcome == "approved"
    officials = {v.actor for h in state.history for v in h.votes}
    assert officials == {"reviewer-1", "approver-1", "approver-2"}   # three people decided


def test_v3_lower_risk_keeps_one_approver():
    defn, state, _ = _v3_to_decision({**HIT, "risk_score": 0.5})
    assert state.active_steps() == ["decision"]
    state, _ = act(defn, state, "decision", "approve", approver(1), MONDAY, CAL)
    assert state.outcome == "approved"


def test_the_same_applicant_takes_a_different_path_on_a_new_version():
    """Behaviour follows the definition: no code differs between these two cases."""
    paths = []
    for version in (1, 2):
        defn = eresidency(version)
        state, _ = start(defn, CLEAN, MONDAY, CAL)
        for event in ("identity_checked", "checks_completed"):
            if any(event in getattr(defn.steps[i.step], "on", {}) for i in state.active):
                state, _ = signal(defn, state, event, MONDAY, CAL)
        paths.append((state.outcome, state.active_steps()))
    assert paths == [(None, ["review"]), ("approved", [])]
