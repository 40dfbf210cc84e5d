"""Random team instances of the assignment model, for benchmarks, tests and demos.

The numbers are shaped like a real team's so the model is neither trivial nor infeasible:
people cover one to three of eight skills and have about 25% more hours than the work needs
if nobody used the AI; GPUs are scarce (about half the GPU-hours the AI-capable subtasks
would take), so the trade-off between cheap GPU time and costly review time is binding.
"""

from __future__ import annotations

import numpy as np

from coassist.errors import InvalidOption
from coassist.plan.model import AI, ANY_SKILL, HUMAN, Subtask, Worker

SKILLS = ("sql", "python", "stats", "ml", "viz", "writing", "devops", "domain")


def generate_instance(
    n_subtasks: int, n_workers: int, seed: int = 0, dependency_rate: float = 0.3
) -> tuple[list[Subtask], list[Worker]]:
    """`n_subtasks` subtasks and `n_workers` workers (one in ten an AI worker, at least one).

    >>> tasks, workers = generate_instance(50, 10, seed=1)
    >>> len(tasks), len(workers), sum(w.kind == "ai" for w in workers)
    (50, 10, 1)
    """
    rng = np.random.default_rng(seed)
    n_ai = max(1, n_workers // 10)
    n_human = n_workers - n_ai
    if n_human < 1:
        raise InvalidOption("n_workers", "need at least two workers: one person and one AI worker")
    tasks = _random_subtasks(rng, n_subtasks, dependency_rate)
    return tasks, _random_team(rng, tasks, n_human, n_ai)


def _random_subtasks(rng: np.random.Generator, n: int, dependency_rate: float) -> list[Subtask]:
    """Log-normal hours, 70% AI-capable, each depending on up to two of the 50 before it."""
    human_hours = np.round(rng.lognormal(np.log(4), 0.6, n), 2).clip(0.25, 40)
    ai_capable = rng.random(n) < 0.7
    ai_hours = np.round(human_hours * rng.uniform(0.05, 0.3, n), 2).clip(0.05)
    review = np.round(human_hours * rng.uniform(0.1, 0.4, n), 2)
    p_pass = np.round(rng.uniform(0.4, 0.95, n), 2)
    skill = rng.choice(len(SKILLS), n, p=np.array([3, 4, 2, 2, 2, 2, 1, 1]) / 17)
    tasks = []
    for i in range(n):
        deps: tuple[str, ...] = ()
        if i and rng.random() < dependency_rate:
            k = min(i, int(rng.integers(1, 3)))
            deps = tuple(f"t{j}" for j in sorted(rng.choice(np.arange(max(0, i - 50), i), k, replace=False)))
        tasks.append(
            Subtask(
                id=f"t{i}",
                skill=SKILLS[skill[i]],
                human_hours=float(human_hours[i]),
                ai_hours=float(ai_hours[i]) if ai_capable[i] else None,
                review_hours=float(review[i]),
                p_pass=float(p_pass[i]),
                depends_on=deps,
            )
        )
    return tasks


def _random_team(rng: np.random.Generator, tasks: list[Subtask], n_human: int, n_ai: int) -> list[Worker]:
    """People with one to three skills and 125% of the work's hours between them; GPUs with half
    the AI-hours, every other one able to do any skill."""
    workers = []
    per_person = 1.25 * np.array([t.human_hours for t in tasks]).sum() / n_human
    for h in range(n_human):
        own = {SKILLS[h % len(SKILLS)]} | {
            SKILLS[k] for k in rng.choice(len(SKILLS), int(rng.integers(0, 3)))
        }
        workers.append(
            Worker(
                id=f"p{h}",
                kind=HUMAN,
                skills=tuple(sorted(own)),
                capacity_hours=float(np.round(per_person * rng.uniform(0.8, 1.2), 1)),
                cost_per_hour=float(rng.integers(30, 121)),
            )
        )
    per_gpu = 0.5 * np.array([t.ai_hours for t in tasks if t.ai_hours is not None]).sum() / n_ai
    for a in range(n_ai):
        skills = (ANY_SKILL,) if a % 2 == 0 else tuple(sorted(set(rng.choice(SKILLS, 5, replace=False))))
        workers.append(
            Worker(
                id=f"gpu{a}",
                kind=AI,
                skills=skills,
                capacity_hours=float(np.round(per_gpu * rng.uniform(0.8, 1.2), 1)),
                cost_per_hour=float(rng.integers(2, 5)),
            )
        )
    return workers
