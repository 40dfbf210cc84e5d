"""The task allocator: who does each subtask (a person or the AI), who reviews, and when.

>>> from coassist.plan import Subtask, Worker, allocate
>>> plan = allocate([Subtask("report", "writing", human_hours=3)],
...                 [Worker("ann", "human", ("writing",), capacity_hours=8, cost_per_hour=40)])
>>> plan.cost, plan.makespan
(120.0, 3.0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coassist.plan.assign import allocate
    from coassist.plan.explain import Explanation, explain_infeasibility
    from coassist.plan.gantt import plot_gantt
    from coassist.plan.generate import generate_instance
    from coassist.plan.io import load_tasks, load_workers, write_plan_csv
    from coassist.plan.model import AllocateOptions, PassRouter, Plan, Subtask, Worker
    from coassist.plan.replanning import Move, PlanDiff, Progress, Replan, WorkerChange, replan
    from coassist.plan.report import summary
    from coassist.plan.seed import SeedResult, seed_lp

# `schedule` is bound eagerly (it is light): importing the submodule of the same name would
# otherwise set `coassist.plan.schedule` to the module, hiding the function.
from coassist.plan.schedule import Schedule, schedule

# The rest is imported on first use: the review store reads task tables through `coassist.plan.io`, and
# must not pay for the solvers and matplotlib (seconds) to do so.
_HOME = {
    name: module
    for module, names in {
        "coassist.plan.assign": ("allocate",),
        "coassist.plan.explain": ("Explanation", "explain_infeasibility"),
        "coassist.plan.gantt": ("plot_gantt",),
        "coassist.plan.generate": ("generate_instance",),
        "coassist.plan.io": ("load_tasks", "load_workers", "write_plan_csv"),
        "coassist.plan.model": ("AllocateOptions", "PassRouter", "Plan", "Subtask", "Worker"),
        "coassist.plan.replanning": ("Move", "PlanDiff", "Progress", "Replan", "WorkerChange", "replan"),
        "coassist.plan.report": ("summary",),
        "coassist.plan.seed": ("SeedResult", "seed_lp"),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'coassist.plan' has no attribute {name!r}")


__all__ = [
    "AllocateOptions",
    "Explanation",
    "Move",
    "PassRouter",
    "Plan",
    "PlanDiff",
    "Progress",
    "Replan",
    "Schedule",
    "SeedResult",
    "Subtask",
    "Worker",
    "WorkerChange",
    "allocate",
    "explain_infeasibility",
    "generate_instance",
    "load_tasks",
    "load_workers",
    "plot_gantt",
    "replan",
    "schedule",
    "seed_lp",
    "summary",
    "write_plan_csv",
]
