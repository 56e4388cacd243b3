"""Loading and checking process definitions: every kind of mistake is refused with its line."""

from __future__ import annotations

import json

import pytest

from eresident.workflow.definition import (
    AutoStep,
    DefinitionError,
    ParallelStep,
    TaskStep,
    WaitStep,
    definition_from_data,
    load_definition,
    load_packaged,
    packaged_definitions,
)
from tests.workflow.builders import DEMO, column_of, demo, line_of


def problems(text: str, **kwargs) -> list:
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, source_name="broken.yaml", **kwargs)
    return caught.value.problems


def only_problem(text: str, **kwargs):
    found = problems(text, **kwargs)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_the_demo_definition_loads_with_every_step_kind():
    defn = demo()
    assert defn.key == "demo@v1"
    kinds = {sid: step.kind for sid, step in defn.steps.items()}
    assert kinds == {"intake": "parallel", "identity": "wait", "checks": "wait", "triage": "auto",
                     "review": "task", "answer": "wait", "decision": "task", "approved": "end",
                     "refused": "end"}
    assert isinstance(defn.steps["intake"], ParallelStep)
    assert defn.steps["decision"].not_same_actor_as == ("review",)
    assert defn.steps["review"].region == ("home",)
    assert defn.steps["review"].actions["ask"].note_required is True


def test_the_key_on_of_a_wait_step_stays_a_string():
    # YAML 1.1 reads `on:` as the boolean true; the engine's loader must not.
    step = demo().steps["identity"]
    assert isinstance(step, WaitStep)
    assert step.on == {"identity_checked": "triage"}


def test_yes_and_no_stay_text():
    text = DEMO.replace("outcome: refused}", "outcome: no}")
    assert demo(text).steps["refused"].outcome == "no"


def test_shorthands_for_actions_quorum_region_and_otherwise():
    text = DEMO.replace("recommend: {next: decision}", "recommend: decision").replace(
        "    not_same_actor_as: [review]", "    not_same_actor_as: [review]\n    quorum: 2\n    region: any")
    defn = demo(text)
    decision = defn.steps["decision"]
    assert isinstance(decision, TaskStep)
    assert defn.steps["review"].actions["recommend"].next == "decision"
    assert decision.quorum.required == 2
    assert decision.region == ("any",)
    triage = defn.steps["triage"]
    assert isinstance(triage, AutoStep)
    assert (triage.otherwise.next, triage.otherwise.outcome) == ("review", "otherwise")


def test_the_shipped_definitions_load():
    names = packaged_definitions()
    assert {"e-residency.v1", "e-residency.v2", "e-residency.v3"} <= set(names)
    assert "company-formation.v1" in names
    for name in names:
        defn = load_packaged(name)
        process, version = name.rsplit(".v", 1)
        assert (defn.process, defn.version) == (process, int(version))


def test_json_gives_the_same_definition_as_yaml():
    defn = demo()
    again = load_definition(json.dumps(defn.to_data(), indent="\t"), source_name="demo.json")
    assert again == defn
    assert again.digest == defn.digest


def test_the_digest_changes_with_the_content():
    assert demo().digest != demo(DEMO.replace("title: Demo process", "title: Other")).digest


def test_data_without_text_is_checked_the_same_way():
    data = demo().to_data()
    data["steps"]["review"]["actions"]["recommend"]["next"] = "decisoin"
    with pytest.raises(DefinitionError) as caught:
        definition_from_data(data)
    (problem,) = caught.value.problems
    assert problem.line is None
    assert "next 'decisoin' is not a step (did you mean 'decision'?)" in problem.message


# --- source errors ----------------------------------------------------------------------------

def test_yaml_syntax_error_names_the_line():
    text = DEMO.replace("branches: [identity, checks]", "branches: [identity, checks")
    problem = only_problem(text)
    assert problem.message.startswith("not valid YAML")
    assert problem.line is not None and problem.line >= line_of(text, "branches: [identity")


def test_a_key_given_twice_is_refused_at_its_second_place():
    text = DEMO.replace("  approved: {kind: end, outcome: approved}",
                        "  approved: {kind: end, outcome: approved}\n  approved: {kind: end, outcome: yes}")
    problem = only_problem(text)
    assert problem.line == line_of(text, "approved: {kind", 2)
    assert f"key 'approved' is given twice (first given on line {line_of(text, 'approved: {kind')})" \
        in problem.message


