"""A simulated team runs a 60-subtask plan to the end with two agent processes (`coassist agent`,
a tiny random model) and five scripted people, on SQLite and on PostgreSQL; and one agent is
killed with SIGKILL in the middle of a batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from coassist.agent import read_plan_state
from coassist.review import audit_trail, open_store
from coassist.review.schema import Assignment, Draft, Plan, PlanVersion, Subtask, WorkItem
from coassist.review.store import ReviewStore
from tests.postgres import SQLITE_ONLY
from tests.team_sim import AI_WORKERS, ScriptedPeople, generated, import_team_plan, start_agent
from tests.tiny_models import build_tiny_causal_lm

LEASE = "4"


@pytest.fixture(scope="module")
def team_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model with room for a draft's prompt (dependencies' results included)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("team-model"), context_length=2048)


def _run_team(
    store: ReviewStore, plan_id: int, agents: list[subprocess.Popen[bytes]], seconds: float = 240
) -> ScriptedPeople:
    """People act every 0.3 s (slower than the agents' debounce, so re-plans land mid-run)
    until every subtask is done; then the agents, run with --until-done, exit by themselves."""
    people = ScriptedPeople(store, plan_id, seed=1)
    deadline = time.monotonic() + seconds
    while not all(v.state == "done" for v in read_plan_state(store, plan_id).subtasks.values()):
        assert time.monotonic() < deadline, Counter(
            v.state for v in read_plan_state(store, plan_id).subtasks.values()
        )
        assert all(a.poll() in (None, 0) for a in agents), [a.poll() for a in agents]
        people.act()
        time.sleep(0.3)
    for agent in agents:
        assert agent.wait(timeout=60) == 0
    return people


def _assert_finished_once(store: ReviewStore, plan_id: int) -> None:
    """Every subtask finished exactly once: one approved or edited draft, or one submitted work item."""
    with store.session() as session:
        finished = Counter(
            session.scalars(
                select(Draft.subtask_id).where(
                    Draft.plan_id == plan_id, Draft.status.in_(("approved", "edited"))
                )
            )
        )
        finished.update(
            session.scalars(
                select(WorkItem.subtask_id).where(WorkItem.plan_id == plan_id, WorkItem.status == "done")
            )
        )
        subtasks = set(session.scalars(select(Assignment.subtask_id).where(Assignment.plan_id == plan_id)))
    assert set(finished) == subtasks and set(finished.values()) == {1}, finished


def _assert_trail_complete(store: ReviewStore, plan_id: int) -> None:
    """Every draft created and decided in the trail, every rejection answered by a re-plan, every
    version after the import recorded."""
    trail = audit_trail(store)
    with store.session() as session:
        drafts = session.execute(select(Draft.id, Draft.status).where(Draft.plan_id == plan_id)).all()
        plan = session.get(Plan, plan_id)
        assert plan is not None
        versions = session.scalar(
            select(func.count()).select_from(PlanVersion).where(PlanVersion.plan_id == plan_id)
        )
    created = {e.entity_id for e in trail if e.action == "draft.created"}
    decided = {e.entity_id: e.action for e in trail if e.entity == "draft" and e.action != "draft.created"}
    assert created == {d for d, _ in drafts}
    assert decided == {d: f"draft.{status}" for d, status in drafts}
    rejections = [e.id for e in trail if e.action == "draft.rejected"]
    assert rejections and max(rejections) <= plan.replanned_through
    replans = [e for e in trail if e.action in ("plan.replanned", "plan.replan_failed")]
    assert [e.detail["version"] for e in replans] == list(range(2, versions + 1))
    answered = {t for e in replans for t in e.detail["triggers"]}
    assert "draft.rejected" in answered


def test_a_simulated_team_finishes_every_subtask_once_with_two_agent_processes(
    db_url: str, team_model_dir: Path, tmp_path: Path
) -> None:
    with open_store(db_url) as store:
        plan_id = import_team_plan(store)
        logs = [tmp_path / f"{worker}.log" for worker in AI_WORKERS]
        agents = [
            start_agent(
                db_url,
                w,
                team_model_dir,
                log,
                "--until-done",
                "--lease-seconds",
                LEASE,
                "--replan-debounce-seconds",
                "0.2",
            )
            for w, log in zip(AI_WORKERS, logs, strict=True)
        ]
        try:
            people = _run_team(store, plan_id, agents)
        finally:
            for agent in agents:
                agent.kill()
        assert people.decisions["reject"] >= 3 and people.decisions["approve"] >= 10, people.decisions

        _assert_finished_once(store, plan_id)
        counts = generated(logs)
        with store.session() as session:
            drafted = set(session.scalars(select(Draft.subtask_id).where(Draft.plan_id == plan_id)))
        assert set(counts.values()) == {1} and len(counts) == len(drafted), counts  # no draft generated twice
        _assert_trail_complete(store, plan_id)
        state = read_plan_state(store, plan_id)
        assert sorted(a.liveness for a in state.agents) == ["stopped", "stopped"]
        assert {a.worker for a in state.agents} == set(AI_WORKERS)


@SQLITE_ONLY
def test_an_agent_killed_mid_batch_loses_only_that_batch(
    db_url: str, team_model_dir: Path, tmp_path: Path
) -> None:
    """gpu0's agent is killed with SIGKILL while it holds a claimed batch. The other agent
    notices it lost after the lease, the re-plan gives gpu0's work to gpu1 or people, and the
    plan finishes as before: every subtask once, only the killed batch generated twice."""
    with open_store(db_url) as store:
        plan_id = import_team_plan(store)
        logs = [tmp_path / f"{worker}.log" for worker in AI_WORKERS]
        slow = start_agent(
            db_url, "gpu0", team_model_dir, logs[0], "--lease-seconds", LEASE, "--max-new-tokens", "200"
        )
        other = start_agent(
            db_url,
            "gpu1",
            team_model_dir,
            logs[1],
            "--until-done",
            "--lease-seconds",
            LEASE,
            "--replan-debounce-seconds",
            "0.2",
        )
        try:
            held = _wait_for_claims(store, plan_id, slow.pid)
            os.kill(slow.pid, signal.SIGKILL)
            slow.wait(timeout=10)
            _run_team(store, plan_id, [other])
        finally:
            slow.kill()
            other.kill()

        _assert_finished_once(store, plan_id)
        counts = generated(logs)
        twice = {key for key, n in counts.items() if n > 1}
        assert twice <= held and set(counts.values()) <= {1, 2}, (counts, held)
        trail = audit_trail(store)
        assert [e.detail["worker"] for e in trail if e.action == "agent.lost"] == ["gpu0"]
        assert any("agent.lost" in e.detail["triggers"] for e in trail if e.action == "plan.replanned")


def _wait_for_claims(store: ReviewStore, plan_id: int, pid: int) -> set[str]:
    """The subtasks the agent process `pid` holds a claim on, as soon as it holds any."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with store.session() as session:
            rows = session.execute(
                select(Assignment.subtask_id, Assignment.claimed_by).where(
                    Assignment.plan_id == plan_id, Assignment.claimed_by.like(f"%:{pid}:%")
                )
            ).all()
        if rows:
            with store.session() as session:
                ids = [row.subtask_id for row in rows]
                return set(session.scalars(select(Subtask.key).where(Subtask.id.in_(ids))))
        time.sleep(0.02)
    raise AssertionError("the agent never claimed a batch")
