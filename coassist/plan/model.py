"""Plain data of the allocator: subtasks, workers, solve options and the resulting plan.

These are frozen dataclasses so a plan can be passed around (notebook, CLI, REST) without
anyone mutating it behind the solver's back; behaviour lives in the other modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import pandas as pd

from coassist.errors import InvalidOption

WorkerKind = Literal["human", "ai"]
HUMAN: WorkerKind = "human"
AI: WorkerKind = "ai"
KINDS: tuple[WorkerKind, ...] = get_args(WorkerKind)

SolveMethod = Literal["auto", "exact", "repair"]
SolverName = Literal["auto", "highs", "cbc"]
PlanStatus = Literal["optimal", "feasible", "relaxed"]
ANY_SKILL = "*"


@dataclass(frozen=True)
class Subtask:
    """One piece of the team's work.

    >>> Subtask("t1", "sql", human_hours=3, ai_hours=0.5, review_hours=1, p_pass=0.8).ai_capable
    True
    """

    id: str
    """Unique id, referenced by other subtasks' `depends_on`."""
    skill: str
    """The one skill a worker needs to do it (or to review an AI draft of it)."""
    human_hours: float
    """Hours a person needs to do it from scratch."""
    ai_hours: float | None = None
    """GPU-hours the model needs to draft it; None means the AI cannot do it."""
    review_hours: float = 0.0
    """Hours a person needs to review an AI draft of it."""
    p_pass: float | None = None
    """Probability that an AI draft passes review; None when it comes from a router."""
    depends_on: tuple[str, ...] = ()
    """Ids of the subtasks that must be done before this one starts."""
    title: str = ""
    """Free text for people; the solver ignores it."""
    description: str = ""
    """Longer free text (what done looks like); a p_pass router reads it with the title."""

    @property
    def ai_capable(self) -> bool:
        return self.ai_hours is not None


@dataclass(frozen=True)
class Worker:
    """A person (hours) or an AI worker (GPU-hours) who can take subtasks."""

    id: str
    kind: WorkerKind
    """`"human"` or `"ai"`."""
    skills: tuple[str, ...] = (ANY_SKILL,)
    """Skills this worker covers; `"*"` covers every skill."""
    capacity_hours: float = 0.0
    """Hours (people) or GPU-hours (AI) available in the planning horizon."""
    cost_per_hour: float = 0.0
    """Cost of one hour (or GPU-hour) of this worker."""


def can_do(worker: Worker, skill: str) -> bool:
    """Whether `worker` is eligible for a subtask of `skill` (doing it, or reviewing it)."""
    return ANY_SKILL in worker.skills or skill in worker.skills


PassRouter = Callable[[Sequence[Subtask]], Sequence[float]]
"""The p_pass seam: given the subtasks, return P(AI draft passes review) for each, in order.

A fine-tuned router classifier plugs in here; the planning core only ever sees the numbers.
"""


# A day: the solver's budget is for a person waiting on a plan, and nan or inf would mean "never".
MAX_TIME_LIMIT = 86_400.0


@dataclass(frozen=True)
class AllocateOptions:
    """How hard to solve, and which way.

    >>> AllocateOptions(gap=0.01).time_limit
    60.0
    """

    gap: float = 1e-4
    """Relative MIP gap at which a plan counts as optimal: (cost - bound) / cost."""
    time_limit: float = 60.0
    """Wall-clock seconds for the whole solve; the best plan found by then is returned."""
    relax: bool = False
    """Solve the LP relaxation (fractional shares) and report shadow prices."""
    method: SolveMethod = "auto"
    """`"auto"` (LP, repair, then MILP warm-started while the gap is open), `"exact"`
    (MILP only) or `"repair"` (LP relaxation plus repair only)."""
    solver: SolverName = "auto"
    """`"highs"` (arrays passed to highspy), `"cbc"` (PuLP + CBC) or `"auto"` (HiGHS when
    importable)."""

    def __post_init__(self) -> None:
        if not 0 <= self.gap < 1:  # also false for nan
            raise InvalidOption("gap", f"must be a number in [0, 1), got {self.gap}")
        if not 0 < self.time_limit <= MAX_TIME_LIMIT:
            raise InvalidOption(
                "time_limit", f"must be seconds in (0, {MAX_TIME_LIMIT:g}], got {self.time_limit}"
            )
        for option, value, allowed in (
            ("method", self.method, get_args(SolveMethod)),
            ("solver", self.solver, get_args(SolverName)),
        ):
            if value not in allowed:
                raise InvalidOption(option, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")


@dataclass(frozen=True, eq=False)
class Plan:
    """Who does what, who reviews which AI draft, when, and at what cost.

    `assignments` has one row per piece of work: `subtask, worker, role` (`do` or
    `review`), `start, end` (hours from 0), `share` (1 unless relaxed), `hours`, `cost`.
    `utilisation` has one row per worker: `worker, kind, capacity_hours, used_hours,
    utilisation, cost`. `shadow_prices` (relaxed plans only): `worker, kind,
    value_per_hour`, what one more hour of that worker would save.
    """

    assignments: pd.DataFrame
    utilisation: pd.DataFrame
    cost: float
    bound: float
    """A proven lower bound on the cost of any plan (LP relaxation or MILP dual bound)."""
    gap: float
    """(cost - bound) / cost: how far from optimal this plan can at most be."""
    status: PlanStatus
    """`optimal` (gap within the requested gap), `feasible` (time ran out first) or
    `relaxed` (LP relaxation: fractional shares)."""
    method: str
    """What produced the plan, e.g. `highs-milp`, `lp+repair`, `cbc-milp`, `highs-lp`."""
    makespan: float
    critical_path: tuple[str, ...]
    critical_path_hours: float
    """Longest dependency chain with the assigned durations: a lower bound on makespan."""
    solve_seconds: float
    shadow_prices: pd.DataFrame | None = field(default=None)