def test_a_key_given_twice_in_json_is_refused():
    text = '{\n  "process": "demo",\n  "process": "again"\n}'
    problem = only_problem(text)
    assert (problem.line, problem.column) == (3, 3)
    assert "given twice" in problem.message


def test_json_syntax_error_names_line_and_column():
    text = '{\n  "process": "demo",\n  "version": 1,\n}'
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, source_name="broken.json")
    (problem,) = caught.value.problems
    assert problem.line == 4 and problem.column == 1
    assert problem.message.startswith("not valid JSON")


def test_anchors_and_aliases_are_refused():
    text = DEMO.replace("  approved: {kind: end, outcome: approved}",
                        "  approved: &end {kind: end, outcome: approved}\n  other: *end")
    problem = only_problem(text)
    assert "aliases" in problem.message


def test_a_document_that_is_not_a_mapping_is_refused():
    problem = only_problem("- one\n- two\n")
    assert problem.line == 1
    assert "a process definition is a mapping" in problem.message


# --- shape errors -----------------------------------------------------------------------------

def test_unknown_field_names_line_column_and_suggests():
    text = DEMO.replace("recommend: {next: decision}", "recommend: {nxet: decision}")
    problem = only_problem(text)
    assert problem.line == line_of(text, "nxet")
    assert problem.column == column_of(text, "nxet")
    assert problem.message == ("step 'review': actions.recommend: unknown field 'nxet' "
                               "(did you mean 'next'?)")


def test_missing_field_points_at_the_step():
    text = DEMO.replace("    role: reviewer\n", "")
    problem = only_problem(text)
    assert problem.line == line_of(text, "  review:")
    assert problem.message == "step 'review': 'role' is required"


def test_wrong_type_names_the_field():
    text = DEMO.replace("version: 1", "version: one")
    problem = only_problem(text)
    assert problem.line == 2
    assert problem.message == "version: must be a whole number"


def test_quorum_below_one_is_refused():
    text = DEMO.replace("    not_same_actor_as: [review]", "    not_same_actor_as: [review]\n    quorum: {required: 0}")
    problem = only_problem(text)
    assert problem.line == line_of(text, "required: 0")
    assert problem.message == "step 'decision': quorum.required: must be at least 1"


def test_unknown_step_kind_suggests_the_right_one():
    text = DEMO.replace("  answer:\n    kind: wait", "  answer:\n    kind: wiat")
    problem = only_problem(text)
    assert problem.line == line_of(text, "kind: wiat")
    assert "kind 'wiat' is not a step kind (did you mean 'wait'?)" in problem.message


def test_a_step_without_kind_is_refused():
    text = DEMO.replace("    kind: wait\n    on: {answered", "    on: {answered")
    problem = only_problem(text)
    assert problem.line == line_of(text, "  answer:")
    assert "'kind' is required" in problem.message


def test_step_ids_are_lowercase_names():
    text = DEMO.replace("  refused: {kind", "  Refused: {kind")
    found = problems(text)
    assert any(p.line == line_of(text, "Refused:") and "step id 'Refused'" in p.message for p in found)


def test_a_step_may_not_repeat_its_id():
    text = DEMO.replace("  answer:\n    kind: wait", "  answer:\n    id: answer\n    kind: wait")
    problem = only_problem(text)
    assert problem.line == line_of(text, "id: answer")
    assert "the step's id is its key" in problem.message


def test_unknown_fact_type_is_refused():
    text = DEMO.replace("  country: string", "  country: text")
    problem = only_problem(text)
    assert problem.line == line_of(text, "country: text")
    assert problem.message.startswith("facts.country: 'text' is not allowed")


# --- meaning errors ---------------------------------------------------------------------------

def test_unknown_next_is_named_with_a_suggestion():
    text = DEMO.replace("approve: {next: approved}", "approve: {next: aproved}")
    problem = only_problem(text)
    assert str(problem) == (f"line {line_of(text, 'aproved')}, column {column_of(text, 'aproved')}: "
                            "step 'decision': next 'aproved' is not a step (did you mean 'approved'?)")


