"""Replay a process definition against synthetic arrivals and staff capacity: a discrete-event
simulation driven by the engine's own semantics (start, claim, act, signal, escalate), so that a
region can compare a current process with a re-engineered one before publishing it.

Time runs on POSIX timestamps in a heap of events. Applicants arrive as a Poisson process around
the clock; officials work only within the calendar's working hours, one task at a time, taking
the oldest task of their role they are allowed to act on (a claimed, sticky task waits for its
holder); outside events (identity check, the applicant's answer, a job's result) come after a
random delay in calendar hours."""

from __future__ import annotations

import gc
import heapq
import math
import random
import time as _time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eresident.workflow.calendar import WorkingCalendar, load_calendar
from eresident.workflow.definition import ProcessDefinition, TaskStep, WaitStep
from eresident.workflow.semantics import (
    Actor,
    AutoDecided,
    CaseEnded,
    CaseState,
    ParallelStarted,
    StepCancelled,
    StepCompleted,
    StepEntered,
    act,
    check_allowed,
    claim,
    decided_by,
    escalate_due,
    signal,
    start,
)

Dist = float | int | str | Mapping[str, Any] | Callable[[random.Random], float]
Choice = Mapping[str, float] | Callable[[CaseState, random.Random], str]

DEFAULT_START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, in the calendar's data years


def make_dist(spec: Dist) -> Callable[[random.Random], float]:
    """A sampler from a spec: a number (constant), "exp:MEAN", "lognormal:MEAN,SD",
    "uniform:LOW,HIGH", "triangular:LOW,MODE,HIGH", the same as a one-key mapping
    ({"lognormal": [30, 10]}), or a function of a random.Random. Samples are never negative."""
    if callable(spec):
        return lambda rng: max(0.0, float(spec(rng)))
    if isinstance(spec, bool):
        raise TypeError(f"not a distribution: {spec!r}")
    if isinstance(spec, (int, float)):
        value = max(0.0, float(spec))
        return lambda rng: value
    if isinstance(spec, Mapping):
        if len(spec) != 1:
            raise ValueError(f"a distribution mapping has one key, like {{'exp': 30}}: {spec!r}")
        (kind, args), = spec.items()
        params = [float(a) for a in (args if isinstance(args, (list, tuple)) else [args])]
    elif isinstance(spec, str):
        kind, _, rest = spec.partition(":")
        if not rest:
            return make_dist(float(kind))
        params = [float(a) for a in rest.split(",")]
    else:
        raise TypeError(f"not a distribution: {spec!r}")
    kind = kind.strip().lower()
    if kind in ("const", "constant") and len(params) == 1:
        return make_dist(params[0])
    if kind in ("exp", "exponential") and len(params) == 1 and params[0] > 0:
        rate = 1.0 / params[0]
        return lambda rng: rng.expovariate(rate)
    if kind == "lognormal" and len(params) == 2 and params[0] > 0 and params[1] >= 0:
        mean, sd = params
        sigma = math.sqrt(math.log(1.0 + (sd / mean) ** 2))
        mu = math.log(mean) - sigma * sigma / 2.0
        return lambda rng: rng.lognormvariate(mu, sigma)
    if kind == "uniform" and len(params) == 2 and 0 <= params[0] <= params[1]:
        low, high = params
        return lambda rng: rng.uniform(low, high)
    if kind == "triangular" and len(params) == 3 and 0 <= params[0] <= params[1] <= params[2]:
        low, mode, high = params
        return lambda rng: rng.triangular(low, high, mode)
    raise ValueError(f"unknown or malformed distribution {spec!r} (use exp:MEAN, lognormal:MEAN,SD, "
                     "uniform:LOW,HIGH, triangular:LOW,MODE,HIGH or a number)")


