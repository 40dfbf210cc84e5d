"""Checks on subtasks and workers, each failing with the offending row and column named.

The solver would otherwise fail far from the cause (a KeyError deep in model building, or
an "infeasible" that is really a typo), so every rule the model relies on is checked here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx

from coassist.errors import CyclicPlan, InvalidTaskTable
from coassist.plan.model import KINDS, Subtask, Worker


def _check_hours(value: float | None, row: str, column: str, what: str) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0:
        raise InvalidTaskTable(
            f"{what} {row!r}: {column} is {value}, but it must be a finite number >= 0.",
            row=row,
            column=column,
        )


def _check_unique(ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for ident in ids:
        if not ident:
            raise InvalidTaskTable(f"a {what} has an empty id; give every {what} an id.", column="id")
        if ident in seen:
            raise InvalidTaskTable(
                f"{what} id {ident!r} appears more than once; ids must be unique.", row=ident, column="id"
            )
        seen.add(ident)


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


def check_subtasks(subtasks: Sequence[Subtask]) -> None:
    """Raise `InvalidTaskTable` (or `CyclicPlan`) on the first bad subtask."""
    if not subtasks:
        raise InvalidTaskTable("the task table has no subtasks; add at least one row.")
    _check_unique([s.id for s in subtasks], "subtask")
    ids = {s.id for s in subtasks}
    for s in subtasks:
        if not s.skill:
            raise InvalidTaskTable(f"subtask {s.id!r} has no skill; name the skill it needs.", s.id, "skill")
        _check_hours(s.human_hours, s.id, "human_hours", "subtask")
        _check_hours(s.ai_hours, s.id, "ai_hours", "subtask")
        _check_hours(s.review_hours, s.id, "review_hours", "subtask")
        if s.p_pass is not None and not 0 <= s.p_pass <= 1:
            raise InvalidTaskTable(
                f"subtask {s.id!r}: p_pass is {s.p_pass}, but it is a probability and must be in [0, 1].",
                row=s.id,
                column="p_pass",
            )
        for dep in s.depends_on:
            if dep not in ids:
                raise InvalidTaskTable(
                    f"subtask {s.id!r} depends on {dep!r}, which is not in the table; "
                    f"fix the id or add the subtask.",
                    row=s.id,
                    column="depends_on",
                )
    dependency_graph(subtasks)


def check_workers(workers: Sequence[Worker]) -> None:
    """Raise `InvalidTaskTable` on the first bad worker."""
    if not workers:
        raise InvalidTaskTable("there are no workers; add at least one person or AI worker.")
    _check_unique([w.id for w in workers], "worker")
    for w in workers:
        if w.kind not in KINDS:
            raise InvalidTaskTable(
                f"worker {w.id!r} has kind {w.kind!r}; kind must be one of {', '.join(KINDS)}.",
                row=w.id,
                column="kind",
            )
        if not w.skills:
            raise InvalidTaskTable(
                f"worker {w.id!r} has no skills; list them, or use '*' for any skill.", w.id, "skills"
            )
        _check_hours(w.capacity_hours, w.id, "capacity_hours", "worker")
        _check_hours(w.cost_per_hour, w.id, "cost_per_hour", "worker")
