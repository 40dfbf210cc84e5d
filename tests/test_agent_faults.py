"""The agent under faults, with real `coassist agent` processes, real signals and a real database:
paused past its lease and resumed (SIGSTOP/SIGCONT), a re-plan while it was paused, and its
PostgreSQL server stopped and started under it.

The agents draft through `ScriptedEndpoint`s, whose held answers say where each agent is (a held
request: it claimed the subtask and is generating it) and whose texts say who generated a stored
draft. Leases are short (`LEASE`) so each test takes seconds.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from coassist.agent import read_plan_state, replan_stored
from coassist.agent.outage import Outage
from coassist.agent.presence import mark_lost
from coassist.agent.status import team_status
from coassist.review import audit_trail, import_plan, open_store, submit_work, work_items
from coassist.review.schema import AgentRecord, Draft, Subtask
from coassist.review.store import ReviewStore
from tests.postgres import PostgresCluster, throwaway_cluster
from tests.scripted_model import ScriptedEndpoint
from tests.team_sim import start_agent

LEASE = 1.5
"""Seconds: short, so a pause outlives it quickly; long enough that a busy machine's agents
(beating four times a lease) never look lost while they run."""

T = TypeVar("T")


def _import(store: ReviewStore, ai: dict[str, str], people: dict[str, str] | None = None, **deps: str) -> int:
    """A plan given row by row: `ai` maps subtask -> AI worker (ana reviews each), `people`
    subtask -> person; `deps` subtask -> the subtask it depends on. The team is ana, bo and the
    AI workers named, with hours, skills and costs, so the plan can be re-planned."""
    people = people or {}
    keys = [*ai, *people]
    tasks = pd.DataFrame(
        {
            "id": keys,
            "skill": ["sql"] * len(keys),
            "human_hours": [2.0] * len(keys),
            "ai_hours": [0.1 if key in ai else None for key in keys],
            "review_hours": [0.5] * len(keys),
            "p_pass": [0.9] * len(keys),
            "depends_on": [deps.get(key, "") for key in keys],
        }
    )
    gpus = sorted(set(ai.values()))
    team = pd.DataFrame(
        {
            "id": ["ana", "bo", *gpus],
            "kind": ["human", "human", *["ai"] * len(gpus)],
            "skills": ["sql", "sql", *["*"] * len(gpus)],
            "capacity_hours": [40.0, 40.0, *[10.0] * len(gpus)],
            "cost_per_hour": [50.0, 60.0, *[3.0] * len(gpus)],
        }
    )
    rows = []
    for i, (key, worker) in enumerate(ai.items()):
        rows += [
            (key, worker, "do", 0.1 * i, 0.1 * i + 0.1),
            (key, "ana", "review", 0.1 * i + 0.1, 0.1 * i + 0.6),
        ]
    rows += [(key, person, "do", 0.0, 2.0) for key, person in people.items()]
    plan = pd.DataFrame(rows, columns=["subtask", "worker", "role", "start", "end"])
    return import_plan(store, tasks, team, plan, project="faults", actor="lead")


def _agent(
    db_url: str, worker: str, model: ScriptedEndpoint, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    return start_agent(db_url, worker, model.spec, log, "--lease-seconds", str(LEASE), *extra)


def _wait(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """`check()`'s first truthy value, polled every 20 ms; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {timeout} s)")
        time.sleep(0.02)


def _events(log: Path, *names: str) -> list[dict[str, Any]]:
    """The JSON log records of `log` whose event is one of `names`."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") in names]


def _drafts(store: ReviewStore, plan_id: int) -> dict[str, str]:
    """Subtask -> the stored draft's text."""
    with store.session() as session:
        rows = session.execute(
            select(Subtask.key, Draft.text)
            .join(Subtask, Subtask.id == Draft.subtask_id)
            .where(Draft.plan_id == plan_id)
        ).all()
    return dict(sorted((key, text) for key, text in rows))


def _agent_of(store: ReviewStore, process: subprocess.Popen[bytes]) -> AgentRecord | None:
    with store.session() as session:
        return session.scalars(select(AgentRecord).where(AgentRecord.id.like(f"%:{process.pid}:%"))).first()


def _liveness(store: ReviewStore, plan_id: int, process: subprocess.Popen[bytes]) -> str | None:
    """What `coassist status` says of the agent process."""
    agents = team_status(store, plan_id).agents
    return next((a.liveness for a in agents if f":{process.pid}:" in a.id), None)


def _no_tracebacks(*logs: Path) -> None:
    for log in logs:
        assert "Traceback" not in log.read_text(), f"{log.name}:\n{log.read_text()[-3000:]}"


