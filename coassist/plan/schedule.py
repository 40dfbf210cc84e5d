"""Turning an assignment into start/end hours by list scheduling on the dependency DAG.

Exact sequencing with precedence is far harder than assignment (a time-indexed CP model
leaves large gaps at a few hundred subtasks), so the schedule is built greedily: a piece of
work is ready when its subtask's dependencies are done (and, for a review, when the AI
draft is finished); among ready pieces, the one that can start earliest goes first, ties
broken by the longest remaining dependency chain. Each worker does one thing at a time.
The critical path (longest dependency chain with the assigned durations) is a lower bound
on any makespan and is reported beside it.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from coassist.errors import InvalidSchedule
from coassist.plan.model import Subtask
from coassist.plan.validate import dependency_graph


@dataclass(frozen=True, eq=False)
class Schedule:
    """Pieces of work with `start` and `end` added, and what bounds the finish time."""

    pieces: pd.DataFrame
    makespan: float
    critical_path: tuple[str, ...]
    critical_path_hours: float


def critical_path(graph: nx.DiGraph, duration: Mapping[str, float]) -> tuple[tuple[str, ...], float]:
    """The longest dependency chain, weighting each subtask by its duration.

    No schedule can finish before this chain does, whatever the number of workers, so it is
    the lower bound reported beside the makespan.

    Parameters
    ----------
    graph : nx.DiGraph
        The dependency DAG (`dependency_graph`): an edge d -> s when s depends on d.
    duration : mapping of subtask id to hours
        How long each subtask takes as assigned (its draft plus its review).

    Returns
    -------
    path, hours : tuple of subtask ids, float
        The chain in dependency order and its total duration.

    Examples
    --------
    >>> g = nx.DiGraph([("a", "b"), ("a", "c")])
    >>> critical_path(g, {"a": 1.0, "b": 2.0, "c": 5.0})
    (('a', 'c'), 6.0)

    See Also
    --------
    networkx.dag_longest_path : the edge-weighted version this reduces to.
    """
    # Node weights become edge weights: each edge into v weighs v's duration, and a source
    # joined to every subtask makes a chain's first subtask count too.
    source = object()
    weighted = nx.DiGraph()
    weighted.add_nodes_from(graph.nodes)
    weighted.add_weighted_edges_from((u, v, duration[v]) for u, v in graph.edges)
    weighted.add_weighted_edges_from((source, v, duration[v]) for v in graph.nodes)
    path = tuple(nx.dag_longest_path(weighted)[1:])
    return path, float(sum(duration[v] for v in path))


def _chain_to_end(graph: nx.DiGraph, duration: Mapping[str, float]) -> dict[str, float]:
    """For each subtask, the longest chain from it to the end, itself included (its priority)."""
    tail: dict[str, float] = {}
    for v in reversed(list(nx.topological_sort(graph))):
        tail[v] = duration[v] + max((tail[s] for s in graph.successors(v)), default=0.0)
    return tail


def list_schedule(
    graph: nx.DiGraph, pieces: pd.DataFrame, priority: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end hours of each piece of work: list scheduling on the dependency DAG.

    A piece is ready when its subtask's dependencies are done (a review: when the subtask's AI
    drafts end); among ready pieces the one that can start earliest goes first, ties to the
    higher `priority`. Each worker does one thing at a time. (One function on purpose: the
    heap loop reads and updates eight arrays of per-subtask state; split, its parts would pass
    them all back and forth.)

    Parameters
    ----------
    graph : nx.DiGraph
        The dependency DAG.
    pieces : DataFrame
        `subtask, worker, role, hours` rows; every subtask in `graph` has at least one.
    priority : mapping of subtask id to float
        Tie-breaker among pieces that can start at once (the longest chain left is usual).

    Returns
    -------
    start, end : arrays of hours, aligned with the rows of `pieces`

    Examples
    --------
    >>> g = nx.DiGraph([("a", "b")])
    >>> work = pd.DataFrame({"subtask": ["a", "b"], "worker": ["ann", "ann"],
    ...                      "role": ["do", "do"], "hours": [2.0, 1.0]})
    >>> [x.tolist() for x in list_schedule(g, work, {"a": 3.0, "b": 1.0})]
    [[0.0, 2.0], [2.0, 3.0]]
    """
    ids = list(graph.nodes)
    index = {sid: i for i, sid in enumerate(ids)}
    task = pieces["subtask"].map(index).to_numpy(int)
    hours = pieces["hours"].to_numpy(float)
    review = (pieces["role"] == "review").to_numpy()
    workers = pieces["worker"].to_numpy()
    rank = np.array([priority[sid] for sid in ids])
    pieces_of: list[list[int]] = [[] for _ in ids]
    for k, i in enumerate(task):
        pieces_of[i].append(k)
    waiting_deps = np.array([graph.in_degree(sid) for sid in ids])
    pending_pieces = np.array([len(p) for p in pieces_of])
    drafts_left = np.zeros(len(ids), int)
    np.add.at(drafts_left, task[~review], 1)
    release = np.zeros(len(ids))  # when the subtask's dependencies are all done
    draft_end = np.zeros(len(ids))
    done_at = np.zeros(len(ids))
    free_at: dict[object, float] = {}
    start = np.full(len(task), np.nan)
    end = np.full(len(task), np.nan)
    heap: list[tuple[float, float, int]] = []

    def push(k: int, ready: float) -> None:
        heapq.heappush(heap, (max(ready, free_at.get(workers[k], 0.0)), -rank[task[k]], k))

    for i in np.flatnonzero(waiting_deps == 0).tolist():
        for k in pieces_of[i]:
            if not review[k]:
                push(k, 0.0)
    while heap:
        est, neg_rank, k = heapq.heappop(heap)
        i = task[k]
        ready = draft_end[i] if review[k] else release[i]
        actual = max(ready, free_at.get(workers[k], 0.0))
        if actual > est:  # the worker got busier since this was queued
            heapq.heappush(heap, (actual, neg_rank, k))
            continue
        start[k], end[k] = actual, actual + hours[k]
        free_at[workers[k]] = end[k]
        done_at[i] = max(done_at[i], end[k])
        pending_pieces[i] -= 1
        if not review[k]:
            draft_end[i] = max(draft_end[i], end[k])
            drafts_left[i] -= 1
            if drafts_left[i] == 0:
                for r in pieces_of[i]:
                    if review[r]:
                        push(r, draft_end[i])
        if pending_pieces[i] == 0:
            for s in graph.successors(ids[i]):
                j = index[s]
                release[j] = max(release[j], done_at[i])
                waiting_deps[j] -= 1
                if waiting_deps[j] == 0:
                    for r in pieces_of[j]:
                        if not review[r]:
                            push(r, release[j])
    return start, end


