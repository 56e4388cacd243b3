"""What changed between versions, as sentences."""

from __future__ import annotations

from eresident.workflow.diff import diff, summary
from tests.workflow.builders import DEMO, demo, eresidency


def test_identical_definitions_have_no_differences():
    assert diff(demo(), demo()) == []


def test_v1_to_v2_names_the_re_engineering():
    lines = diff(eresidency(1), eresidency(2))
    assert "process: version 1 → 2" in lines
    assert "process: start identity_check → intake" in lines
    assert "step 'intake' added: parallel: identity_check, automatic_checks, joining at triage" in lines
    assert ("step 'triage' added: automatic: when identity_verified and screening_hits == 0 and not "
            "refused_before → clean → approved; otherwise → refer → review") in lines
    assert "step 'identity_check': event 'identity_checked' goes to review → triage" in lines
    assert "step 'review': deadline none → 14 working hours" in lines
    assert "step 'decision': escalation none → to admin" in lines


def test_v2_to_v3_names_the_panel():
    lines = diff(eresidency(2), eresidency(3))
    assert "step 'review': action 'recommend_approve' goes to decision → route_decision" in lines
    assert any(line.startswith("step 'panel_decision' added: task for approver") and "quorum 2" in line
               and "not the actor of review" in line for line in lines)
    assert not any(line.startswith("step 'decision'") for line in lines)


def test_field_changes_are_each_named():
    changed = (DEMO.replace("role: approver", "role: admin")
               .replace("when: verified and hits == 0", "when: verified and hits <= 1")
               .replace("      refuse: {next: refused}\n", "")
               .replace("not_same_actor_as: [review]", "not_same_actor_as: [review]\n    quorum: 2\n"
                        "    deadline: {working_hours: 7}")
               .replace("  country: string\n", "  country: string\n  age: int\n")
               .replace("on: {answered: review}", "on: {answered: review, withdrawn: refused}"))
    lines = diff(demo(), demo(changed))
    assert "step 'decision': role approver → admin" in lines
    assert "step 'triage': rule 1 condition 'verified and hits == 0' → 'verified and hits <= 1'" in lines
    assert "step 'decision': action 'refuse' removed" in lines
    assert "step 'decision': quorum 1 → 2" in lines
    assert "step 'decision': deadline none → 7 working hours" in lines
    assert "fact 'age' added (int)" in lines
    assert "step 'answer': now also waits for 'withdrawn' (→ refused)" in lines
    assert len(lines) == 7


def test_removed_steps_and_changed_kinds():
    a = eresidency(2)
    b = eresidency(1)
    lines = diff(a, b)
    assert any(line.startswith("step 'triage' removed (was automatic:") for line in lines)
    assert summary(a.steps["review"]).startswith("task for reviewer: recommend_approve → decision")