def _make_choice(spec: Choice | None, options: tuple[str, ...]) -> Callable[[CaseState, random.Random], str]:
    if spec is None:
        first = options[0]
        return lambda state, rng: first
    if callable(spec):
        return spec
    names = [n for n, w in spec.items() if w > 0]
    unknown = [n for n in names if n not in options]
    if unknown or not names:
        raise ValueError(f"choices {dict(spec)} must weigh some of {', '.join(options)}")
    cumulative, total = [], 0.0
    for n in names:
        total += float(spec[n])
        cumulative.append(total)
    if len(names) == 1:
        only = names[0]
        return lambda state, rng: only
    return lambda state, rng: names[min(bisect_right(cumulative, rng.random() * total), len(names) - 1)]


# --- the report -------------------------------------------------------------------------------

def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))  # nearest rank
    return values[k]


@dataclass
class StepStats:
    entered: int = 0
    completed: int = 0
    deadline_misses: int = 0
    mean_hours_in_step: float = 0.0       # calendar hours from entering to leaving
    mean_wait_hours: float = 0.0          # tasks: calendar hours until a person took it
    queue_mean: float = 0.0               # tasks: time-weighted number waiting for a person
    queue_max: int = 0


@dataclass
class Report:
    process: str
    version: int
    seed: int
    arrivals_per_day: float
    days: int
    cases: int
    finished: int
    unfinished: int
    outcomes: dict[str, int]
    decided: dict[str, int]                # automatic / human / timeout …
    decision_days_p50: float               # calendar days from arrival to the end of the case
    decision_days_p90: float
    decision_days_mean: float
    decision_working_hours_p50: float
    decision_working_hours_p90: float
    deadline_misses: int
    escalations: int
    steps: dict[str, StepStats]
    utilisation: dict[str, float]          # busy working time / available working time, per role
    rules: dict[str, int]                  # "step:outcome" → how often an automatic step decided so
    transitions: int                       # engine calls (start, claim, act, signal, escalate)
    simulated_days: float
    elapsed_seconds: float = field(default=0.0, compare=False)   # wall clock
    cpu_seconds: float = field(default=0.0, compare=False)       # this process's CPU time

    @property
    def automatic_share(self) -> float:
        return self.decided.get("automatic", 0) / self.finished if self.finished else 0.0

    @property
    def cases_per_second(self) -> float:
        """Simulated cases per second of CPU time (wall time suffers from a busy machine)."""
        spent = self.cpu_seconds or self.elapsed_seconds
        return self.cases / spent if spent else float("inf")

    def to_text(self) -> str:
        lines = [(f"{self.process} v{self.version}: {self.cases} cases over {self.days} days "
                  f"({self.arrivals_per_day:g}/day, seed {self.seed})"),
                 (f"  finished {self.finished}, unfinished {self.unfinished}; outcomes "
                  + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))),
                 "  decided: " + ", ".join(f"{k} {v}" for k, v in sorted(self.decided.items())),
                 (f"  time to decision: p50 {self.decision_days_p50:.1f} days "
                  f"({self.decision_working_hours_p50:.1f} working h), p90 {self.decision_days_p90:.1f} "
                  f"days ({self.decision_working_hours_p90:.1f} working h)"),
                 f"  deadline misses {self.deadline_misses}, escalations {self.escalations}",
                 "  utilisation: " + ", ".join(f"{r} {u:.0%}" for r, u in sorted(self.utilisation.items())),
                 "  step                     entered  queue mean/max  wait h  in-step h  misses"]
        for sid, s in self.steps.items():
            lines.append(f"  {sid:<24} {s.entered:>7}  {s.queue_mean:>6.1f}/{s.queue_max:<6} "
                         f"{s.mean_wait_hours:>7.1f}  {s.mean_hours_in_step:>9.1f}  {s.deadline_misses:>6}")
        lines.append(f"  {self.transitions} engine calls in {self.elapsed_seconds:.2f} s "
                     f"({self.cpu_seconds:.2f} s CPU, {self.cases_per_second:,.0f} cases per CPU second)")
        return "\n".join(lines)


