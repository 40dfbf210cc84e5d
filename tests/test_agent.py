"""The scheduling agent in one process: drafting its worker's subtasks, re-planning on a
rejection, a capacity drop with no plan left, lost agents, and the command line.

The simulated team with agent processes (and kill -9) is tests/test_agent_team.py.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import update

from coassist.agent import (
    Agent,
    AgentConfig,
    pending_triggers,
    presence,
    read_plan_state,
    replan_stored,
    replanning,
)
from coassist.agent.learning import LearningConfig
from coassist.agent.presence import mark_lost
from coassist.agent.wakeup import wakeup_for
from coassist.errors import ClaimLost, InvalidOption, InvalidTaskTable, NotInStore
from coassist.plan import allocate, replan
from coassist.plan.model import Subtask, Worker
from coassist.review import audit_trail, decide, import_plan, open_store, review_queue, work_items
from coassist.review.drafting import (
    DraftingConfig,
    claim_batch,
    draft_batch,
    generate_drafts,
    ready_ai_subtasks,
    save_drafts,
)
from coassist.review.schema import AgentRecord, utcnow
from coassist.review.standing import DRAFTABLE
from coassist.review.team import change_subtask, set_capacity
from coassist.review.work import start_work
from tests.postgres import SQLITE_ONLY
from tests.test_review_support import ScriptedModel, small_plan

FAST = AgentConfig(
    drafting=DraftingConfig(batch_size=4, progress=False),
    lease_seconds=2.0,
    max_poll_seconds=0.1,
    replan_debounce_seconds=0.0,
)


def _frames(tasks: list[Subtask], team: list[Worker]) -> tuple[pd.DataFrame, pd.DataFrame]:
    task_frame = pd.DataFrame(
        [
            {
                "id": t.id,
                "skill": t.skill,
                "human_hours": t.human_hours,
                "ai_hours": t.ai_hours,
                "review_hours": t.review_hours,
                "p_pass": t.p_pass,
                "depends_on": list(t.depends_on),
            }
            for t in tasks
        ]
    )
    team_frame = pd.DataFrame(
        [
            {
                "id": w.id,
                "kind": w.kind,
                "skills": ";".join(w.skills),
                "capacity_hours": w.capacity_hours,
                "cost_per_hour": w.cost_per_hour,
            }
            for w in team
        ]
    )
    return task_frame, team_frame


def _store_plan(store, tasks: list[Subtask], team: list[Worker]) -> int:  # type: ignore[no-untyped-def]
    return import_plan(store, *_frames(tasks, team), allocate(tasks, team), project="t", actor="lead")


TASKS = [
    Subtask("load", "sql", 4.0, ai_hours=0.5, review_hours=1.0, p_pass=0.9),
    Subtask("clean", "sql", 4.0, ai_hours=0.5, review_hours=1.0, p_pass=0.8, depends_on=("load",)),
    Subtask("model", "stats", 6.0, review_hours=0.0, depends_on=("clean",)),
    Subtask("report", "writing", 3.0, ai_hours=0.3, review_hours=1.0, p_pass=0.7, depends_on=("model",)),
]
TEAM = [
    Worker("ana", "human", ("sql", "stats", "writing"), 20.0, 50.0),
    Worker("bo", "human", ("sql", "writing"), 20.0, 60.0),
    Worker("gpu0", "ai", ("*",), 10.0, 3.0),
]


def test_an_agent_drafts_only_its_workers_ready_subtasks_and_signs_off(db_url: str) -> None:
    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        model = ScriptedModel()
        report = Agent(store, "gpu0", model, plan_id, FAST).run_once()
        assert report.drafted == ["load"]  # clean waits for load's review
        assert sum(len(batch) for batch in model.batches) == 1
        state = read_plan_state(store, plan_id)
        assert state.subtasks["load"].state == "in_review"
        assert [a.liveness for a in state.agents] == ["stopped"]
        actions = [e.action for e in audit_trail(store)]
        assert actions.count("agent.started") == actions.count("agent.stopped") == 1


def test_a_rejection_replans_with_the_rework_held_on_the_reviewer(db_url: str) -> None:
    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        agent = Agent(store, "gpu0", ScriptedModel(), plan_id, FAST)
        agent.run_once()
        (item,) = review_queue(store, plan_id=plan_id)
        decide(store, item.draft_id, item.reviewer or "ana", "reject", expected_version=item.version)
        assert [action for _, action in pending_triggers(store, plan_id)] == ["draft.rejected"]

        stored = replan_stored(store, plan_id, "test")
        assert stored is not None and stored.version == 2 and stored.triggers == ("draft.rejected",)
        assert pending_triggers(store, plan_id) == []
        state = read_plan_state(store, plan_id)
        assert state.version == 2
        load = state.subtasks["load"]
        assert (load.state, load.doer, load.reviewer, load.progress) == (
            "rework",
            item.reviewer,
            None,
            "in_progress",
        )
        rework = [
            i.subtask
            for i in work_items(store, worker=item.reviewer, plan_id=plan_id)
            if i.origin == "rejected_draft"
        ]
        assert rework == ["load"]
        replanned = [e for e in audit_trail(store, entity="plan") if e.action == "plan.replanned"]
        assert [e.detail["version"] for e in replanned] == [2]
        assert "Re-planned 3 not-started subtask(s), holding 1" in replanned[0].detail["summary"]


@SQLITE_ONLY
def test_two_agents_replanning_at_once_store_one_version(db_url: str) -> None:
    """The version is compared and bumped: the slower re-plan finds it taken and stores nothing."""
    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        set_capacity(store, plan_id, "bo", 10.0, actor="lead")
        first_read = read_plan_state(store, plan_id)
        assert replan_stored(store, plan_id, "agent a") is not None
        # A second agent that read the plan before the first wrote it: its write must not land.
        late = replan(
            first_read.tasks, first_read.team or [], first_read.plan_in_force(), first_read.progress()
        )
        assert late.plan is not None
        with pytest.raises(replanning._Stale), store.session() as session:
            replanning._store(
                session, first_read, 10**9, late.plan.assignments, late.diff, "agent b", routed=False
            )
        assert read_plan_state(store, plan_id).version == 2
        assert len([e for e in audit_trail(store, entity="plan") if e.action == "plan.replanned"]) == 1


def test_a_capacity_drop_with_no_plan_left_keeps_the_plan_and_says_why(db_url: str) -> None:
    """ana is the only one with stats: at 0 hours nobody can do "model". Done and in-progress
    work stays as it was, and the version carries the why-not."""
    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        before = read_plan_state(store, plan_id)
        assert before.subtasks["model"].doer == "ana"
        Agent(store, "gpu0", ScriptedModel(), plan_id, FAST).run_once()
        set_capacity(store, plan_id, "ana", 0.0, actor="lead")

        stored = replan_stored(store, plan_id, "test")
        assert stored is not None and stored.diff.why_not is not None
        assert "ana" in stored.diff.why_not and stored.diff.cost_after is None
        after = read_plan_state(store, plan_id)
        assert after.version == 2
        assert {k: (v.doer, v.reviewer, v.state) for k, v in after.subtasks.items()} == {
            k: (v.doer, v.reviewer, "in_review" if k == "load" else v.state)
            for k, v in before.subtasks.items()
        }
        failed = [e for e in audit_trail(store, entity="plan") if e.action == "plan.replan_failed"]
        assert len(failed) == 1 and "no plan fits" in failed[0].detail["summary"]


def test_a_person_who_started_keeps_their_work_and_others_move(db_url: str) -> None:
    """bo away: his not-started subtask goes to someone else, his work item is withdrawn, and the
    new doer gets one; work a person said they started is held."""
    tasks = [
        Subtask("a", "sql", 2.0, review_hours=0.0),
        Subtask("b", "sql", 2.0, review_hours=0.0),
        Subtask("c", "sql", 2.0, review_hours=0.0),
    ]
    team = [Worker("ana", "human", ("sql",), 4.0, 50.0), Worker("bo", "human", ("sql",), 4.0, 40.0)]
    with open_store(db_url) as store:
        plan_id = _store_plan(store, tasks, team)
        bos = work_items(store, worker="bo", plan_id=plan_id)
        assert len(bos) == 2
        start_work(store, bos[0].id, actor="bo")
        set_capacity(store, plan_id, "bo", 2.0, actor="lead")  # only the started one fits
        set_capacity(store, plan_id, "ana", 6.0, actor="lead")
        stored = replan_stored(store, plan_id, "test")
        assert stored is not None and stored.diff.why_not is None
        assert [(m.subtask, m.from_worker, m.to_worker) for m in stored.diff.moves] == [
            (bos[1].subtask, "bo", "ana")
        ]
        assert [i.subtask for i in work_items(store, worker="bo", plan_id=plan_id)] == [bos[0].subtask]
        assert bos[1].subtask in [i.subtask for i in work_items(store, worker="ana", plan_id=plan_id)]
        assert [i.status for i in work_items(store, worker="bo", plan_id=plan_id, status="all")] == [
            "open",
            "withdrawn",
        ]


def test_a_lost_agent_is_noticed_once_and_its_workers_work_moves(db_url: str) -> None:
    tasks = [Subtask(f"s{i}", "sql", 2.0, ai_hours=0.2, review_hours=0.5, p_pass=0.8) for i in range(4)]
    team = [
        Worker("ana", "human", ("sql",), 20.0, 50.0),
        Worker("gpu0", "ai", ("*",), 0.4, 3.0),
        Worker("gpu1", "ai", ("*",), 0.8, 4.0),
    ]
    with open_store(db_url) as store:
        plan_id = _store_plan(store, tasks, team)
        assert Counter(v.doer for v in read_plan_state(store, plan_id).subtasks.values()) == {
            "gpu0": 2,
            "gpu1": 2,
        }
        dead = Agent(store, "gpu0", ScriptedModel(), plan_id, FAST)
        presence.register(store, dead.id, plan_id, "gpu0", "scripted", 2.0)
        with store.session() as session:  # its last heartbeat: a minute ago
            session.execute(
                update(AgentRecord)
                .where(AgentRecord.id == dead.id)
                .values(heartbeat_at=utcnow() - timedelta(minutes=1))
            )
        assert mark_lost(store, plan_id, "someone") == [dead.id]
        assert mark_lost(store, plan_id, "someone else") == []
        stored = replan_stored(store, plan_id, "test")
        assert stored is not None and stored.triggers == ("agent.lost",)
        doers = Counter(v.doer for v in read_plan_state(store, plan_id).subtasks.values())
        assert doers["gpu0"] == 0, doers


def test_an_agent_marked_lost_that_beats_again_is_live_and_brings_its_worker_back(db_url: str) -> None:
    """Lost means no heartbeat now: a paused agent that resumes beats again, is running and live
    at once, and since its worker had no other agent, the trail says it returned (a re-plan
    gives the worker its hours back)."""
    tasks = [Subtask(f"s{i}", "sql", 2.0, ai_hours=0.2, review_hours=0.5, p_pass=0.8) for i in range(2)]
    team = [Worker("ana", "human", ("sql",), 20.0, 50.0), Worker("gpu0", "ai", ("*",), 4.0, 3.0)]
    with open_store(db_url) as store:
        plan_id = _store_plan(store, tasks, team)
        presence.register(store, "paused", plan_id, "gpu0", "scripted", 2.0)
        with store.session() as session:  # its last heartbeat: a minute ago
            session.execute(
                update(AgentRecord).where(AgentRecord.id == "paused").values(heartbeat_at=utcnow() - timedelta(minutes=1))
            )
        assert mark_lost(store, plan_id, "someone") == ["paused"]
        assert [a.liveness for a in read_plan_state(store, plan_id).agents] == ["lost"]

        presence.beat(store, "paused", 2.0)
        assert [a.liveness for a in read_plan_state(store, plan_id).agents] == ["live"]
        with store.session() as session:
            assert session.get(AgentRecord, "paused").state == "running"  # type: ignore[union-attr]
        assert [action for _, action in pending_triggers(store, plan_id)] == ["agent.lost", "agent.returned"]
        presence.beat(store, "paused", 2.0)  # an ordinary beat records nothing
        assert len(pending_triggers(store, plan_id)) == 2


def test_a_replan_that_moves_a_claimed_subtask_away_voids_the_claim(db_url: str) -> None:
    """A claim whose lease ran out does not hold a subtask against a re-plan; once the re-plan
    gives the subtask to a person, the claim's drafts are refused (the fence) and the person
    keeps it. A claim on a subtask the re-plan leaves in place survives it, token and all."""
    tasks = [Subtask(f"s{i}", "sql", 2.0, ai_hours=0.2, review_hours=0.5, p_pass=0.8) for i in range(2)]
    team = [Worker("ana", "human", ("sql",), 20.0, 50.0), Worker("gpu0", "ai", ("*",), 4.0, 3.0)]
    with open_store(db_url) as store:
        plan_id = _store_plan(store, tasks, team)
        ready = ready_ai_subtasks(store, plan_id).ready
        stale = claim_batch(store, plan_id, ready[:1], "paused-run", 0.05)
        kept = claim_batch(store, plan_id, ready[1:], "live-run", 600)
        batch = generate_drafts(ScriptedModel(), stale, DraftingConfig(progress=False))
        time.sleep(0.1)  # the first claim's lease runs out
        change_subtask(store, plan_id, stale.subtasks[0].key, ai_hours=None, actor="lead")  # only people can do it
        stored = replan_stored(store, plan_id, "lead")
        assert stored is not None and [m.subtask for m in stored.diff.moves] == [stale.subtasks[0].key]

        with pytest.raises(ClaimLost) as caught:
            save_drafts(store, batch)
        assert caught.value.lost == {stale.subtasks[0].key: "given to ana by a re-plan"}
        assert [s.subtask for s in draft_batch(store, ScriptedModel(), kept, DraftingConfig(progress=False))] == [
            kept.subtasks[0].key
        ]
        state = read_plan_state(store, plan_id)
        assert state.subtasks[stale.subtasks[0].key].state == "with_person"
        assert [i.subtask for i in work_items(store, worker="ana", plan_id=plan_id)] == [stale.subtasks[0].key]


def test_drafting_and_every_status_view_agree_on_what_is_ready_and_whose(db_url: str) -> None:
    """One rule (`review.standing.subtask_state`): the subtasks drafting offers are exactly the
    AI subtasks the plan state calls ready or drafting, with the same doer, at every stage."""

    def agree() -> None:
        readiness = ready_ai_subtasks(store, plan_id)
        state = read_plan_state(store, plan_id)
        ai = {k: v for k, v in state.subtasks.items() if v.doer in state.ai_workers}
        assert {t.key: t.worker for t in readiness.ready} == {k: v.doer for k, v in ai.items() if v.state in DRAFTABLE}
        assert {t.key for t in readiness.ready if t.claimed_by} == {k for k, v in ai.items() if v.state == "drafting"}
        assert set(readiness.waiting) == {k for k, v in ai.items() if v.state == "waiting"}

    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        agree()
        claim = claim_batch(store, plan_id, ready_ai_subtasks(store, plan_id).ready, "run", 600)
        agree()
        draft_batch(store, ScriptedModel(), claim, DraftingConfig(progress=False))
        agree()
        (item,) = review_queue(store, plan_id=plan_id)
        decide(store, item.draft_id, "ana", "approve", expected_version=item.version)
        agree()


def test_the_agent_thread_stops_between_batches_and_releases_nothing_half_done(db_url: str) -> None:
    tasks = [Subtask(f"s{i}", "sql", 2.0, ai_hours=0.1, review_hours=0.5, p_pass=0.8) for i in range(6)]
    team = [Worker("ana", "human", ("sql",), 40.0, 50.0), Worker("gpu0", "ai", ("*",), 10.0, 3.0)]
    with open_store(db_url) as store:
        plan_id = _store_plan(store, tasks, team)
        agent = Agent(store, "gpu0", ScriptedModel(), plan_id, FAST).start()
        deadline = time.monotonic() + 30
        while len(review_queue(store, plan_id=plan_id)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        agent.stop(timeout=30)
        assert not agent.running
        state = read_plan_state(store, plan_id)
        assert Counter(v.state for v in state.subtasks.values()) == {"in_review": 6}
        assert [a.liveness for a in state.agents] == ["stopped"]


@SQLITE_ONLY
def test_the_command_line_names_what_to_fix(db_url: str) -> None:
    with open_store(db_url) as store:
        import_plan(store, *small_plan(), project="p")  # ids and kinds only
    run = subprocess.run(
        [sys.executable, "-m", "coassist", "agent", "--db", db_url, "--worker", "gpu9", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "no AI worker 'gpu9'" in run.stderr and "AI workers: gpu" in run.stderr
    assert "Traceback" not in run.stderr

    typo = Path(db_url.removeprefix("sqlite:///")).with_name("reveiw.db")
    run = subprocess.run(
        [sys.executable, "-m", "coassist", "agent", "--db", str(typo), "--worker", "gpu", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "no SQLite file" in run.stderr and "Traceback" not in run.stderr
    assert not typo.exists()  # a mistyped path does not become a new, empty database


@SQLITE_ONLY
def test_the_agent_retrains_the_router_and_suggests_a_fine_tune_from_decisions(
    db_url: str, tmp_path: Path
) -> None:
    tasks = [Subtask(f"s{i}", "sql", 2.0, ai_hours=0.1, review_hours=0.5, p_pass=0.8) for i in range(4)]
    team = [Worker("ana", "human", ("sql",), 40.0, 50.0), Worker("gpu0", "ai", ("*",), 10.0, 3.0)]
    learning = LearningConfig(router_every=3, router_dir=tmp_path / "router", finetune_hint_every=2)
    with open_store(db_url) as store:
        plan_id = _store_plan(store, tasks, team)
        agent = Agent(store, "gpu0", ScriptedModel(), plan_id, dataclasses.replace(FAST, learning=learning))
        agent.run_once()
        queue = review_queue(store, plan_id=plan_id)
        assert len(queue) == 4
        for item, choice in zip(queue, ["approve", "edit", "reject"], strict=False):
            edited = "better" if choice == "edit" else None
            decide(store, item.draft_id, "ana", choice, edited_text=edited, expected_version=item.version)
        agent.run_once()

        trail = audit_trail(store, entity="plan")
        (retrained,) = [e for e in trail if e.action == "router.retrained"]
        assert retrained.detail["count"] == 3 and retrained.detail["fallback"] is True  # 3 labels: the prior
        assert (tmp_path / "router" / "router.json").is_file()
        (suggested,) = [e for e in trail if e.action == "finetune.suggested"]
        assert suggested.detail["count"] == 2 and "coassist finetune" in suggested.detail["commands"]
        (replanned,) = [e for e in trail if e.action == "plan.replanned"]
        assert replanned.detail["p_pass"] == "router"  # the rejection's re-plan used the new router


def test_an_idle_agent_wakes_on_a_change_on_postgresql_and_naps_on_sqlite(db_url: str) -> None:
    """PostgreSQL: the audit trigger's NOTIFY ends the wait as soon as the change commits.
    SQLite: the wait runs its course (the agent polls there)."""
    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        wakeup = wakeup_for(store)
        try:
            change = threading.Timer(0.3, lambda: set_capacity(store, plan_id, "bo", 5.0, actor="lead"))
            started = time.monotonic()
            change.start()
            woken = wakeup.wait(3.0, threading.Event())
            waited = time.monotonic() - started
            change.join()
        finally:
            wakeup.close()
    if store.engine.dialect.name == "postgresql":
        assert woken and waited < 2.0, waited
    else:
        assert not woken and waited >= 2.9, waited


def test_a_changed_estimate_replans_and_a_bad_one_is_refused(db_url: str) -> None:
    with open_store(db_url) as store:
        plan_id = _store_plan(store, TASKS, TEAM)
        assert pending_triggers(store, plan_id) == []  # the import's own subtask rows are answered
        with pytest.raises(InvalidTaskTable, match="human_hours"):
            change_subtask(store, plan_id, "model", human_hours=-1.0)
        with pytest.raises(InvalidOption, match="depends_on"):
            change_subtask(store, plan_id, "model", depends_on=["load"])
        with pytest.raises(NotInStore, match="nope"):
            change_subtask(store, plan_id, "nope", human_hours=1.0)
        assert pending_triggers(store, plan_id) == []

        change_subtask(
            store, plan_id, "report", ai_hours=None, actor="lead"
        )  # the AI cannot write it after all
        assert [action for _, action in pending_triggers(store, plan_id)] == ["subtask.updated"]
        stored = replan_stored(store, plan_id, "test")
        assert stored is not None and stored.triggers == ("subtask.updated",)
        assert read_plan_state(store, plan_id).subtasks["report"].doer in ("ana", "bo")


def test_the_plan_in_force_costs_what_the_allocator_said(db_url: str) -> None:
    """Priced as the allocator prices it (reviews carry the expected rework) and timed as stored:
    a re-plan that moves nothing reports the same cost and makespan before and after."""
    plan = allocate(TASKS, TEAM)
    with open_store(db_url) as store:
        plan_id = import_plan(store, *_frames(TASKS, TEAM), plan, project="t", actor="lead")
        in_force = read_plan_state(store, plan_id).plan_in_force()
        assert in_force.cost == pytest.approx(plan.cost) and in_force.makespan == pytest.approx(plan.makespan)
        set_capacity(store, plan_id, "bo", 19.0, actor="lead")  # still more than he needs
        stored = replan_stored(store, plan_id, "test")
        assert stored is not None and stored.diff.moves == ()
        assert stored.diff.cost_before == pytest.approx(plan.cost) == stored.diff.cost_after
