"""The engine's rules, step kind by step kind, including every refusal."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta

import pytest

from eresident.workflow.definition import load_definition
from eresident.workflow.semantics import (
    ActionTaken,
    Actor,
    AutoDecided,
    BranchArrived,
    CaseEnded,
    CaseStarted,
    CaseState,
    Claimed,
    DeadlineMissed,
    Escalated,
    FactsUpdated,
    ParallelStarted,
    Released,
    StepCancelled,
    StepCompleted,
    StepEntered,
    WorkflowError,
    act,
    available_actions,
    case_status,
    check_allowed,
    claim,
    decided_by,
    escalate_due,
    next_due,
    open_steps,
    release,
    signal,
    start,
    update_facts,
)
from tests.workflow.builders import CAL, DEMO, MONDAY, admin, approver, demo, local, reviewer

PANEL = textwrap.dedent("""\
    process: panel
    version: 1
    title: Panel decision
    calendar: LJ
    facts:
      amount: number
    start: review
    steps:
      review:
        kind: task
        title: Review
        role: reviewer
        claim: required
        sticky: true
        status: awaiting_review
        claimed_status: in_review
        deadline: {working_hours: 2}
        escalate: {to_role: admin, reassign: true}
        actions:
          forward: {next: panel}
          ask: {next: answer, note_required: true}
      answer:
        kind: wait
        status: waiting_for_applicant
        on: {answered: review}
        deadline: {working_hours: 14}
        on_timeout: refused
      panel:
        kind: task
        title: Panel
        role: approver
        region: [home, TF]
        quorum: {required: 2}
        not_same_actor_as: [review]
        actions:
          approve: {next: approved}
          refuse: {next: refused, quorum: 1}
          defer: {next: approved}
      approved: {kind: end, outcome: approved, status: approved}
      refused: {kind: end, outcome: refused}
    """)


def panel(text: str = PANEL):
    return load_definition(text, source_name="panel.yaml")


def types(effects) -> list[str]:
    return [e.type for e in effects]


def refused(code: str, call, *args, **kwargs) -> WorkflowError:
    with pytest.raises(WorkflowError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def at_review(defn=None, now: datetime = MONDAY):
    """A demo case whose automatic triage sent it to a person."""
    defn = defn or demo()
    state, _ = start(defn, {"verified": True, "hits": 2}, now, CAL)
    state, _ = signal(defn, state, "identity_checked", now, CAL)
    state, _ = signal(defn, state, "checks_done", now, CAL)
    assert state.active_steps() == ["review"]
    return defn, state


# --- start, waits and parallel ------------------------------------------------------------------

def test_start_enters_the_first_steps_and_records_the_facts():
    defn = demo()
    state, effects = start(defn, {"hits": 0, "verified": True, "unrelated": 5}, MONDAY, CAL, region="LJ")
    assert (state.process, state.version, state.region) == ("demo", 1, "LJ")
    assert state.facts == {"hits": 0, "verified": True}
    assert state.active_steps() == ["identity", "checks"]
    assert types(effects) == ["CaseStarted", "ParallelStarted", "StepEntered", "StepEntered"]
    started = effects[0]
    assert isinstance(started, CaseStarted) and started.ignored_facts == ("unrelated",)
    assert isinstance(effects[1], ParallelStarted) and effects[1].branches == ("identity", "checks")
    assert all(e.at == MONDAY for e in effects)


def test_the_join_waits_for_every_branch():
    defn = demo()
    state, _ = start(defn, {"hits": 0, "verified": True}, MONDAY, CAL)
    state, effects = signal(defn, state, "checks_done", MONDAY, CAL)
    assert state.active_steps() == ["identity"]
    assert types(effects) == ["StepCompleted", "BranchArrived"]
    assert (effects[1].arrived, effects[1].of) == (1, 2)
    later = MONDAY + timedelta(hours=1)
    state, effects = signal(defn, state, "identity_checked", later, CAL)
    assert types(effects) == ["StepCompleted", "BranchArrived", "AutoDecided", "CaseEnded"]
    arrived = effects[1]
    assert isinstance(arrived, BranchArrived) and (arrived.arrived, arrived.of) == (2, 2)
    assert state.frames == {}
    assert state.outcome == "approved" and state.ended_at == later


def test_the_automatic_step_records_the_rule_that_decided():
    defn = demo()
    state, _ = start(defn, {"hits": 0, "verified": True}, MONDAY, CAL)
    state, _ = signal(defn, state, "checks_done", MONDAY, CAL)
    state, effects = signal(defn, state, "identity_checked", MONDAY, CAL)
    decided = next(e for e in effects if isinstance(e, AutoDecided))
    assert (decided.step, decided.rule_index, decided.outcome, decided.next) == ("triage", 0, "clean", "approved")
    assert decided.expression == "verified and hits == 0"
    assert decided.facts_seen == {"verified": True, "hits": 0}
    entry = next(h for h in state.history if h.step == "triage")
    assert (entry.how, entry.rule_index, entry.result) == ("rule", 0, "clean")
    assert decided_by(state) == "automatic"


def test_otherwise_decides_when_no_rule_holds():
    _, state = at_review()
    entry = next(h for h in state.history if h.step == "triage")
    assert (entry.rule_index, entry.result, entry.next) == (None, "otherwise", "review")


def test_a_missing_fact_sends_the_case_to_a_person_and_is_recorded():
    defn = demo()
    state, _ = start(defn, {"verified": True}, MONDAY, CAL)
    state, _ = signal(defn, state, "checks_done", MONDAY, CAL)
    state, effects = signal(defn, state, "identity_checked", MONDAY, CAL)
    decided = next(e for e in effects if isinstance(e, AutoDecided))
    assert decided.rule_index is None and decided.missing_facts == ("hits",)
    assert state.active_steps() == ["review"]
    assert next(h for h in state.history if h.step == "triage").missing_facts == ("hits",)


def test_facts_arrive_with_events():
    defn = demo()
    state, _ = start(defn, {}, MONDAY, CAL)
    state, effects = signal(defn, state, "checks_done", MONDAY, CAL, facts={"hits": 0, "country": "DZ"})
    assert isinstance(effects[0], FactsUpdated) and effects[0].changed == {"hits": 0, "country": "DZ"}
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL, facts={"verified": True})
    assert state.outcome == "approved"


def test_an_event_nobody_waits_for_is_refused_and_changes_nothing():
    defn = demo()
    state, _ = start(defn, {}, MONDAY, CAL)
    before = state.to_json()
    error = refused("unexpected-event", signal, defn, state, "answered", MONDAY, CAL, facts={"hits": 1})
    assert error.status == 409
    assert "it waits for: identity (identity_checked); checks (checks_done)" in error.message
    assert state.to_json() == before


def test_facts_of_the_wrong_type_are_refused():
    defn = demo()
    refused("invalid-fact", start, defn, {"hits": "three"}, MONDAY, CAL)
    refused("invalid-fact", start, defn, {"hits": True}, MONDAY, CAL)   # a bool is not a number here
    refused("invalid-fact", start, defn, {"score": float("nan")}, MONDAY, CAL)
    state, _ = start(defn, {"score": 1}, MONDAY, CAL)                   # an int is a number
    assert state.facts == {"score": 1}


def test_update_facts_and_removing_a_fact():
    defn = demo()
    state, _ = start(defn, {"hits": 1}, MONDAY, CAL)
    state, effects = update_facts(defn, state, {"hits": None, "country": "MA"}, MONDAY)
    assert state.facts == {"country": "MA"}
    assert effects[0].changed == {"hits": None, "country": "MA"}
    same, effects = update_facts(defn, state, {"country": "MA"}, MONDAY)
    assert effects == [] and same.facts == {"country": "MA"}


def test_an_end_inside_a_branch_ends_the_case_and_cancels_the_rest():
    text = DEMO.replace("on: {checks_done: triage}", "on: {checks_done: triage, hit: refused}")
    defn = demo(text)
    state, _ = start(defn, {}, MONDAY, CAL)
    state, effects = signal(defn, state, "hit", MONDAY, CAL)
    assert state.outcome == "refused" and state.active == [] and state.frames == {}
    assert types(effects) == ["StepCompleted", "StepCancelled", "CaseEnded"]
    assert isinstance(effects[1], StepCancelled) and effects[1].step == "identity"
    assert next(h for h in state.history if h.step == "identity").how == "cancelled"
    refused("case-ended", signal, defn, state, "identity_checked", MONDAY, CAL)


# --- tasks ------------------------------------------------------------------------------------

def test_a_task_step_moves_on_the_action():
    defn, state = at_review()
    state, effects = act(defn, state, "review", "recommend", reviewer(), MONDAY, CAL)
    assert types(effects) == ["ActionTaken", "StepCompleted", "StepEntered"]
    taken = effects[0]
    assert isinstance(taken, ActionTaken) and (taken.actor, taken.votes, taken.required) == ("reviewer-1", 1, 1)
    done = effects[1]
    assert isinstance(done, StepCompleted) and done.actors == ("reviewer-1",) and done.next == "decision"
    entered = effects[2]
    assert isinstance(entered, StepEntered) and (entered.role, entered.regions) == ("approver", ("LJ",))
    state, effects = act(defn, state, "decision", "approve", approver(), MONDAY, CAL)
    assert isinstance(effects[-1], CaseEnded) and effects[-1].outcome == "approved"
    assert decided_by(state) == "human"


def test_wrong_role_is_forbidden():
    defn, state = at_review()
    error = refused("wrong-role", act, defn, state, "review", "recommend", approver(), MONDAY, CAL)
    assert error.status == 403


def test_wrong_region_is_forbidden():
    defn, state = at_review()
    error = refused("wrong-region", act, defn, state, "review", "recommend", reviewer(region="TF"),
                    MONDAY, CAL)
    assert error.status == 403 and "LJ" in error.message


def test_a_case_of_another_home_region_is_served_by_that_region():
    defn = demo()
    state, _ = start(defn, {"hits": 1}, MONDAY, CAL, region="TF")
    state, _ = signal(defn, state, "checks_done", MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    refused("wrong-region", act, defn, state, "review", "recommend", reviewer(region="LJ"), MONDAY, CAL)
    state, _ = act(defn, state, "review", "recommend", reviewer(region="TF"), MONDAY, CAL)
    assert state.active_steps() == ["decision"]


def test_region_any_and_explicit_regions():
    defn = demo(DEMO.replace("    role: reviewer\n", "    role: reviewer\n    region: any\n"))
    _, state = at_review(defn)
    state, _ = act(defn, state, "review", "recommend", reviewer(region="TF"), MONDAY, CAL)
    pdefn = panel()
    pstate = _panel_at_panel(pdefn)
    _, effects = act(pdefn, pstate, "panel", "approve", approver(2, region="TF"), MONDAY, CAL)
    assert effects[0].votes == 1
    refused("wrong-region", act, pdefn, pstate, "panel", "approve", approver(2, region="GZ"), MONDAY, CAL)


def test_unknown_action_and_inactive_step():
    defn, state = at_review()
    error = refused("unknown-action", act, defn, state, "review", "approve", reviewer(), MONDAY, CAL)
    assert error.status == 422 and "recommend, ask" in error.message
    error = refused("step-not-active", act, defn, state, "decision", "approve", approver(), MONDAY, CAL)
    assert error.status == 409 and "it is at 'review'" in error.message
    state2, _ = start(defn, {}, MONDAY, CAL)
    refused("not-a-task", act, defn, state2, "identity", "identity_checked", reviewer(), MONDAY, CAL)


def test_a_note_is_required_where_the_definition_says_so():
    defn, state = at_review()
    error = refused("note-required", act, defn, state, "review", "ask", reviewer(), MONDAY, CAL, note="  ")
    assert error.status == 422
    state, _ = act(defn, state, "review", "ask", reviewer(), MONDAY, CAL, note="Your photo is blurred.")
    assert state.history[-1].votes[0].note == "Your photo is blurred."


def test_separation_of_duties():
    defn, state = at_review()
    official = Actor("official-7", {"reviewer", "approver"}, "LJ")
    state, _ = act(defn, state, "review", "recommend", official, MONDAY, CAL)
    error = refused("separation-of-duties", act, defn, state, "decision", "approve", official, MONDAY, CAL)
    assert error.status == 403 and "'review'" in error.message
    assert check_allowed(defn, state, "decision", official) is not None
    assert available_actions(defn, state, official) == {}
    state, _ = act(defn, state, "decision", "approve", approver(), MONDAY, CAL)
    assert state.outcome == "approved"


def test_separation_of_duties_remembers_every_earlier_round():
    # the official reviewed once, asked for information; someone else reviewed after the answer
    defn, state = at_review()
    first = Actor("official-7", {"reviewer", "approver"}, "LJ")
    state, _ = act(defn, state, "review", "ask", first, MONDAY, CAL, note="More please")
    state, _ = signal(defn, state, "answered", MONDAY, CAL)
    state, _ = act(defn, state, "review", "recommend", reviewer(2), MONDAY, CAL)
    refused("separation-of-duties", act, defn, state, "decision", "approve", first, MONDAY, CAL)


def test_the_request_for_information_loop():
    defn, state = at_review()
    state, _ = act(defn, state, "review", "ask", reviewer(), MONDAY, CAL, note="Which company?")
    assert state.active_steps() == ["answer"]
    state, _ = signal(defn, state, "answered", MONDAY, CAL)
    assert state.active_steps() == ["review"]
    state, _ = act(defn, state, "review", "ask", reviewer(), MONDAY, CAL, note="And its address?")
    state, _ = signal(defn, state, "answered", MONDAY, CAL)
    assert [h.step for h in state.history].count("review") == 2
    assert [h.step for h in state.history].count("answer") == 2


# --- claims, sticky claims, quorum -----------------------------------------------------------------

def _panel_at_panel(defn, who=None):
    state, _ = start(defn, {"amount": 1}, MONDAY, CAL)
    holder = who or reviewer()
    state, _ = claim(defn, state, "review", holder, MONDAY)
    state, _ = act(defn, state, "review", "forward", holder, MONDAY, CAL)
    assert state.active_steps() == ["panel"]
    return state


def test_a_required_claim():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    assert case_status(defn, state) == "awaiting_review"
    refused("not-claimed", act, defn, state, "review", "forward", reviewer(), MONDAY, CAL)
    state, effects = claim(defn, state, "review", reviewer(), MONDAY)
    assert isinstance(effects[0], Claimed) and effects[0].actor == "reviewer-1"
    assert case_status(defn, state) == "in_review"
    same, effects = claim(defn, state, "review", reviewer(), MONDAY)   # claiming twice changes nothing
    assert effects == [] and same is state
    error = refused("already-claimed", claim, defn, state, "review", reviewer(2), MONDAY)
    assert error.status == 409
    refused("not-claimed", act, defn, state, "review", "forward", reviewer(2), MONDAY, CAL)
    refused("not-claimant", release, defn, state, "review", reviewer(2), MONDAY)
    state, effects = release(defn, state, "review", reviewer(), MONDAY)
    assert isinstance(effects[0], Released) and case_status(defn, state) == "awaiting_review"
    state, _ = claim(defn, state, "review", reviewer(2), MONDAY)
    state, _ = act(defn, state, "review", "forward", reviewer(2), MONDAY, CAL)
    assert state.active_steps() == ["panel"]


def test_an_administrator_can_release_someone_elses_claim():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(), MONDAY)
    state, effects = release(defn, state, "review", admin(), MONDAY, holder="reviewer-1")
    assert (effects[0].actor, effects[0].by) == ("reviewer-1", "admin-1")
    assert state.active[0].claims == []


def test_claims_can_be_switched_off():
    defn = demo(DEMO.replace("    role: reviewer\n", "    role: reviewer\n    claim: none\n"))
    _, state = at_review(defn)
    refused("claims-disabled", claim, defn, state, "review", reviewer(), MONDAY)


def test_a_sticky_claim_returns_to_the_same_official_after_the_answer():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(3), MONDAY)
    state, _ = act(defn, state, "review", "ask", reviewer(3), MONDAY, CAL, note="Passport page 2")
    assert case_status(defn, state) == "waiting_for_applicant"
    state, effects = signal(defn, state, "answered", MONDAY, CAL)
    restored = [e for e in effects if isinstance(e, Claimed)]
    assert len(restored) == 1 and restored[0].actor == "reviewer-3" and restored[0].restored
    assert case_status(defn, state) == "in_review"
    refused("already-claimed", claim, defn, state, "review", reviewer(4), MONDAY)
    state, _ = act(defn, state, "review", "forward", reviewer(3), MONDAY, CAL)


def test_quorum_needs_distinct_officials_taking_the_same_action():
    defn = panel()
    state = _panel_at_panel(defn)
    state, effects = act(defn, state, "panel", "approve", approver(1), MONDAY, CAL)
    assert types(effects) == ["ActionTaken"] and (effects[0].votes, effects[0].required) == (1, 2)
    assert state.active_steps() == ["panel"]
    refused("already-acted", act, defn, state, "panel", "approve", approver(1), MONDAY, CAL)
    state, effects = act(defn, state, "panel", "defer", approver(2), MONDAY, CAL)   # a different action
    assert state.active_steps() == ["panel"]
    state, effects = act(defn, state, "panel", "approve", approver(3), MONDAY, CAL)
    done = next(e for e in effects if isinstance(e, StepCompleted))
    assert done.actors == ("approver-1", "approver-3") and done.result == "approve"
    assert state.outcome == "approved"
    votes = next(h for h in state.history if h.step == "panel").votes
    assert [(v.actor, v.action) for v in votes] == [("approver-1", "approve"), ("approver-2", "defer"),
                                                     ("approver-3", "approve")]


def test_an_action_may_need_fewer_votes_than_the_step():
    defn = panel()
    state = _panel_at_panel(defn)
    state, _ = act(defn, state, "panel", "refuse", approver(1), MONDAY, CAL)   # refuse: quorum 1
    assert state.outcome == "refused"


def test_quorum_with_claims_holds_as_many_seats_as_votes_needed():
    defn = panel(PANEL.replace("    quorum: {required: 2}", "    quorum: {required: 2}\n    claim: required"))
    state = _panel_at_panel(defn)
    state, _ = claim(defn, state, "panel", approver(1), MONDAY)
    state, _ = claim(defn, state, "panel", approver(2), MONDAY)
    refused("already-claimed", claim, defn, state, "panel", approver(3), MONDAY)
    state, _ = act(defn, state, "panel", "approve", approver(1), MONDAY, CAL)
    state, _ = act(defn, state, "panel", "approve", approver(2), MONDAY, CAL)
    assert state.outcome == "approved"


def test_the_reviewer_may_not_sit_on_the_panel():
    defn = panel()
    both = Actor("official-9", {"reviewer", "approver"}, "LJ")
    state = _panel_at_panel(defn, who=both)
    refused("separation-of-duties", act, defn, state, "panel", "approve", both, MONDAY, CAL)


# --- deadlines and escalation ---------------------------------------------------------------------

def test_the_deadline_counts_working_hours():
    defn = panel()
    friday = local(2026, 3, 6, 16, 30)
    state, effects = start(defn, {}, friday, CAL)
    entered = next(e for e in effects if isinstance(e, StepEntered))
    assert entered.due_at == local(2026, 3, 9, 10)       # 1 h on Friday + 1 h on Monday
    assert state.active[0].due_at == local(2026, 3, 9, 10)
    assert next_due(state) == local(2026, 3, 9, 10)
    assert open_steps(defn, state)[0].due_at == local(2026, 3, 9, 10)


def test_escalation_fires_once_when_the_deadline_passes():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    due = state.active[0].due_at
    same, effects = escalate_due(defn, state, due - timedelta(minutes=1), CAL)
    assert effects == [] and same is state
    state, effects = escalate_due(defn, state, due + timedelta(minutes=1), CAL)
    assert types(effects) == ["DeadlineMissed", "Escalated"]
    missed, escalated = effects
    assert isinstance(missed, DeadlineMissed) and missed.due_at == due
    assert isinstance(escalated, Escalated) and (escalated.to_role, escalated.reassign) == ("admin", True)
    assert state.active[0].overdue and state.active[0].escalated
    assert open_steps(defn, state)[0].escalated_to == "admin"
    assert next_due(state) is None
    _, effects = escalate_due(defn, state, due + timedelta(hours=5), CAL)
    assert effects == []


def test_after_escalation_with_reassign_the_escalation_role_may_act():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    boss = admin()
    refused("wrong-role", claim, defn, state, "review", boss, MONDAY)
    state, _ = escalate_due(defn, state, MONDAY + timedelta(days=1), CAL)
    state, _ = claim(defn, state, "review", boss, MONDAY + timedelta(days=1))
    state, effects = act(defn, state, "review", "forward", boss, MONDAY + timedelta(days=1), CAL)
    done = next(e for e in effects if isinstance(e, StepCompleted))
    assert done.overdue is True


def test_completing_late_is_recorded_even_without_the_timer():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(), MONDAY)
    state, effects = act(defn, state, "review", "forward", reviewer(), MONDAY + timedelta(days=3), CAL)
    assert next(e for e in effects if isinstance(e, StepCompleted)).overdue is True
    assert next(h for h in state.history if h.step == "review").overdue is True


def test_a_wait_with_on_timeout_moves_on_when_its_deadline_passes():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(), MONDAY)
    state, _ = act(defn, state, "review", "ask", reviewer(), MONDAY, CAL, note="?")
    due = state.active[0].due_at
    assert due == local(2026, 3, 4, 10)  # 14 working hours: Monday 10:00 + two 7-hour days
    state, effects = escalate_due(defn, state, due + timedelta(seconds=1), CAL)
    assert types(effects) == ["DeadlineMissed", "StepCompleted", "CaseEnded"]
    assert effects[1].how == "timeout" and state.outcome == "refused"
    assert decided_by(state) == "timeout"


# --- versions, purity, serialisation --------------------------------------------------------------

def test_a_case_keeps_the_version_it_started_with():
    v1 = demo()
    v2 = demo(DEMO.replace("version: 1", "version: 2").replace("hits == 0", "hits <= 1"))
    state, _ = start(v1, {"hits": 1, "verified": True}, MONDAY, CAL)
    error = refused("wrong-version", signal, v2, state, "checks_done", MONDAY, CAL)
    assert error.status == 409
    state, _ = signal(v1, state, "checks_done", MONDAY, CAL)
    state, _ = signal(v1, state, "identity_checked", MONDAY, CAL)
    assert state.version == 1 and state.active_steps() == ["review"]   # v1's rule: hits == 0
    new, _ = start(v2, {"hits": 1, "verified": True}, MONDAY, CAL)
    new, _ = signal(v2, new, "checks_done", MONDAY, CAL)
    new, _ = signal(v2, new, "identity_checked", MONDAY, CAL)
    assert new.version == 2 and new.outcome == "approved"               # v2's rule: hits <= 1
    refused("wrong-process", act, panel(), state, "review", "recommend", reviewer(), MONDAY, CAL)


def test_commands_leave_the_given_state_untouched():
    defn, state = at_review()
    before = json.dumps(state.to_json())
    after, _ = act(defn, state, "review", "recommend", reviewer(), MONDAY, CAL)
    assert json.dumps(state.to_json()) == before
    assert after.to_json() != state.to_json()
    with pytest.raises(WorkflowError):
        act(defn, after, "decision", "approve", reviewer(), MONDAY, CAL)
    assert after.active_steps() == ["decision"]


def test_inplace_changes_the_given_state():
    defn, state = at_review()
    same, _ = act(defn, state, "review", "recommend", reviewer(), MONDAY, CAL, inplace=True)
    assert same is state and state.active_steps() == ["decision"]


def test_state_and_effects_are_plain_json_and_read_back_equal():
    defn = panel()
    journey = []
    state, effects = start(defn, {"amount": 12.5}, MONDAY, CAL)
    journey.append((state, effects))
    state, effects = claim(defn, state, "review", reviewer(), MONDAY)
    journey.append((state, effects))
    state, effects = act(defn, state, "review", "forward", reviewer(), MONDAY, CAL)
    journey.append((state, effects))
    state, effects = act(defn, state, "panel", "approve", approver(1), MONDAY, CAL, note="fine")
    journey.append((state, effects))
    for state, effects in journey:
        text = json.dumps(state.to_json())
        assert CaseState.from_json(json.loads(text)) == state
        for effect in effects:
            data = json.loads(json.dumps(effect.to_json()))
            assert data["type"] == effect.type and data["at"] == MONDAY.isoformat()


def test_an_unknown_state_format_is_refused():
    _, state = at_review()
    data = state.to_json()
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        CaseState.from_json(data)


def test_naive_times_are_refused():
    refused("naive-time", start, demo(), {}, datetime(2026, 3, 2, 10), CAL)


def test_a_deadline_needs_the_calendar():
    refused("calendar-required", start, panel(), {}, MONDAY, None)


# --- worklist questions -----------------------------------------------------------------------------

def test_open_steps_describe_the_worklist_rows():
    defn = panel()
    state, _ = start(defn, {}, MONDAY, CAL)
    state, _ = claim(defn, state, "review", reviewer(), MONDAY)
    (row,) = open_steps(defn, state)
    assert (row.step, row.kind, row.title, row.role, row.regions) == ("review", "task", "Review", "reviewer",
                                                                      ("LJ",))
    assert (row.status, row.claims, row.actions) == ("in_review", ("reviewer-1",), ("forward", "ask"))
    state, _ = act(defn, state, "review", "ask", reviewer(), MONDAY, CAL, note="?")
    (row,) = open_steps(defn, state)
    assert (row.kind, row.events, row.role) == ("wait", ("answered",), None)


def test_available_actions_follow_the_rules():
    defn = panel()
    state = _panel_at_panel(defn)
    iid = state.active[0].id
    assert available_actions(defn, state, approver(1)) == {iid: ("approve", "refuse", "defer")}
    assert available_actions(defn, state, reviewer()) == {}
    assert available_actions(defn, state, approver(1, region="GZ")) == {}
    state, _ = act(defn, state, "panel", "approve", approver(1), MONDAY, CAL)
    assert available_actions(defn, state, approver(1)) == {}
    assert available_actions(defn, state, approver(2)) == {iid: ("approve", "refuse", "defer")}


def test_an_ambiguous_step_needs_its_instance():
    text = DEMO.replace("on: {identity_checked: triage}", "on: {identity_checked: triage, look: review}").replace(
        "on: {checks_done: triage}", "on: {checks_done: triage, look: review}")
    defn = demo(text)
    state, _ = start(defn, {}, MONDAY, CAL)
    state, _ = signal(defn, state, "look", MONDAY, CAL)   # both branches move to review
    assert state.active_steps() == ["review", "review"]
    refused("ambiguous-step", act, defn, state, "review", "recommend", reviewer(), MONDAY, CAL)
    first = state.active[0].id
    state, effects = act(defn, state, "review", "recommend", reviewer(), MONDAY, CAL, instance_id=first)
    assert effects[0].instance == first
    assert state.active_steps() == ["review", "decision"]