def compare(a: Report, b: Report) -> str:
    """The two reports side by side, as a text table."""
    def pct(x: float) -> str:
        return f"{x:.0%}"

    def num(x: float, digits: int = 1) -> str:
        return "—" if math.isnan(x) else f"{x:.{digits}f}"

    rows: list[tuple[str, str, str]] = [
        ("definition", f"{a.process} v{a.version}", f"{b.process} v{b.version}"),
        ("cases", str(a.cases), str(b.cases)),
        ("finished", str(a.finished), str(b.finished)),
        ("time to decision p50 (days)", num(a.decision_days_p50), num(b.decision_days_p50)),
        ("time to decision p90 (days)", num(a.decision_days_p90), num(b.decision_days_p90)),
        ("time to decision p50 (working h)", num(a.decision_working_hours_p50),
         num(b.decision_working_hours_p50)),
        ("time to decision p90 (working h)", num(a.decision_working_hours_p90),
         num(b.decision_working_hours_p90)),
        ("decided automatically", pct(a.automatic_share), pct(b.automatic_share)),
        ("decided by people", str(a.decided.get("human", 0)), str(b.decided.get("human", 0))),
        ("deadline misses", str(a.deadline_misses), str(b.deadline_misses)),
    ]
    for outcome in sorted(set(a.outcomes) | set(b.outcomes)):
        rows.append((f"outcome {outcome}", str(a.outcomes.get(outcome, 0)), str(b.outcomes.get(outcome, 0))))
    for role in sorted(set(a.utilisation) | set(b.utilisation)):
        rows.append((f"utilisation {role}", pct(a.utilisation.get(role, 0.0)),
                     pct(b.utilisation.get(role, 0.0))))
    for sid in list(a.steps) + [s for s in b.steps if s not in a.steps]:
        sa, sb = a.steps.get(sid), b.steps.get(sid)
        if (sa and sa.queue_max) or (sb and sb.queue_max):
            rows.append((f"queue {sid} mean/max",
                         f"{sa.queue_mean:.1f}/{sa.queue_max}" if sa else "—",
                         f"{sb.queue_mean:.1f}/{sb.queue_max}" if sb else "—"))
    width = max(len(r[0]) for r in rows)
    wa = max(len(r[1]) for r in rows)
    wb = max(len(r[2]) for r in rows)
    out = [f"{'':<{width}}  {'A':>{wa}}  {'B':>{wb}}"]
    out += [f"{r[0]:<{width}}  {r[1]:>{wa}}  {r[2]:>{wb}}" for r in rows]
    return "\n".join(out)


# --- the simulation ---------------------------------------------------------------------------

_ARRIVE, _EVENT, _DONE, _TIMEOUT = 0, 1, 2, 3


class _Person:
    __slots__ = ("actor", "busy", "busy_seconds", "index", "queue", "role")

    def __init__(self, index: int, role: str, region: str):
        self.index = index
        self.role = role
        self.actor = Actor(f"{role}-{index}", (role,), region)
        self.busy = False
        self.queue: deque[_Item] = deque()  # tasks this person holds a (sticky) claim on
        self.busy_seconds = 0.0


class _Item:
    __slots__ = ("case", "enqueued", "gone", "instance", "seats", "started", "step", "working")

    def __init__(self, case: int, instance: str, step: str, enqueued: float, seats: int):
        self.case = case
        self.instance = instance
        self.step = step
        self.enqueued = enqueued
        self.seats = seats       # people still to assign
        self.working = 0         # people assigned and not done yet
        self.started = -1.0
        self.gone = False        # the step left the case (completed or cancelled)


class _Ended:
    """What is left of a finished case's state (the full state is dropped to save memory)."""

    __slots__ = ("outcome",)
    active: tuple = ()

    def __init__(self, outcome: str | None):
        self.outcome = outcome

    def instance(self, instance_id: str) -> None:
        return None