def test_unknown_start_is_refused():
    problem = only_problem(DEMO.replace("start: intake", "start: intaek"))
    assert problem.line == line_of(DEMO, "start: intake")
    assert problem.message == "start 'intaek' is not a step (did you mean 'intake'?)"


def test_unknown_event_target_and_otherwise_and_join_are_refused():
    text = (DEMO.replace("on: {answered: review}", "on: {answered: reveiw}")
            .replace("otherwise: review", "otherwise: reviw")
            .replace("join: triage", "join: triag"))
    found = problems(text)
    messages = {(p.line, p.message) for p in found}
    assert (line_of(text, "answered: reveiw"),
            "step 'answer': next 'reveiw' is not a step (did you mean 'review'?)") in messages
    assert (line_of(text, "otherwise: reviw"),
            "step 'triage': otherwise 'reviw' is not a step (did you mean 'review'?)") in messages
    assert (line_of(text, "join: triag"),
            "step 'intake': join 'triag' is not a step (did you mean 'triage'?)") in messages


def test_unknown_role_is_refused_with_a_suggestion():
    text = DEMO.replace("role: approver", "role: aprover")
    problem = only_problem(text)
    assert problem.line == line_of(text, "role: aprover")
    assert problem.message.startswith("step 'decision': role 'aprover' is not a role (did you mean 'approver'?)")


def test_roles_can_be_given():
    text = DEMO.replace("role: approver", "role: judge")
    defn = load_definition(text, roles=("reviewer", "judge"))
    assert defn.steps["decision"].role == "judge"


def test_unreachable_step_is_refused_at_its_key():
    text = DEMO + "  orphan: {kind: end, outcome: lost}\n"
    problem = only_problem(text)
    assert problem.line == line_of(text, "orphan:")
    assert problem.message == "step 'orphan' can never be reached from the start 'intake'"


def test_a_branch_that_never_reaches_the_join_is_refused():
    text = DEMO.replace("on: {checks_done: triage}", "on: {checks_done: review}")
    found = problems(text)
    assert any(p.line == line_of(text, "branches: [identity, checks]")
               and p.column == column_of(text, "checks]")
               and p.message == "step 'intake': branch 'checks' never reaches the join 'triage'"
               for p in found), [str(p) for p in found]


def test_a_branch_that_leads_back_to_its_parallel_is_refused():
    text = DEMO.replace("on: {checks_done: triage}", "on: {checks_done: triage, restart: intake}")
    found = problems(text)
    assert any("branch 'checks' leads back to 'intake'" in p.message for p in found), [str(p) for p in found]


def test_a_loop_without_a_task_or_wait_is_refused():
    text = DEMO.replace("otherwise: review", "otherwise: again") + (
        "  again:\n    kind: auto\n    rules:\n      - when: hits > 1\n        outcome: many\n"
        "        next: triage\n    otherwise: review\n")
    found = problems(text)
    loop = [p for p in found if "form a loop with no task or wait step" in p.message]
    assert len(loop) == 1, [str(p) for p in found]
    assert "'triage' → 'again' → 'triage'" in loop[0].message or "'again' → 'triage' → 'again'" in loop[0].message


def test_a_loop_through_a_wait_is_allowed():
    defn = demo()  # review → answer (wait) → review is a loop, and fine
    assert defn.steps["answer"].on["answered"] == "review"


def test_a_step_that_can_never_reach_an_end_is_refused():
    text = DEMO.replace("ask: {next: answer, note_required: true}", "ask: {next: limbo}") + (
        "  limbo:\n    kind: task\n    role: reviewer\n    actions:\n      again: {next: limbo}\n")
    found = problems(text)
    assert any(p.line == line_of(text, "  limbo:") and "step 'limbo' can never reach an end step"
               in p.message for p in found), [str(p) for p in found]


def test_a_process_needs_an_end():
    text = DEMO.replace("  approved: {kind: end, outcome: approved}", "  approved:\n    kind: wait\n"
                        "    on: {never: approved}").replace("  refused: {kind: end, outcome: refused}",
                                                            "  refused:\n    kind: wait\n    on: {never: refused}")
    found = problems(text)
    assert any("no end step" in p.message for p in found)


