"""The task allocator: who does each subtask (a person or the AI), who reviews, and when.

>>> from coassist.plan import Subtask, Worker, allocate
>>> plan = allocate([Subtask("report", "writing", human_hours=3)],
...                 [Worker("ann", "human", ("writing",), capacity_hours=8, cost_per_hour=40)])
>>> plan.cost, plan.makespan
(120.0, 3.0)
"""

from __future__ import annotations

from coassist.plan.assign import allocate
from coassist.plan.explain import Explanation, explain_infeasibility
from coassist.plan.gantt import plot_gantt
from coassist.plan.generate import generate_instance
from coassist.plan.io import load_tasks, load_workers, write_plan_csv
from coassist.plan.model import AllocateOptions, PassRouter, Plan, Subtask, Worker
from coassist.plan.report import summary
from coassist.plan.schedule import Schedule, schedule
from coassist.plan.seed import SeedResult, seed_lp

__all__ = [
    "AllocateOptions",
    "Explanation",
    "PassRouter",
    "Plan",
    "Schedule",
    "SeedResult",
    "Subtask",
    "Worker",
    "allocate",
    "explain_infeasibility",
    "generate_instance",
    "load_tasks",
    "load_workers",
    "plot_gantt",
    "schedule",
    "seed_lp",
    "summary",
    "write_plan_csv",
]