class _Case:
    __slots__ = ("arrived", "items", "state")

    def __init__(self, state: CaseState, arrived: float):
        self.state: CaseState | _Ended = state
        self.arrived = arrived
        self.items: dict[str, _Item] = {}


class _Sim:
    def __init__(self, defn: ProcessDefinition, *, arrivals_per_day: float, days: int,
                 staff: Mapping[str, int], service_time: Mapping[str, Dist] | None,
                 fact_generator: Callable[[random.Random], dict] | None, seed: int,
                 calendar: WorkingCalendar, start_at: datetime, choices: Mapping[str, Choice] | None,
                 event_delay: Mapping[str, Dist] | None, region: str, default_service_minutes: Dist,
                 default_event_hours: Dist, drain_days: float):
        self.defn = defn
        self.steps = defn.steps
        self.cal = calendar
        self.rng = random.Random(seed)
        self.seed = seed
        self.arrivals_per_day = arrivals_per_day
        self.days = days
        self.region = region
        self.facts = fact_generator or (lambda rng: {})
        self.t0 = start_at.timestamp()
        self.arrivals_end = self.t0 + days * 86400.0
        self.hard_end = self.arrivals_end + drain_days * 86400.0
        self.mean_gap = 86400.0 / arrivals_per_day if arrivals_per_day > 0 else math.inf
        self.heap: list[tuple] = []
        self.seq = 0
        self.cases: list[_Case] = []
        choices = dict(choices or {})
        service_time = dict(service_time or {})
        event_delay = dict(event_delay or {})
        self.service: dict[str, Callable] = {}
        self.choice: dict[str, Callable] = {}
        self.claim_required: dict[str, bool] = {}
        self.seats: dict[str, int] = {}
        self.needs_check: dict[str, bool] = {}
        self.role_of: dict[str, str] = {}
        self.events: dict[str, Callable] = {}
        self.timeouts: set[str] = set()
        self.escalating = {sid for sid, step in self.steps.items() if getattr(step, "escalate", None)}
        known_events: set[str] = set()
        # names of other versions' steps and events are ignored, so one scenario fits all versions
        for sid, step in self.steps.items():
            if isinstance(step, TaskStep):
                self.service[sid] = make_dist(service_time.get(sid, default_service_minutes))
                self.choice[sid] = _make_choice(choices.get(sid), tuple(step.actions))
                self.claim_required[sid] = step.claim == "required"
                self.seats[sid] = step.seats()
                self.needs_check[sid] = bool(step.not_same_actor_as) or step.seats() > 1
                self.role_of[sid] = step.role
            elif isinstance(step, WaitStep):
                self.choice[sid] = _make_choice(choices.get(sid), tuple(step.on))
                known_events.update(step.on)
                if step.on_timeout:
                    self.timeouts.add(sid)
        self.event_delay = {e: make_dist(event_delay.get(e, default_event_hours)) for e in known_events}
        # people
        self.people: dict[str, list[_Person]] = {}
        self.idle: dict[str, deque[_Person]] = {}
        self.queues: dict[str, deque[_Item]] = {}
        for role, count in staff.items():
            persons = [_Person(i + 1, role, region) for i in range(int(count))]
            self.people[role] = persons
            self.idle[role] = deque(persons)
        for role in set(self.role_of.values()):
            self.people.setdefault(role, [])
            self.idle.setdefault(role, deque())
            self.queues[role] = deque()
        # statistics
        self.stats = {sid: StepStats() for sid in self.steps}
        self.time_in: dict[str, float] = {sid: 0.0 for sid in self.steps}
        self.wait_sum: dict[str, float] = {sid: 0.0 for sid in self.steps}
        self.wait_n: dict[str, int] = {sid: 0 for sid in self.steps}
        self.q_count: dict[str, int] = {sid: 0 for sid in self.service}
        self.q_area: dict[str, float] = {sid: 0.0 for sid in self.service}
        self.q_last: dict[str, float] = {sid: self.t0 for sid in self.service}
        self.durations: list[float] = []
        self.working: list[float] = []
        self.outcomes: dict[str, int] = {}
        self.decided: dict[str, int] = {}
        self.rules: dict[str, int] = {}
        self.escalations = 0
        self.transitions = 0
        self.last_time = self.t0

    # --- plumbing -----------------------------------------------------------------------------

    def push(self, at: float, kind: int, a: Any = None, b: Any = None, c: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, a, b, c))

    def queue_change(self, step: str, now: float, delta: int) -> None:
        count = self.q_count[step]
        self.q_area[step] += count * (now - self.q_last[step])
        self.q_last[step] = now
        count += delta
        self.q_count[step] = count
        stats = self.stats[step]
        stats.queue_max = max(stats.queue_max, count)

    @staticmethod
    def dt(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    # --- the engine's effects -----------------------------------------------------------------

    def handle(self, ci: int, effects: list, now: float) -> None:
        case = self.cases[ci]
        stats = self.stats
        new_tasks = []
        ended = False
        for e in effects:
            t = type(e)
            if t is StepEntered:
                stats[e.step].entered += 1
                if e.kind == "task":
                    new_tasks.append(e)
                elif e.kind == "wait":
                    event = self.choice[e.step](case.state, self.rng)
                    delay = self.event_delay[event](self.rng) * 3600.0
                    self.push(now + delay, _EVENT, ci, event, e.instance)
                    if e.due_at is not None and e.step in self.timeouts:
                        self.push(e.due_at.timestamp(), _TIMEOUT, ci)
            elif t is StepCompleted:
                kind = e.kind
                if kind == "task" or kind == "wait":
                    s = stats[e.step]
                    s.completed += 1
                    if e.overdue:
                        s.deadline_misses += 1
                        if e.step in self.escalating:
                            self.escalations += 1
                    item = case.items.pop(e.instance, None) if kind == "task" else None
                    if item is not None:
                        item.gone = True
                        if item.seats > 0:  # still queued for more people
                            self.queue_change(e.step, now, -1)
                    self.time_in[e.step] += now - e.entered_at.timestamp()
            elif t is StepCancelled:
                item = case.items.pop(e.instance, None)
                if item is not None:
                    item.gone = True
                    if item.seats > 0:
                        self.queue_change(e.step, now, -1)
            elif t is AutoDecided:
                stats[e.step].entered += 1
                stats[e.step].completed += 1
                key = f"{e.step}:{e.outcome}"
                self.rules[key] = self.rules.get(key, 0) + 1
            elif t is ParallelStarted:
                stats[e.step].entered += 1
                stats[e.step].completed += 1
            elif t is CaseEnded:
                stats[e.step].entered += 1
                self.outcomes[e.outcome] = self.outcomes.get(e.outcome, 0) + 1
                assert isinstance(case.state, CaseState)  # the effects came from moving the live state
                how = decided_by(case.state) or "unknown"
                self.decided[how] = self.decided.get(how, 0) + 1
                self.durations.append((now - case.arrived) / 86400.0)
                self.working.append(self.cal.seconds_between_ts(case.arrived, now) / 3600.0)
                ended = True
        if ended:
            case.state = _Ended(case.state.outcome)
            case.items.clear()
            return
        for e in new_tasks:
            inst = case.state.instance(e.instance)
            if inst is None:
                continue
            item = _Item(ci, e.instance, e.step, now, self.seats[e.step])
            case.items[e.instance] = item
            self.queue_change(e.step, now, +1)
            holder = self._holder(inst.claims, self.role_of[e.step])
            if holder is not None:
                holder.queue.append(item)
                idle = self.idle[holder.role]
                # a holder who is finishing a task right now picks it up in done()
                if not holder.busy and holder in idle and self.next_for(holder, now):
                    idle.remove(holder)
            else:
                self.queues[self.role_of[e.step]].append(item)
                self.offer(self.role_of[e.step], now)

    def _holder(self, claims: list[str], role: str) -> _Person | None:
        if not claims:
            return None
        for person in self.people.get(role, ()):
            if person.actor.id == claims[0]:
                return person
        return None

    # --- people -------------------------------------------------------------------------------

    def eligible(self, person: _Person, item: _Item) -> bool:
        if item.gone:
            return False
        if not self.needs_check[item.step]:
            # role and region hold by construction (a person takes tasks of their role in the
            # region); claim() and act() still enforce every rule
            return True
        state = self.cases[item.case].state
        assert isinstance(state, CaseState)  # the item is not gone, so its case is still open
        return check_allowed(self.defn, state, item.step, person.actor, instance_id=item.instance,
                             claiming=self.claim_required[item.step]) is None

    def offer(self, role: str, now: float) -> None:
        """Tasks wait for `role`: give them to idle people who may take them (each idle person is
        asked at most once; a task needing k people can go to k of them)."""
        idle = self.idle[role]
        queue = self.queues[role]
        for _ in range(len(idle)):
            if not queue:
                return
            person = idle.popleft()
            if person.busy or not self.next_for(person, now):
                idle.append(person)

    def next_for(self, person: _Person, now: float) -> bool:
        """Give `person` their next task, if any; returns whether they got one."""
        for queue in (person.queue, self.queues.get(person.role)):
            if not queue:
                continue
            scanned = 0
            for index, item in enumerate(queue):
                if item.gone:
                    continue
                if self.eligible(person, item):
                    item.seats -= 1
                    if item.seats <= 0:
                        del queue[index]
                        self.queue_change(item.step, now, -1)
                    self.assign(person, item, now)
                    return True
                scanned += 1
                if scanned > 64:
                    break
            while queue and queue[0].gone:
                queue.popleft()
        return False

    def assign(self, person: _Person, item: _Item, now: float) -> None:
        person.busy = True
        case = self.cases[item.case]
        if self.claim_required[item.step]:
            state = case.state
            inst = state.instance(item.instance)
            if inst is not None and person.actor.id not in inst.claims:
                assert isinstance(state, CaseState)  # only an open case has open step instances
                claim(self.defn, state, item.step, person.actor, self.dt(now),
                      instance_id=item.instance, inplace=True)
                self.transitions += 1
        if item.started < 0:
            item.started = now
            s = item.step
            self.wait_sum[s] += now - item.enqueued
            self.wait_n[s] += 1
        item.working += 1
        seconds = self.service[item.step](self.rng) * 60.0
        person.busy_seconds += seconds
        done = self.cal.add_seconds_ts(now, seconds)  # counts only working time
        self.push(done, _DONE, person, item, None)

    def done(self, person: _Person, item: _Item, now: float) -> None:
        person.busy = False
        item.working -= 1
        case = self.cases[item.case]
        state = case.state
        if (not item.gone and isinstance(state, CaseState) and state.outcome is None
                and state.instance(item.instance) is not None):
            action = self.choice[item.step](state, self.rng)
            _, effects = act(self.defn, state, item.step, action, person.actor, self.dt(now), self.cal,
                             note="simulated", instance_id=item.instance, inplace=True)
            self.transitions += 1
            self.handle(item.case, effects, now)
            if not item.gone and item.working == 0 and item.seats <= 0:
                # votes split: the step needs one more person
                item.seats = 1
                self.queues[self.role_of[item.step]].append(item)
                self.queue_change(item.step, now, +1)
            if not item.gone and item.seats > 0:
                self.offer(self.role_of[item.step], now)
        if not self.next_for(person, now):
            self.idle[person.role].append(person)

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        rng = self.rng
        if self.mean_gap < math.inf:
            self.push(self.t0 + rng.expovariate(1.0 / self.mean_gap), _ARRIVE)
        heap = self.heap
        pop = heapq.heappop
        defn, cal = self.defn, self.cal
        while heap:
            now, _, kind, a, b, c = pop(heap)
            if now > self.hard_end:
                break
            self.last_time = now
            if kind == _ARRIVE:
                state, effects = start(defn, self.facts(rng), self.dt(now), cal, region=self.region)
                self.transitions += 1
                self.cases.append(_Case(state, now))
                self.handle(len(self.cases) - 1, effects, now)
                following = now + rng.expovariate(1.0 / self.mean_gap)
                if following < self.arrivals_end:
                    self.push(following, _ARRIVE)
            elif kind == _DONE:
                self.done(a, b, now)
            elif kind == _EVENT:
                case = self.cases[a]
                inst = case.state.instance(c)
                if inst is not None:
                    _, effects = signal(defn, case.state, b, self.dt(now), cal, step_id=inst.step,
                                        inplace=True)
                    self.transitions += 1
                    self.handle(a, effects, now)
            else:  # _TIMEOUT
                case = self.cases[a]
                if case.state.outcome is None:
                    _, effects = escalate_due(defn, case.state, self.dt(now), cal, inplace=True)
                    self.transitions += 1
                    self.handle(a, effects, now)

    def report(self, elapsed: float) -> Report:
        end = self.last_time
        span = max(end - self.t0, 1.0)
        for sid, stats in self.stats.items():
            if sid in self.q_area:
                area = self.q_area[sid] + self.q_count[sid] * (end - self.q_last[sid])
                stats.queue_mean = area / span
            if stats.completed:
                stats.mean_hours_in_step = self.time_in[sid] / stats.completed / 3600.0
            if self.wait_n[sid]:
                stats.mean_wait_hours = self.wait_sum[sid] / self.wait_n[sid] / 3600.0
        # open steps already past their deadline count as misses too
        misses = sum(s.deadline_misses for s in self.stats.values())
        end_dt = self.dt(end)
        for case in self.cases:
            for inst in case.state.active:
                if inst.due_at is not None and inst.due_at < end_dt:
                    misses += 1
        for case in self.cases:
            for inst in case.state.active:
                if inst.due_at is not None and inst.due_at < end_dt and inst.step in self.escalating:
                    self.escalations += 1
        available = self.cal.seconds_between_ts(self.t0, end)
        utilisation = {role: (sum(p.busy_seconds for p in persons) / (available * len(persons))
                              if persons and available else 0.0)
                       for role, persons in self.people.items() if role in self.queues}
        durations = sorted(self.durations)
        working = sorted(self.working)
        finished = len(durations)
        return Report(
            process=self.defn.process, version=self.defn.version, seed=self.seed,
            arrivals_per_day=self.arrivals_per_day, days=self.days, cases=len(self.cases),
            finished=finished, unfinished=len(self.cases) - finished,
            outcomes=dict(sorted(self.outcomes.items())), decided=dict(sorted(self.decided.items())),
            decision_days_p50=_percentile(durations, 0.5), decision_days_p90=_percentile(durations, 0.9),
            decision_days_mean=(sum(durations) / finished) if finished else float("nan"),
            decision_working_hours_p50=_percentile(working, 0.5),
            decision_working_hours_p90=_percentile(working, 0.9),
            deadline_misses=misses, escalations=self.escalations, steps=self.stats,
            utilisation=utilisation, rules=dict(sorted(self.rules.items())), transitions=self.transitions,
            simulated_days=(end - self.t0) / 86400.0, elapsed_seconds=elapsed)


def simulate(defn: ProcessDefinition, *, arrivals_per_day: float, days: int, staff: Mapping[str, int],
             service_time: Mapping[str, Dist] | None = None,
             fact_generator: Callable[[random.Random], dict] | None = None, seed: int = 0,
             calendar: WorkingCalendar | None = None, start: datetime = DEFAULT_START,
             choices: Mapping[str, Choice] | None = None, event_delay: Mapping[str, Dist] | None = None,
             region: str | None = None, default_service_minutes: Dist = 20.0,
             default_event_hours: Dist = 1.0, drain_days: float = 365.0) -> Report:
    """Simulate `days` days of Poisson arrivals (arrivals_per_day on average, around the clock)
    through `defn`, then let the open cases finish (at most `drain_days` more).

    staff: people per role, each working one task at a time in the calendar's working hours.
    service_time: per task step, working minutes a person spends (see make_dist).
    choices: per task step, weights of its actions ({"approve": 9, "refuse": 1}) or a function
    (state, rng) -> action; per wait step, weights of its events. Default: the first one.
    event_delay: per event name, calendar hours until it arrives (see make_dist).
    fact_generator: rng -> facts of a new case. The same seed gives the same report."""
    if arrivals_per_day < 0 or days < 0:
        raise ValueError("arrivals_per_day and days must not be negative")
    cal = calendar or load_calendar(defn.calendar)
    sim = _Sim(defn, arrivals_per_day=arrivals_per_day, days=days, staff=staff, service_time=service_time,
               fact_generator=fact_generator, seed=seed, calendar=cal, start_at=start, choices=choices,
               event_delay=event_delay, region=region or defn.calendar,
               default_service_minutes=default_service_minutes, default_event_hours=default_event_hours,
               drain_days=drain_days)
    began = _time.perf_counter()
    began_cpu = _time.process_time()
    # The simulation allocates millions of small acyclic objects; the cyclic collector would
    # rescan every live case again and again (quadratic time). Reference counting frees them.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        sim.run()
    finally:
        if was_enabled:
            gc.enable()
    report = sim.report(_time.perf_counter() - began)
    report.cpu_seconds = _time.process_time() - began_cpu
    return report


# --- an e-residency scenario ------------------------------------------------------------------

def eresidency_facts(rng: random.Random) -> dict:
    """Synthetic applicants: ~3% possible sanctions matches, ~1% refused before, ~2% identity
    checks that fail."""
    hits = 1 if rng.random() < 0.03 else 0
    return {"identity_verified": rng.random() < 0.98, "screening_hits": hits,
            "risk_score": round(rng.uniform(0.5, 1.0), 2) if hits else 0.0,
            "refused_before": rng.random() < 0.01}


def _review_choice(state: CaseState, rng: random.Random) -> str:
    f = state.facts
    suspicious = (f.get("screening_hits", 0) > 0 or f.get("refused_before")
                  or not f.get("identity_verified", True))
    answered = any(h.step == "info_requested" for h in state.history)
    r = rng.random()
    if suspicious:
        if r < 0.5:
            return "recommend_refuse"
        return "request_info" if r < 0.7 and not answered else "recommend_approve"
    if r < 0.05 and not answered:
        return "request_info"
    return "recommend_refuse" if r > 0.99 else "recommend_approve"


def _decision_choice(state: CaseState, rng: random.Random) -> str:
    recommended = None
    for h in reversed(state.history):
        if h.step == "review" and h.how == "action":
            recommended = h.result
            break
    agree = rng.random() < 0.98
    approve = (recommended == "recommend_approve") == agree
    return "approve" if approve else "refuse"


# Staffed for today's process (v1) at ~274 applications a day (100,000 a year).
ERESIDENCY_SCENARIO: dict[str, Any] = {
    "staff": {"reviewer": 50, "approver": 18},
    "service_time": {"review": "lognormal:40,20", "decision": "lognormal:15,8",
                     "panel_decision": "lognormal:20,10"},
    "choices": {"review": _review_choice, "decision": _decision_choice,
                "panel_decision": _decision_choice},
    "event_delay": {"identity_checked": "lognormal:72,48", "checks_completed": "exp:0.5",
                    "resubmitted": "lognormal:60,36"},
    "fact_generator": eresidency_facts,
}