def test_expression_syntax_error_points_at_the_column():
    text = DEMO.replace("when: verified and hits == 0", "when: verified and and hits == 0")
    problem = only_problem(text)
    assert problem.line == line_of(text, "and and")
    assert problem.column == column_of(text, "and hits")
    assert problem.message.startswith("step 'triage': rule 1: 'and' cannot stand here")


def test_expression_in_quotes_points_at_the_column_too():
    text = DEMO.replace("when: verified and hits == 0", 'when: "verified and hits == \'0\'"')
    problem = only_problem(text)
    assert problem.column == column_of(text, "== '0'")
    assert "compares a whole number with text" in problem.message


def test_expression_with_an_unknown_fact_suggests_the_declared_one():
    text = DEMO.replace("when: verified and hits == 0", "when: verifed and hits == 0")
    problem = only_problem(text)
    assert problem.column == column_of(text, "verifed")
    assert problem.message == "step 'triage': rule 1: unknown fact 'verifed' (did you mean 'verified'?)"


def test_expression_must_be_true_or_false():
    problem = only_problem(DEMO.replace("when: verified and hits == 0", "when: hits + 1"))
    assert "a condition must be true or false" in problem.message


def test_escalation_needs_a_deadline_and_a_known_role():
    text = DEMO.replace("    role: reviewer\n", "    role: reviewer\n    escalate: {to_role: bos}\n")
    found = problems(text)
    messages = {p.message for p in found}
    assert "step 'review': escalate needs a deadline (deadline: {working_hours: N})" in messages
    assert any(m.startswith("step 'review': role 'bos' is not a role") for m in messages)
    assert all(p.line == line_of(text, "escalate:") for p in found)


def test_deadline_must_be_positive():
    text = DEMO.replace("    role: reviewer\n", "    role: reviewer\n    deadline: {working_hours: 0}\n")
    problem = only_problem(text)
    assert problem.message == "step 'review': deadline.working_hours: must be greater than 0"


def test_separation_of_duties_must_name_a_task_step():
    text = DEMO.replace("not_same_actor_as: [review]", "not_same_actor_as: [reveiw, answer, decision]")
    found = problems(text)
    messages = [p.message for p in found]
    assert "step 'decision': not_same_actor_as 'reveiw' is not a step (did you mean 'review'?)" in messages
    assert ("step 'decision': not_same_actor_as 'answer' is a wait step; only task steps have actors"
            in messages)
    assert any("names the step itself" in m for m in messages)


def test_region_must_be_home_any_or_a_region_code():
    text = DEMO.replace("    role: reviewer\n", "    role: reviewer\n    region: [home, chongqing]\n")
    problem = only_problem(text)
    assert problem.line == line_of(text, "region: [home")
    assert problem.column == column_of(text, "chongqing")
    assert "region 'chongqing' must be 'home', 'any' or a region code" in problem.message


def test_on_timeout_needs_a_deadline():
    text = DEMO.replace("on: {answered: review}", "on: {answered: review}\n    on_timeout: refused")
    problem = only_problem(text)
    assert problem.message == "step 'answer': on_timeout needs a deadline"


def test_unknown_calendar_is_refused():
    text = DEMO.replace("calendar: LJ", "calendar: LX")
    problem = only_problem(text)
    assert problem.line == line_of(text, "calendar: LX")
    assert "calendar 'LX' is not known" in problem.message


def test_sticky_needs_claims():
    text = DEMO.replace("    role: reviewer\n", "    role: reviewer\n    claim: none\n    sticky: true\n")
    problem = only_problem(text)
    assert problem.message == "step 'review': sticky needs claims (claim: optional or required)"


def test_every_problem_is_listed_in_line_order():
    text = (DEMO.replace("version: 1", "version: 0")
            .replace("recommend: {next: decision}", "recommend: {next: decision, colour: red}"))
    found = problems(text)
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert len(found) == 2
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, source_name="broken.yaml")
    assert str(caught.value).startswith("broken.yaml: 2 problems\n  line 2, column 10: version: must be at least 1")
