"""The process map of a definition, with where a case is."""

from __future__ import annotations

from eresident.workflow.render import Edge, mermaid, process_map
from eresident.workflow.semantics import signal, start
from tests.workflow.builders import CAL, CLEAN, MONDAY, eresidency


def test_the_map_has_every_step_and_every_way_between_them():
    defn = eresidency(2)
    nodes, edges = process_map(defn)
    assert [n.id for n in nodes] == list(defn.steps)
    assert Edge("intake", "identity_check", "branch") in edges
    assert Edge("triage", "approved", "clean") in edges and Edge("triage", "review", "refer") in edges
    assert Edge("review", "info_requested", "request_info") in edges
    assert Edge("info_requested", "review", "resubmitted") in edges
    assert {n.state for n in nodes} == {""}


def test_the_map_marks_where_the_case_is():
    defn = eresidency(2)
    state, _ = start(defn, {**CLEAN, "screening_hits": 1}, MONDAY, CAL)
    state, _ = signal(defn, state, "identity_checked", MONDAY, CAL)
    nodes, _ = process_map(defn, state)
    marks = {n.id: n.state for n in nodes}
    assert marks["automatic_checks"] == "open" and marks["identity_check"] == "done"
    assert marks["intake"] == "done" and marks["review"] == ""
    text = mermaid(defn, state)
    assert text.startswith("flowchart TD")
    assert '  review["Review<br/>reviewer"]' in text
    assert "  triage -->|clean| approved" in text
    assert "  class automatic_checks open" in text
    assert "  class intake,identity_check done" in text
