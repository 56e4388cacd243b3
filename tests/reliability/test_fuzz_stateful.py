"""Stateful fuzzing: schemathesis 4's state machine over the OpenAPI links of the node's own document
(`kit/openapi.py` declares them). A scenario creates something — a name reservation, a company
formation, an uploaded document, an application — and follows the links of the answer with the id it
got back: release the reservation, form a company with it, read / change / submit the formation,
read and sign its articles, read the document, apply with it as the photo, read the application.
These ids exist only in the run, so the stateless run (`test_fuzz_api.py`, fixed ids) cannot reach
what they open.

Same world, callers and checks as the stateless run; derandomized and bounded (ERESIDENT_FUZZ_SCENARIOS
scenarios of at most ERESIDENT_FUZZ_STEPS steps). Figures go to
test-artifacts/reliability/fuzz-stateful-<backend>.json.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from pypinyin import lazy_pinyin
from schemathesis.core.failures import FailureGroup

from eresident.security.service import resolve_session
from tests.enterprise.helpers import formation_body
from tests.factories import Api, Person, application_payload, png_bytes
from tests.reliability.test_fuzz_api import ARTIFACTS, CHECKS, Tally, World, build_world, fuzz_operation

SCENARIOS = int(os.environ.get("ERESIDENT_FUZZ_SCENARIOS", "40"))
STEPS = int(os.environ.get("ERESIDENT_FUZZ_STEPS", "10"))
MAX_RESTARTS = 5
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"  # replaced through a link, or refused as unknown
TRADE_CHARACTERS = "星海云帆山城江岸青松明月金桥长风锦程朝阳白鹭红岩"  # pairs of them: trade names for reservations


def new_newcomer(node, world: World) -> None:
    """A confirmed applicant who has not applied yet, as the world's "newcomer" (so an upload → apply
    chain can succeed: one application per person)."""
    token = Api(node).applicant()
    with node.ctx.database.session(write=False) as db:
        session = resolve_session(db=db, token=token, now=node.ctx.clock.now())
        assert session is not None
        world.principals["newcomer"] = ("applicant", session.principal_id)


def stateful_world(node) -> tuple[World, str, str]:
    """The stateless run's world, plus a newcomer. Returns the world and the founder's and the
    supervisor's e-resident numbers (the parties of a valid formation)."""
    world = build_world(node)
    new_newcomer(node, world)
    r = Api(node).client.get(f"/api/v1/formations/{world.known['formation_id'][0]}",
                             headers=world.headers("e-resident"))
    assert r.status_code == 200, r.text
    supervisor = next(p["e_resident_number"] for p in r.json()["parties"] if p["role"] == "supervisor")
    return world, world.known["number"][0], supervisor


def caller_for(operation) -> str:
    """Who sends a step: the newcomer uploads and applies; the e-resident (the founder) does the rest."""
    if operation.path.startswith(("/api/v1/documents", "/api/v1/applications")):
        return "newcomer"
    return "e-resident"