def _durations(ids: Sequence[str], pieces: pd.DataFrame) -> dict[str, float]:
    """Each subtask's duration as assigned: its longest do piece, then its longest review."""
    do = pieces[pieces["role"] != "review"].groupby("subtask")["hours"].max()
    check = pieces[pieces["role"] == "review"].groupby("subtask")["hours"].max()
    return {sid: float(do.get(sid, 0.0)) + float(check.get(sid, 0.0)) for sid in ids}


def _check_pieces(ids: Sequence[str], pieces: pd.DataFrame) -> None:
    known = set(ids)
    unknown = [sid for sid in pieces["subtask"] if sid not in known]
    if unknown:
        raise InvalidSchedule(f"a piece of work is for subtask {unknown[0]!r}, which is not among the subtasks.")
    assigned = set(pieces["subtask"])
    idle = [sid for sid in ids if sid not in assigned]
    if idle:
        raise InvalidSchedule(f"subtask {idle[0]!r} has no piece of work; every subtask must be assigned.")


def schedule(subtasks: Sequence[Subtask], pieces: pd.DataFrame) -> Schedule:
    """Start and end hours for each piece of work, the makespan and the critical path.

    Parameters
    ----------
    subtasks : sequence of Subtask
        All the subtasks, with their dependencies.
    pieces : DataFrame
        `subtask, worker, role, hours` rows: who does or reviews what, for how long. A
        subtask is done when all its pieces end (an AI-drafted one when its review ends).

    Returns
    -------
    Schedule
        `pieces` with `start` and `end` added (sorted by start), the makespan, and the
        critical path with its hours (a lower bound on any makespan).

    Raises
    ------
    CyclicPlan
        The dependencies form a cycle (the message names it).
    InvalidSchedule
        A piece names an unknown subtask, or a subtask has no piece.

    Examples
    --------
    >>> a, b = Subtask("a", "x", 2), Subtask("b", "x", 3, depends_on=("a",))
    >>> work = pd.DataFrame({"subtask": ["a", "b"], "worker": ["ann", "bob"],
    ...                      "role": ["do", "do"], "hours": [2.0, 3.0]})
    >>> s = schedule([a, b], work)
    >>> s.pieces[["subtask", "start", "end"]].values.tolist(), s.makespan, s.critical_path
    ([['a', 0.0, 2.0], ['b', 2.0, 5.0]], 5.0, ('a', 'b'))
    """
    graph = dependency_graph(subtasks)
    ids = [s.id for s in subtasks]
    _check_pieces(ids, pieces)
    duration = _durations(ids, pieces)
    path, path_hours = critical_path(graph, duration)
    start, end = list_schedule(graph, pieces, _chain_to_end(graph, duration))
    out = pieces.copy()
    out["start"], out["end"] = start, end
    out = out.sort_values(["start", "end", "subtask"], kind="stable").reset_index(drop=True)
    return Schedule(
        pieces=out,
        makespan=float(np.nanmax(end)) if len(end) else 0.0,
        critical_path=path,
        critical_path_hours=path_hours,
    )