@pytest.fixture
def endpoints() -> Iterator[Callable[..., ScriptedEndpoint]]:
    made: list[ScriptedEndpoint] = []

    def make(name: str, hold: bool = True) -> ScriptedEndpoint:
        made.append(ScriptedEndpoint(name, hold))
        return made[-1]

    yield make
    for endpoint in made:
        endpoint.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Agent processes a test started; killed (and resumed first, if paused) at its end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            process.wait(timeout=10)


def test_an_agent_paused_past_its_lease_stores_nothing_it_lost_and_shows_live_again(
    db_url: str,
    tmp_path: Path,
    endpoints: Callable[..., ScriptedEndpoint],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """A is paused (SIGSTOP) while generating T01-T04; B re-claims them after A's lease, and A is
    marked lost. Resumed (SIGCONT), A beats again and shows live within a heartbeat or two, and
    its answers, arriving while B holds the claims, are dropped: every draft stored is B's."""
    with open_store(db_url) as store:
        plan_id = _import(store, {f"T0{i}": "gpu0" for i in range(1, 5)})
        model_a, model_b = endpoints("A"), endpoints("B")
        log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
        a = _agent(db_url, "gpu0", model_a, log_a)
        processes.append(a)
        held = sorted(model_a.wait_for_requests(4))
        os.kill(a.pid, signal.SIGSTOP)
        b = _agent(db_url, "gpu0", model_b, log_b)
        processes.append(b)
        assert sorted(model_b.wait_for_requests(4)) == held  # B re-claimed them once A's lease ran out
        # B is busy generating; a third agent (here the test) notices A's silence.
        mark_lost(store, plan_id, "lead")
        assert _agent_of(store, a).state == "lost"  # type: ignore[union-attr]

        os.kill(a.pid, signal.SIGCONT)
        # A beats every LEASE/4; allow a second beat for a busy machine.
        _wait(lambda: _liveness(store, plan_id, a) == "live", LEASE / 2, "A still not live after its resume")
        model_a.release()
        (outcome,) = _wait(lambda: _events(log_a, "drafted", "claim_lost"), 10, "A never finished its batch")
        assert _drafts(store, plan_id) == {}, "A stored drafts of subtasks B held"
        assert outcome["event"] == "claim_lost" and sorted(outcome["subtasks"]) == held, outcome

        model_b.release()
        drafts = _wait(lambda: len(found := _drafts(store, plan_id)) == 4 and found, 10, "B stored no drafts")
        assert all(text.startswith("B#") for text in drafts.values()), drafts
        assert a.poll() is None and b.poll() is None  # A goes on working
        assert _liveness(store, plan_id, a) == _liveness(store, plan_id, b) == "live"
        assert _agent_of(store, a).state == "running"  # type: ignore[union-attr]  # no longer marked lost
        # gpu0 had B all along, so A's return is no re-plan trigger.
        assert "agent.returned" not in [e.action for e in audit_trail(store)]
        _no_tracebacks(log_a, log_b)


def test_a_replan_while_an_agent_is_paused_voids_its_claims(
    db_url: str,
    tmp_path: Path,
    endpoints: Callable[..., ScriptedEndpoint],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """A is paused while generating T01-T04; meanwhile a re-plan gives gpu0's work to people
    (gpu0 has no live agent). Resumed, A drops its batch: no draft of a person's subtask."""
    with open_store(db_url) as store:
        plan_id = _import(store, {f"T0{i}": "gpu0" for i in range(1, 7)})
        model_a = endpoints("A")
        log_a = tmp_path / "a.log"
        a = _agent(db_url, "gpu0", model_a, log_a, "--batch-size", "4")
        processes.append(a)
        held = sorted(model_a.wait_for_requests(4))
        os.kill(a.pid, signal.SIGSTOP)
        time.sleep(LEASE + 0.2)  # A's lease runs out

        stored = replan_stored(store, plan_id, "lead")
        assert stored is not None and {m.subtask for m in stored.diff.moves} == {
            f"T0{i}" for i in range(1, 7)
        }
        people = {view.key: view.doer for view in read_plan_state(store, plan_id).subtasks.values()}
        assert set(people.values()) <= {"ana", "bo"}, people

        os.kill(a.pid, signal.SIGCONT)
        model_a.release()
        (outcome,) = _wait(lambda: _events(log_a, "drafted", "claim_lost"), 10, "A never finished its batch")
        assert _drafts(store, plan_id) == {}, "A stored drafts of subtasks a re-plan gave to people"
        assert outcome["event"] == "claim_lost" and sorted(outcome["subtasks"]) == held, outcome
        state = read_plan_state(store, plan_id)
        assert {key: (view.state, view.doer) for key, view in state.subtasks.items()} == {
            key: ("with_person", people[key]) for key in people
        }
        assert sorted(item.subtask for item in work_items(store, plan_id=plan_id)) == sorted(people)
        assert a.poll() is None
        _no_tracebacks(log_a)


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of the test's own, to stop and start without touching the session's."""
    yield from throwaway_cluster()


def test_agents_ride_out_a_database_restart(
    own_cluster: PostgresCluster,
    tmp_path: Path,
    endpoints: Callable[..., ScriptedEndpoint],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    """``pg_ctl stop -m fast``, 3 s down, start: A (generating T01-T04) and B (idle) say so in one
    line each, reconnect, LISTEN again and go on: A stores its batch, B drafts U01 once a person
    unblocks it. C, told to give up after 1 s, exits with code 75 and one line. PostgreSQL only:
    an SQLite file has no server to lose."""
    with own_cluster.database() as db_url, open_store(db_url) as store:
        plan_id = _import(
            store, {**{f"T0{i}": "gpu0" for i in range(1, 5)}, "U01": "gpu1"}, {"P01": "ana"}, U01="P01"
        )
        model_a, model_b = endpoints("A"), endpoints("B", hold=False)
        logs = [tmp_path / f"{name}.log" for name in "abc"]
        a = _agent(db_url, "gpu0", model_a, logs[0])
        b = _agent(db_url, "gpu1", model_b, logs[1])
        c = _agent(db_url, "gpu1", endpoints("C", hold=False), logs[2], "--give-up-seconds", "1")
        processes += [a, b, c]
        model_a.wait_for_requests(4)
        _wait(lambda: all(_agent_of(store, p) for p in (a, b, c)), 30, "A, B and C never all registered")
        store.engine.dispose()

        down = time.monotonic()
        own_cluster.shut_down()
        while time.monotonic() - down < 3.0:
            time.sleep(0.05)
            if c.poll() is not None and not hasattr(c, "gave_up_after"):
                c.gave_up_after = time.monotonic() - down  # type: ignore[attr-defined]
        own_cluster.start()

        for name, process, log in (("A", a, logs[0]), ("B", b, logs[1])):
            assert process.poll() is None, f"{name} exited with {process.poll()}:\n{log.read_text()[-1500:]}"
        assert c.wait(timeout=10) == 75, logs[2].read_text()[-2000:]
        assert 1.0 <= getattr(c, "gave_up_after", 99) < 3.0
        (last,) = [line for line in logs[2].read_text().splitlines() if line.startswith("coassist agent:")]
        assert "unreachable" in last and "--give-up-seconds 1" in last, last

        model_a.release()
        drafts = _wait(lambda: len(found := _drafts(store, plan_id)) == 4 and found, 15, "A stored no drafts")
        assert all(text.startswith("A#") for text in drafts.values()), (
            drafts
        )  # its claims re-checked, still its own
        (item,) = work_items(store, worker="ana", plan_id=plan_id)
        submit_work(store, item.id, "P01 done", actor="ana")
        _wait(lambda: "U01" in _drafts(store, plan_id), 10, "B never drafted U01 after the restart")

        expected = sorted(f"coassist-agent {_agent_of(store, p).id}"[:63] for p in (a, b))  # type: ignore[union-attr]
        _wait(
            lambda: sorted(_listeners(db_url)) == expected, 10, f"A and B not LISTENing: {_listeners(db_url)}"
        )
        for log in logs[:2]:
            assert len(_events(log, "db_unreachable")) == 1 and len(_events(log, "db_back")) == 1, (
                log.read_text()
            )
        lost = [e.detail["agent"] for e in audit_trail(store) if e.action == "agent.lost"]
        assert lost in ([], [_agent_of(store, c).id]), lost  # type: ignore[union-attr]  # never A or B
        _no_tracebacks(*logs)


def _listeners(db_url: str) -> list[str]:
    """The application names of the connections LISTENing on the server now (the server keeps
    63 characters of a name)."""
    engine = create_engine(db_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT application_name FROM pg_stat_activity WHERE query = 'LISTEN coassist'")
        ).all()
    engine.dispose()
    return [name for (name,) in rows]


def test_only_a_try_begun_after_an_outage_ends_it(caplog: pytest.LogCaptureFixture) -> None:
    """During a shutdown a transaction already under way may commit after another was refused:
    that is not the database back, and must not log a second outage a moment later."""
    outage = Outage("postgresql://db.example/team", 300.0, lambda **fields: fields)
    refused = OperationalError("SELECT 1", {}, Exception("terminating connection due to administrator command"))
    caplog.set_level(logging.INFO, logger="coassist.agent")
    begun_before = time.monotonic()
    outage.failed(refused)
    outage.recovered(begun_before)
    assert [record.event for record in caplog.records] == ["db_unreachable"]  # type: ignore[attr-defined]
    outage.recovered(time.monotonic())
    assert [record.event for record in caplog.records] == ["db_unreachable", "db_back"]  # type: ignore[attr-defined]