def valid_bodies(founder: str, supervisor: str) -> dict[str, st.SearchStrategy]:
    """Bodies that pass validation, mixed in with generated ones, so scenarios create things the
    links can follow (random names, photos or MRZs are refused, and a chain would stop at its root).
    Names and passport numbers come from a counter, not from Hypothesis: each is new, so the same
    draws meet the same answers in every scenario (a name taken by an earlier scenario would make a
    replay take another path, which Hypothesis reports as flaky)."""
    serial = itertools.count()
    letters = TRADE_CHARACTERS

    def name(_) -> dict:
        n = next(serial)
        trade = letters[n // len(letters) % len(letters)] + letters[n % len(letters)]
        return {"name_zh": f"重庆{trade}测试科技有限公司",
                "name_en": f"Chongqing {''.join(lazy_pinyin(trade)).capitalize()} Ceshi Technology Co., Ltd."}

    def application(_) -> dict:
        person = Person(surname="STATEFUL", passport_number=f"SF{next(serial):07d}")
        return application_payload(person, photo_id=PLACEHOLDER)

    return {"POST /api/v1/names/reservations": st.just(None).map(name),
            "POST /api/v1/formations": st.just(formation_body(PLACEHOLDER, founder, supervisor)),
            "POST /api/v1/documents": st.just({"file": png_bytes(), "kind": "photo"}),
            "POST /api/v1/applications": st.just(None).map(application)}


@dataclass
class StatefulTally(Tally):
    steps: int = 0
    scenarios: int = 0
    roots: Counter = field(default_factory=Counter)  # operation -> steps that started from nothing
    links: Counter = field(default_factory=Counter)  # link -> steps that followed it
    links_applied: Counter = field(default_factory=Counter)  # ... and used the value it carried
    link_answers: Counter = field(default_factory=Counter)  # "link -> status" of steps that used the value
    restarts: int = 0  # runs Hypothesis ended as flaky (the node's state changed the answers)
    flaky: list[str] = field(default_factory=list)


def run_stateful(node, scenarios: int = SCENARIOS, steps: int = STEPS, world=None) -> tuple[StatefulTally, float]:
    """Run the state machine over the document's links; returns the tally and the seconds it took."""
    world, founder, supervisor = world or stateful_world(node)
    schema = schemathesis.openapi.from_asgi("/openapi.json", node.app)
    # Only the links the document declares: schemathesis would also infer some (from list answers to
    # every operation taking that id), mostly to officials' operations the e-resident may not call.
    schema.config.phases.stateful.inference.algorithms = []
    bodies = valid_bodies(founder, supervisor)

    @schema.hook("before_generate_body")
    def mix_in_valid_bodies(context, strategy):
        valid = bodies.get(context.operation.label) if context.operation is not None else None
        # three valid bodies in four: the stateless run already throws invalid ones at every operation
        # (st.one_of would drop a repeated strategy, hence the draw)
        if valid is None:
            return strategy
        return st.integers(min_value=0, max_value=3).flatmap(lambda n: strategy if n == 0 else valid)

    tally = StatefulTally()
    base = schema.as_state_machine()

    class Scenario(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            tally.scenarios += 1
            new_newcomer(node, world)  # each scenario applies as someone who has not applied yet

        def get_call_kwargs(self, case):
            return {"headers": world.headers(caller_for(case.operation))}

        def step(self, input):
            tally.steps += 1
            label = input.case.operation.label
            tally.by_operation[label] += 1
            if input.transition is None:
                tally.roots[label] += 1
            else:
                tally.links[input.transition.id] += 1
                if input.is_applied:
                    tally.links_applied[input.transition.id] += 1
            output = super().step(input)
            if input.transition is not None and input.is_applied:
                tally.link_answers[f"{input.transition.id} -> {output.response.status_code}"] += 1
            return output

        def call(self, case, **kwargs):
            caller = caller_for(case.operation)
            tally.by_caller[caller] += 1
            try:
                response = case.call(**kwargs)
            except Exception as exc:  # the transport raised: the app crashed past its error handlers
                tally.fail(case.operation.label, caller, f"the request raised {type(exc).__name__}: {exc}")
                raise
            tally.cases += 1
            tally.by_status[response.status_code] += 1
            return response

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            caller = caller_for(case.operation)
            try:
                case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"), recorder=self.recorder)
            except FailureGroup as group:
                for failure in group.exceptions:
                    tally.fail(case.operation.label, caller,
                               f"{failure.title}: {failure.message.strip()[:600]} "
                               f"[{case.as_curl_command(headers=kwargs.get('headers'))[:600]}]", failure.title)

    started = time.perf_counter()
    # The node keeps what a scenario did, so a later scenario can meet other answers on the same draws;
    # Hypothesis then stops with Flaky. Like schemathesis's own runner, start again with what is left.
    while tally.scenarios < scenarios and tally.restarts <= MAX_RESTARTS:
        try:
            Scenario.run(settings=settings(max_examples=scenarios - tally.scenarios, stateful_step_count=steps,
                                           derandomize=True, deadline=None, database=None,
                                           phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
            break
        except Flaky as exc:
            tally.restarts += 1
            tally.flaky.append(str(exc).splitlines()[0][:200])
    return tally, time.perf_counter() - started


def figures_of(tally: StatefulTally, backend: str, seconds: float) -> dict:
    classes = Counter(f"{status // 100}xx" for status in tally.by_status.elements())
    return {"backend": backend, "scenarios": tally.scenarios, "steps": tally.steps, "seconds": round(seconds, 1),
            "max_steps_per_scenario": STEPS, "answers": dict(sorted(classes.items())),
            "statuses": dict(sorted(tally.by_status.items())),
            "operations": dict(sorted(tally.by_operation.items())), "roots": dict(sorted(tally.roots.items())),
            "links_followed": sum(tally.links.values()), "links_followed_with_value": sum(tally.links_applied.values()),
            "links": dict(sorted(tally.links.items())),
            "link_answers": dict(sorted(tally.link_answers.items())), "callers": dict(tally.by_caller),
            "restarts": tally.restarts, "failing_operations": len(tally.failures)}


def test_stateful_run_over_links(node):
    tally, seconds = run_stateful(node)
    backend = "postgres" if node.settings.database_url.startswith("postgresql") else "sqlite"
    figures = figures_of(tally, backend, seconds)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"fuzz-stateful-{backend}.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"stateful fuzz ({backend}): {tally.scenarios} scenarios, {tally.steps} steps in {seconds:.0f} s, "
          f"{figures['links_followed_with_value']} of {figures['links_followed']} link steps used the linked value, "
          f"answers {figures['answers']}, {tally.restarts} restarts")
    for line, count in sorted(tally.link_answers.items()):
        print(f"  {count:4d} × {line}")
    report = "\n".join(f"{label}:\n    " + "\n    ".join(lines) for label, lines in sorted(tally.failures.items()))
    assert not tally.failures, f"{len(tally.failures)} operations answered badly:\n{report}"


RELEASE = "DELETE /api/v1/names/reservations/{reservation_id}"


class PlantedReservationDefect:
    """A defect only a link reaches: releasing a reservation created once `armed` is set — by the
    fuzzer, in this run, so no fixed id can name it — answers 500. Those made before (the world's)
    release normally."""

    def __init__(self, app, armed: dict[str, bool]):
        self.app = app
        self.armed = armed
        self.created: set[str] = set()

    async def __call__(self, scope, receive, send):
        from starlette.responses import JSONResponse

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "DELETE" and path.rsplit("/", 1)[-1] in self.created:
            await JSONResponse({"detail": "planted"}, status_code=500)(scope, receive, send)
            return
        if not (method == "POST" and path == "/api/v1/names/reservations" and self.armed["armed"]):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def keep(message):
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and b'"id"' in b"".join(chunks):
                    try:
                        self.created.add(json.loads(b"".join(chunks))["id"])
                    except (ValueError, KeyError, TypeError):
                        pass
            await send(message)

        await self.app(scope, receive, keep)


def test_the_stateful_run_catches_a_defect_only_links_reach(make_node):
    from eresident.seed import seed_demo

    node = make_node()
    armed = {"armed": False}
    node.app.add_middleware(PlantedReservationDefect, armed=armed)
    seed_demo(node.ctx)
    world = stateful_world(node)
    armed["armed"] = True
    # The stateless run, on the same operations with its fixed ids, does not find it ...
    schema = schemathesis.openapi.from_asgi("/openapi.json", node.app)
    stateless = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in (RELEASE, "POST /api/v1/names/reservations"):
            fuzz_operation(operation, world[0], stateless, 25)
    assert stateless.cases > 0 and not stateless.failures, stateless.failures
    # ... the stateful run does: reserve a name, then follow ReleaseReservation with its id.
    tally, _ = run_stateful(node, scenarios=15, world=world)
    print(f"planted defect: stateless {stateless.cases} cases, no failure; stateful {tally.steps} steps: "
          + "; ".join(line[:160] for line in tally.failures.get(RELEASE, [])))
    assert any("Server error" in line for line in tally.failures.get(RELEASE, [])), dict(tally.failures)
    assert tally.links_applied[f"POST /api/v1/names/reservations -> [201] ReleaseReservation -> {RELEASE}"] > 0
