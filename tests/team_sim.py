"""A simulated team for the scheduling agent's tests: a plan the allocator made, people who
review and work by a seeded script, and agent processes started as a team lead would.

A reviewer's decision on a draft depends only on the seed and the subtask (not on timing), so
two runs of the same plan decide the same drafts the same way whatever the agents' pace.
"""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from coassist.agent.state import read_plan_state
from coassist.plan import allocate, generate_instance
from coassist.plan.model import Worker
from coassist.review import decide, import_plan, review_queue, submit_work, work_items
from coassist.review.store import ReviewStore
from coassist.review.work import start_work

PEOPLE = ("ana", "bo", "cy", "dee", "eli")
AI_WORKERS = ("gpu0", "gpu1")


def team_tables(n_subtasks: int = 60, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """Subtasks from the instance generator, five people and two GPUs able to do anything, and
    the allocator's plan for them (subtask, worker and plan tables as `import_plan` takes them)."""
    tasks, _ = generate_instance(n_subtasks, 10, seed=seed)
    tasks = [
        dataclasses.replace(t, title=f"Subtask {t.id}", description=f"Do {t.skill} work {t.id}")
        for t in tasks
    ]
    hours = sum(t.human_hours for t in tasks)
    team = [
        Worker(p, "human", ("*",), round(1.2 * hours / len(PEOPLE), 1), 40 + 10 * i)
        for i, p in enumerate(PEOPLE)
    ]
    ai_hours = sum(t.ai_hours or 0 for t in tasks)  # each GPU can take a bit over half of it
    team += [Worker(g, "ai", ("*",), round(0.6 * ai_hours, 1), 3) for g in AI_WORKERS]
    plan = allocate(tasks, team)
    task_frame = pd.DataFrame(
        {
            "id": [t.id for t in tasks],
            "title": [t.title for t in tasks],
            "description": [t.description for t in tasks],
            "skill": [t.skill for t in tasks],
            "human_hours": [t.human_hours for t in tasks],
            "ai_hours": [t.ai_hours for t in tasks],
            "review_hours": [t.review_hours for t in tasks],
            "p_pass": [t.p_pass for t in tasks],
            "depends_on": [list(t.depends_on) for t in tasks],
        }
    )
    worker_frame = pd.DataFrame(
        {
            "id": [w.id for w in team],
            "kind": [w.kind for w in team],
            "skills": [";".join(w.skills) for w in team],
            "capacity_hours": [w.capacity_hours for w in team],
            "cost_per_hour": [w.cost_per_hour for w in team],
        }
    )
    return task_frame, worker_frame, plan


def import_team_plan(store: ReviewStore, n_subtasks: int = 60, seed: int = 3) -> int:
    tasks, workers, plan = team_tables(n_subtasks, seed)
    return import_plan(store, tasks, workers, plan, project="sim", name="simulated team", actor="lead")


@dataclasses.dataclass
class ScriptedPeople:
    """Five people: each decides the drafts in their queue (approve, edit or reject at seeded
    rates) and starts and submits their own work once its dependencies are finished."""

    store: ReviewStore
    plan_id: int
    seed: int = 0
    rates: tuple[float, float, float] = (0.6, 0.2, 0.2)
    decisions: Counter[str] = dataclasses.field(default_factory=Counter)

    def decision(self, subtask: str) -> str:
        rng = random.Random(f"{self.seed}:{subtask}")
        return rng.choices(("approve", "edit", "reject"), weights=self.rates)[0]

    def act(self) -> int:
        """One round for everybody; how many things they did."""
        done = 0
        for person in PEOPLE:
            for item in review_queue(self.store, reviewer=person, plan_id=self.plan_id):
                choice = self.decision(item.subtask)
                edited = f"{item.text}\n(edited by {person})" if choice == "edit" else None
                decide(
                    self.store,
                    item.draft_id,
                    person,
                    choice,
                    edited_text=edited,
                    expected_version=item.version,
                )
                self.decisions[choice] += 1
                done += 1
        state = read_plan_state(self.store, self.plan_id)
        for item in work_items(self.store, plan_id=self.plan_id):
            if state.subtasks[item.subtask].state in ("with_person", "rework"):
                start_work(self.store, item.id, actor=item.worker)
                submit_work(
                    self.store, item.id, f"{item.worker}'s result for {item.subtask}", actor=item.worker
                )
                done += 1
        return done


def agent_command(db_url: str, worker: str, model: Path | str, *extra: str) -> list[str]:
    """`coassist agent` for `worker`, JSON logs; `model` is a model directory or any model spec."""
    return [
        sys.executable, "-m", "coassist", "agent", "--db", db_url, "--worker", worker,
        "--model", str(model), "--log-format", "json", "--max-new-tokens", "8", "--batch-size", "4",
        *extra,
    ]  # fmt: skip


def start_agent(db_url: str, worker: str, model: Path | str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(agent_command(db_url, worker, model, *extra), stderr=log.open("wb"))


def generated(logs: list[Path]) -> Counter[str]:
    """How many times each subtask was generated, from the agents' JSON logs."""
    counts: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "drafted":
                    counts.update(record["generated"])
    return counts
