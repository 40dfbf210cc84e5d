"""Checks on subtasks and workers, each failing with the offending row and column named.

The solver would otherwise fail far from the cause (a KeyError deep in model building, or
an "infeasible" that is really a typo), so every rule the model relies on is checked here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import networkx as nx

from coassist.errors import CyclicPlan, InvalidTaskTable
from coassist.plan.model import KINDS, Subtask, Worker

# Upper bounds: a plan's horizon is weeks to months, so a subtask of more than 10,000 hours
# (five working years) or a rate above 1,000,000 an hour is a typo or a unit mix-up. Without
# them a value like 1e300 passes and the solver reports numerical trouble as a time-out.
MAX_HOURS = 10_000.0
MAX_COST_PER_HOUR = 1_000_000.0


def _locator(where: Sequence[str] | None) -> Callable[[int], str]:
    """`at(i)`: the prefix that says where row i came from ("tasks.csv line 4: "), or nothing."""
    return lambda i: f"{where[i]}: " if where is not None and where[i] else ""


def _check_number(value: float | None, upper: float, at: str, row: str, column: str, what: str) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not 0 <= value <= upper:
        raise InvalidTaskTable(
            f"{at}{what} {row!r}: {column} is {value}, but it must be a finite number from 0 to {upper:,.0f}.",
            row=row,
            column=column,
        )


def _check_unique(ids: Sequence[str], what: str, at: Callable[[int], str]) -> None:
    first: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if not ident:
            raise InvalidTaskTable(f"{at(i)}a {what} has an empty id; give every {what} an id.", column="id")
        if ident in first:
            earlier = at(first[ident]).rstrip(": ")
            also = f" (also at {earlier})" if earlier else ""
            raise InvalidTaskTable(
                f"{at(i)}{what} id {ident!r} appears more than once{also}; ids must be unique.",
                row=ident,
                column="id",
            )
        first[ident] = i


def dependency_graph(subtasks: Sequence[Subtask]) -> nx.DiGraph:
    """The DAG of subtasks: an edge d -> s when s depends on d.

    Raises `CyclicPlan` naming the cycle, since no order could satisfy it.

    >>> g = dependency_graph([Subtask("a", "x", 1), Subtask("b", "x", 1, depends_on=("a",))])
    >>> list(g.edges)
    [('a', 'b')]
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(s.id for s in subtasks)
    graph.add_edges_from((d, s.id) for s in subtasks for d in s.depends_on)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    raise CyclicPlan([u for u, _ in cycle])


def check_subtasks(subtasks: Sequence[Subtask], where: Sequence[str] | None = None) -> None:
    """Raise `InvalidTaskTable` (or `CyclicPlan`) on the first bad subtask.

    `where[i]` says where subtask i was read ("tasks.csv line 4"), so the message can point
    at the line to fix; without it the message names the subtask id alone.
    """
    if not subtasks:
        raise InvalidTaskTable("the task table has no subtasks; add at least one row.")
    at = _locator(where)
    _check_unique([s.id for s in subtasks], "subtask", at)
    ids = {s.id for s in subtasks}
    for i, s in enumerate(subtasks):
        if not s.skill:
            raise InvalidTaskTable(f"{at(i)}subtask {s.id!r} has no skill; name the skill it needs.", s.id, "skill")
        for column in ("human_hours", "ai_hours", "review_hours"):
            _check_number(getattr(s, column), MAX_HOURS, at(i), s.id, column, "subtask")
        if s.p_pass is not None and not 0 <= s.p_pass <= 1:
            raise InvalidTaskTable(
                f"{at(i)}subtask {s.id!r}: p_pass is {s.p_pass}, but it is a probability and must be in [0, 1].",
                row=s.id,
                column="p_pass",
            )
        for dep in s.depends_on:
            if dep not in ids:
                raise InvalidTaskTable(
                    f"{at(i)}subtask {s.id!r} depends on {dep!r}, which is not in the table; "
                    f"fix the id or add the subtask.",
                    row=s.id,
                    column="depends_on",
                )
    dependency_graph(subtasks)


def check_workers(workers: Sequence[Worker], where: Sequence[str] | None = None) -> None:
    """Raise `InvalidTaskTable` on the first bad worker; `where` as in `check_subtasks`."""
    if not workers:
        raise InvalidTaskTable("there are no workers; add at least one person or AI worker.")
    at = _locator(where)
    _check_unique([w.id for w in workers], "worker", at)
    for i, w in enumerate(workers):
        if w.kind not in KINDS:
            raise InvalidTaskTable(
                f"{at(i)}worker {w.id!r} has kind {w.kind!r}; kind must be one of {', '.join(KINDS)}.",
                row=w.id,
                column="kind",
            )
        if not w.skills:
            raise InvalidTaskTable(
                f"{at(i)}worker {w.id!r} has no skills; list them, or use '*' for any skill.", w.id, "skills"
            )
        _check_number(w.capacity_hours, MAX_HOURS, at(i), w.id, "capacity_hours", "worker")
        _check_number(w.cost_per_hour, MAX_COST_PER_HOUR, at(i), w.id, "cost_per_hour", "worker")
