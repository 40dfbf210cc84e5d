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
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from coassist.plan.model import Subtask
from coassist.plan.validate import dependency_graph


@dataclass(frozen=True, eq=False)
class Schedule:
    """Pieces of work with `start` and `end` added, and what bounds the finish time."""

    pieces: pd.DataFrame
    makespan: float
    critical_path: tuple[str, ...]
    critical_path_hours: float


def schedule(subtasks: Sequence[Subtask], pieces: pd.DataFrame) -> Schedule:
    """Start and end hours for each piece of work (`subtask, worker, role, hours` rows).

    A subtask is done when all its pieces end (an AI-drafted one when its review ends); a
    review starts after the subtask's AI drafts end. Raises `CyclicPlan` on a cycle.

    >>> a, b = Subtask("a", "x", 2), Subtask("b", "x", 3, depends_on=("a",))
    >>> work = pd.DataFrame({"subtask": ["a", "b"], "worker": ["ann", "bob"],
    ...                      "role": ["do", "do"], "hours": [2.0, 3.0]})
    >>> s = schedule([a, b], work)
    >>> s.pieces[["subtask", "start", "end"]].values.tolist(), s.makespan, s.critical_path
    ([['a', 0.0, 2.0], ['b', 2.0, 5.0]], 5.0, ('a', 'b'))
    """
    graph = dependency_graph(subtasks)
    ids = [s.id for s in subtasks]
    index = {sid: i for i, sid in enumerate(ids)}
    task = pieces["subtask"].map(index).to_numpy()
    if np.isnan(task.astype(float)).any():
        unknown = pieces["subtask"][pd.isna(pieces["subtask"].map(index))].iloc[0]
        raise ValueError(f"piece of work for subtask {unknown!r}, which is not among the subtasks")
    hours = pieces["hours"].to_numpy(float)
    review = (pieces["role"] == "review").to_numpy()
    workers = pieces["worker"].to_numpy()

    # duration of each subtask as assigned: its longest do piece, then its longest review
    do_len = np.zeros(len(ids))
    np.maximum.at(do_len, task[~review], hours[~review])
    rev_len = np.zeros(len(ids))
    np.maximum.at(rev_len, task[review], hours[review])
    duration = do_len + rev_len
    order = [index[s] for s in nx.topological_sort(graph)]
    tail = duration.copy()  # longest chain from the subtask to the end, itself included
    for i in reversed(order):
        succ = [tail[index[s]] for s in graph.successors(ids[i])]
        tail[i] = duration[i] + max(succ, default=0.0)
    head = np.zeros(len(ids))  # longest chain ending at the subtask, itself included
    best_pred = np.full(len(ids), -1)
    for i in order:
        preds = [index[p] for p in graph.predecessors(ids[i])]
        if preds:
            best_pred[i] = max(preds, key=lambda p: head[p])
            head[i] = head[best_pred[i]] + duration[i]
        else:
            head[i] = duration[i]

    pieces_of: list[list[int]] = [[] for _ in ids]
    for k, i in enumerate(task):
        pieces_of[i].append(k)
    idle = [sid for sid, p in zip(ids, pieces_of, strict=False) if not p]
    if idle:
        raise ValueError(f"subtask {idle[0]!r} has no piece of work; every subtask must be assigned")
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
        heapq.heappush(heap, (max(ready, free_at.get(workers[k], 0.0)), -tail[task[k]], k))

    for i in np.flatnonzero(waiting_deps == 0).tolist():
        for k in pieces_of[i]:
            if not review[k]:
                push(k, 0.0)
    while heap:
        est, neg_tail, k = heapq.heappop(heap)
        i = task[k]
        ready = draft_end[i] if review[k] else release[i]
        actual = max(ready, free_at.get(workers[k], 0.0))
        if actual > est:  # the worker got busier since this was queued
            heapq.heappush(heap, (actual, neg_tail, k))
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

    out = pieces.copy()
    out["start"], out["end"] = start, end
    out = out.sort_values(["start", "end", "subtask"], kind="stable").reset_index(drop=True)
    last = int(np.argmax(head)) if len(ids) else -1
    path = []
    while last >= 0:
        path.append(ids[last])
        last = int(best_pred[last])
    return Schedule(
        pieces=out,
        makespan=float(np.nanmax(end)) if len(end) else 0.0,
        critical_path=tuple(reversed(path)),
        critical_path_hours=float(head.max(initial=0.0)),
    )
