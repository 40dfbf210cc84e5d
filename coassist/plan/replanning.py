"""`replan`: re-solve the work nobody has started, holding done and in-progress work fixed.

A scheduling agent calls this whenever a draft is rejected, a capacity changes or a subtask
arrives. Committed work (done or in progress) keeps its workers and its planned times. Only the
not-started subtasks are solved again, as the assignment model over them alone, with each
worker's capacity less the hours already spent: that is exactly the whole model with the
committed columns fixed, since fixed columns only take their hours off the capacity rows.

The solve is warm-started from the current plan: the LP relaxation is steered to the optimal
vertex nearest it, so work moves only where the change forces it or it saves money, and the
subtasks that do move are then re-solved together exactly. After a small change that start is
near the optimum, so the search has little left to do, and people see few moves. The result
says what moved, for the people affected and for the agent's audit trail.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import networkx as nx
import numpy as np
import pandas as pd

from coassist.errors import InvalidOption
from coassist.plan.assign import relative_gap, solve_model, work_pieces
from coassist.plan.explain import Explanation, explain_infeasibility
from coassist.plan.formulation import Formulation, Solution, build
from coassist.plan.highs import solve_highs
from coassist.plan.io import PLAN_COLUMNS, TableSource, as_subtasks, as_workers
from coassist.plan.model import AllocateOptions, PassRouter, Plan, PlanStatus, Subtask, Worker
from coassist.plan.repair import repair
from coassist.plan.schedule import _chain_to_end, _durations, critical_path, list_schedule
from coassist.plan.validate import dependency_graph

Progress = Literal["not_started", "in_progress", "done"]
PROGRESS: tuple[Progress, ...] = get_args(Progress)
_COMMITTED = ("in_progress", "done")


@dataclass(frozen=True)
class Move:
    """One subtask whose doer or reviewer changed. `from_worker` is None for a new subtask,
    `to_worker` None for one taken out of the task table; reviewers are None without an AI draft."""

    subtask: str
    from_worker: str | None
    to_worker: str | None
    from_reviewer: str | None = None
    to_reviewer: str | None = None

    def __str__(self) -> str:
        was = _who(self.from_worker, self.from_reviewer, "new")
        now = _who(self.to_worker, self.to_reviewer, "removed")
        return f"{self.subtask}: {was} -> {now}"


def _who(worker: str | None, reviewer: str | None, absent: str) -> str:
    if worker is None:
        return absent
    return worker if reviewer is None else f"{worker} (review {reviewer})"


@dataclass(frozen=True)
class WorkerChange:
    """The subtasks a worker takes part in (doing or reviewing) now and did not before, and
    the reverse."""

    worker: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]


@dataclass(frozen=True)
class PlanDiff:
    """What a re-plan changed; committed (done or in-progress) work never appears as moved.

    `cost_after` and `makespan_after` are None when no plan fits the not-started work; then
    `why_not` is the explanation's message and the current plan stands.
    """

    moves: tuple[Move, ...]
    workers: tuple[WorkerChange, ...]
    cost_before: float
    cost_after: float | None
    makespan_before: float
    makespan_after: float | None
    replanned: int
    """Not-started subtasks that were solved again."""
    held: int
    """Done or in-progress subtasks kept as they were."""
    why_not: str | None = None

    def summary(self) -> str:
        """One paragraph for people: what was re-planned, what moved, cost and makespan."""
        head = (
            f"Re-planned {self.replanned:,} not-started subtask(s), "
            f"holding {self.held:,} done or in progress as they were"
        )
        if self.why_not is not None:
            reasons = "; ".join(line.strip("- ") for line in self.why_not.splitlines())
            return f"{head}: no plan fits, so the current plan stands. {reasons}"
        shown = "; ".join(map(str, self.moves[:_SHOWN]))
        more = f"; and {len(self.moves) - _SHOWN:,} more" if len(self.moves) > _SHOWN else ""
        moved = f"{len(self.moves):,} moved ({shown}{more})" if self.moves else "nothing moved"
        people = ", ".join(map(_gains_and_losses, self.workers))
        cost_after = float(self.cost_after or 0.0)
        change = 100 * (cost_after - self.cost_before) / self.cost_before if self.cost_before else 0.0
        return (
            f"{head}: {moved}{'. Per worker: ' + people if people else ''}. "
            f"Cost {self.cost_before:,.2f} -> {cost_after:,.2f} ({change:+.2f}%); "
            f"makespan {self.makespan_before:,.2f} h -> {float(self.makespan_after or 0.0):,.2f} h."
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form, for the agent's audit trail."""
        return {
            "replanned": self.replanned,
            "held": self.held,
            "moves": [dataclasses.asdict(m) for m in self.moves],
            "workers": {c.worker: {"gained": list(c.gained), "lost": list(c.lost)} for c in self.workers},
            "cost": {"before": self.cost_before, "after": self.cost_after},
            "makespan": {"before": self.makespan_before, "after": self.makespan_after},
            "why_not": self.why_not,
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> PlanDiff:
        """The diff `as_dict` wrote (a stored plan version's), back as the `PlanDiff` it was."""
        return cls(
            moves=tuple(Move(**move) for move in stored["moves"]),
            workers=tuple(
                WorkerChange(worker, tuple(change["gained"]), tuple(change["lost"]))
                for worker, change in stored["workers"].items()
            ),
            cost_before=stored["cost"]["before"],
            cost_after=stored["cost"]["after"],
            makespan_before=stored["makespan"]["before"],
            makespan_after=stored["makespan"]["after"],
            replanned=stored["replanned"],
            held=stored["held"],
            why_not=stored["why_not"],
        )


_SHOWN = 5  # moves named in a summary; the rest are counted


def _gains_and_losses(change: WorkerChange) -> str:
    parts = [
        f"gains {len(change.gained)}" if change.gained else "",
        f"loses {len(change.lost)}" if change.lost else "",
    ]
    return f"{change.worker} " + " and ".join(p for p in parts if p)


@dataclass(frozen=True, eq=False)
class Replan:
    """The new plan (None when the not-started work fits no plan), what changed, and why not."""

    plan: Plan | None
    diff: PlanDiff
    explanation: Explanation | None = None
    """Why no plan fits the not-started work, over that work and the hours left (None when one does)."""


def replan(
    subtasks: TableSource | Sequence[Subtask],
    workers: TableSource | Sequence[Worker],
    previous: Plan,
    progress: Mapping[str, Progress],
    hours_spent: Mapping[str, float] | None = None,
    options: AllocateOptions | None = None,
    router: PassRouter | None = None,
) -> Replan:
    """Re-solve the not-started work with done and in-progress work held, starting from `previous`.

    Parameters
    ----------
    subtasks, workers
        The task table and the team as they are now: subtasks may have been added or changed,
        workers removed or their capacity changed (0 for someone away). Any form `allocate` takes.
    previous : Plan
        The current (integral) plan.
    progress : mapping of subtask id to "not_started", "in_progress" or "done"
        A subtask missing here, or absent from `previous`, is not started.
    hours_spent : mapping of worker id to hours, optional
        Hours each worker has spent or is committed to; a worker not named is charged the planned
        hours of their done and in-progress pieces. What is left of their capacity (never below
        0) is what the not-started work may use.
    options : AllocateOptions, optional
        As for `allocate`; its time limit covers the whole re-plan.
    router : PassRouter, optional
        The p_pass seam, as for `allocate`; it sees the not-started subtasks only.

    Returns
    -------
    Replan
        `plan`: the committed pieces as planned plus the re-solved ones, list-scheduled after the
        committed work they wait for (None when no plan fits); `diff`: what moved; `explanation`:
        why no plan fits, when none does.

    Raises
    ------
    InvalidOption
        `progress` names an unknown subtask or state, marks a subtask the previous plan does not
        assign, or puts in-progress work on a worker no longer in the team; `hours_spent` names
        an unknown worker or is negative; `previous` or `options` is relaxed.
    InvalidTaskTable, CyclicPlan
        Bad subtasks or workers, as for `allocate`.

    Examples
    --------
    >>> tasks = [Subtask("a", "sql", 4), Subtask("b", "sql", 2, depends_on=("a",))]
    >>> team = [Worker("ann", "human", ("sql",), 8, 30), Worker("bob", "human", ("sql",), 8, 50)]
    >>> from coassist.plan.assign import allocate
    >>> now = allocate(tasks, team)
    >>> team[0] = Worker("ann", "human", ("sql",), 4, 30)  # ann has only the hours a takes
    >>> result = replan(tasks, team, now, {"a": "in_progress"})
    >>> [str(m) for m in result.diff.moves]
    ['b: ann -> bob']
    >>> result.plan.assignments[["subtask", "worker", "start", "end"]].values.tolist()
    [['a', 'ann', 0.0, 4.0], ['b', 'bob', 4.0, 6.0]]
    """
    opts = options or AllocateOptions()
    started = time.perf_counter()
    deadline = started + opts.time_limit
    tasks, team = as_subtasks(subtasks), as_workers(workers)
    _check(tasks, team, previous, progress, hours_spent, opts)
    is_free = {s.id: progress.get(s.id, "not_started") == "not_started" for s in tasks}
    free = [s for s in tasks if is_free[s.id]]
    held = len(tasks) - len(free)
    committed = previous.assignments[previous.assignments["subtask"].map(is_free).eq(False)]
    capacity = _capacity_left(team, committed, hours_spent or {})

    pieces, bound, method = (
        pd.DataFrame(columns=["subtask", "worker", "role", "share", "hours", "cost"]),
        0.0,
        "held",
    )
    if free:
        form = dataclasses.replace(build(free, team, router), capacity=capacity)
        sol = None
        if _covered(form):
            start = None if opts.solver == "cbc" else _warm_start(form, previous, opts, deadline)
            sol, method = solve_model(form, opts, deadline, start)
        if sol is None or sol.values is None:
            left = [
                dataclasses.replace(w, capacity_hours=float(c)) for w, c in zip(team, capacity, strict=True)
            ]
            why = explain_infeasibility(
                free, left, router, time_limit=max(deadline - time.perf_counter(), 1.0)
            )
            diff = PlanDiff(
                moves=(),
                workers=(),
                cost_before=previous.cost,
                cost_after=None,
                makespan_before=previous.makespan,
                makespan_after=None,
                replanned=len(free),
                held=held,
                why_not=why.message,
            )
            return Replan(None, diff, why)
        pieces, bound = work_pieces(form, np.asarray(sol.values, float)), sol.bound
    timed = _schedule_free(free, committed, pieces)
    plan = _plan(
        tasks, team, committed, timed, bound, opts, f"replan:{method}", time.perf_counter() - started
    )
    return Replan(plan, _diff(previous, plan, tasks, is_free), None)


def _check(
    tasks: Sequence[Subtask],
    team: Sequence[Worker],
    previous: Plan,
    progress: Mapping[str, Progress],
    hours_spent: Mapping[str, float] | None,
    opts: AllocateOptions,
) -> None:
    """Raise `InvalidOption` naming the first progress entry, hours figure or option that cannot be right."""
    if previous.status == "relaxed":
        raise InvalidOption(
            "previous", "is a relaxed plan (fractional shares); re-plan from an integral plan."
        )
    if opts.relax:
        raise InvalidOption("relax", "re-planning keeps work on whole workers; solve without relax.")
    ids = {s.id for s in tasks}
    planned: dict[str, list[str]] = {}
    for sid, worker in zip(previous.assignments["subtask"], previous.assignments["worker"], strict=True):
        planned.setdefault(sid, []).append(worker)
    staff = {w.id for w in team}
    for sid, state in progress.items():
        if sid not in ids:
            raise InvalidOption(
                "progress", f"names subtask {sid!r}, which is not among the subtasks; fix the id or drop it."
            )
        if state not in PROGRESS:
            allowed = ", ".join(map(repr, PROGRESS))
            raise InvalidOption(
                "progress", f"subtask {sid!r} is {state!r}; a subtask's progress is one of {allowed}."
            )
        if state in _COMMITTED and sid not in planned:
            raise InvalidOption(
                "progress",
                f"subtask {sid!r} is {state!r}, but the previous plan does not assign it; mark it 'not_started'.",
            )
        gone = [w for w in planned.get(sid, ()) if w not in staff]
        if state == "in_progress" and gone:
            raise InvalidOption(
                "progress",
                f"subtask {sid!r} is in progress with {gone[0]!r}, who is no longer among the workers; mark it "
                f"'not_started' to hand it over, or keep {gone[0]!r} with capacity 0.",
            )
    for wid, hours in (hours_spent or {}).items():
        if wid not in staff:
            raise InvalidOption(
                "hours_spent", f"names worker {wid!r}, who is not among the workers; fix the id or drop it."
            )
        if not (math.isfinite(hours) and hours >= 0):
            raise InvalidOption(
                "hours_spent", f"worker {wid!r} has {hours} hours; hours spent must be a finite number >= 0."
            )


def _capacity_left(
    team: Sequence[Worker], committed: pd.DataFrame, hours_spent: Mapping[str, float]
) -> np.ndarray:
    """Each worker's capacity less the hours spent (default: their committed pieces' planned hours), at least 0."""
    planned = committed.groupby("worker")["hours"].sum()
    spent = np.array([hours_spent.get(w.id, float(planned.get(w.id, 0.0))) for w in team], float)
    return np.maximum(np.array([w.capacity_hours for w in team], float) - spent, 0.0)


def _covered(form: Formulation) -> bool:
    """Whether every subtask has a worker who could do it (else no capacity can help)."""
    covered = np.zeros(form.n_tasks, bool)
    covered[form.col_task[~form.col_review]] = True
    return bool(covered.all())


_STAY = 1e-4
"""How much cheaper, relative to its cost, keeping a subtask where the current plan has it is made.

Cost-optimal plans are rarely unique (equal-cost work can be shuffled freely), and people should
not see work move for nothing; the discount steers the LP to the vertex nearest the current plan.
The bound stays honest: every plan costs at least its discounted cost, which is at least the
discounted LP optimum, and that optimum is at most this share below the undiscounted one.
"""


def _current_columns(form: Formulation, previous: Plan) -> np.ndarray:
    """(ncol,) bool: the columns the previous plan chose, among those the model still has."""
    column = {
        key: c
        for c, key in enumerate(
            zip(form.col_task.tolist(), form.col_worker.tolist(), form.col_review.tolist(), strict=True)
        )
    }
    task_index = {s.id: i for i, s in enumerate(form.subtasks)}
    worker_index = {w.id: k for k, w in enumerate(form.workers)}
    chosen = np.zeros(form.n_cols, bool)
    for sid, worker, role in previous.assignments[["subtask", "worker", "role"]].itertuples(
        index=False, name=None
    ):
        c = column.get((task_index.get(sid, -1), worker_index.get(worker, -1), role == "review"))
        if c is not None:
            chosen[c] = True
    return chosen


def _warm_start(form: Formulation, previous: Plan, opts: AllocateOptions, deadline: float) -> Solution | None:
    """A near-optimal plan close to the current one, with a proven bound on every plan's cost.

    The LP relaxation with staying put made slightly cheaper (`_STAY`) keeps most subtasks where
    they are and moves those the change forces or pays for; the repair makes that integral.
    While the gap is open, the subtasks it moves are then re-solved together exactly, starting
    from it, in half the time left (the search gets the rest): the work that has to move, and
    where it can go, is the neighbourhood that matters, and random groups of workers seldom hit
    it. None when the LP or the repair finds nothing in time; the solve then starts cold.
    """
    stay = _current_columns(form, previous)
    steered = dataclasses.replace(form, col_cost=form.col_cost * np.where(stay, 1 - _STAY, 1.0))
    lp = solve_highs(steered, integer=False, time_limit=deadline - time.perf_counter())
    if lp.values is None:
        return None
    values = repair(steered, lp, deadline=deadline, gap=opts.gap).values
    if values is None:
        return None
    if relative_gap(float(form.col_cost @ values), lp.bound) > opts.gap:
        values = _resolve_moved(steered, stay, values, opts.gap, deadline)
    return Solution(values, float(form.col_cost @ values), lp.bound, "feasible")


def _resolve_moved(
    steered: Formulation, stay: np.ndarray, values: np.ndarray, gap: float, deadline: float
) -> np.ndarray:
    """`values` with the subtasks it moves off the current plan (new ones too) re-solved exactly."""
    chosen = values > 0.5
    moved = np.zeros(steered.n_tasks, bool)
    moved[steered.col_task[chosen & ~stay]] = True
    if not moved.any():
        return values
    others = chosen & ~moved[steered.col_task]
    load = np.bincount(steered.col_worker[others], steered.col_hours[others], minlength=len(steered.workers))
    sub, cols = steered.restrict(moved, steered.capacity - load)
    # the target gap is for the whole plan's cost, so the sub-problem may keep that much of it open
    sub_gap = min(gap * float(steered.col_cost @ values) / max(float(sub.col_cost @ values[cols]), 1e-9), 0.5)
    part = solve_highs(
        sub, integer=True, gap=sub_gap, time_limit=(deadline - time.perf_counter()) / 2, start=values[cols]
    )
    if part.values is None or part.objective > float(sub.col_cost @ values[cols]):
        return values
    better = values.copy()
    better[cols] = part.values
    return better


@dataclass(frozen=True, order=True)  # ordered: pandas sorts group keys
class _StandIn:
    """Committed work as `list_schedule` sees it: a piece from hour 0 until it ends.

    `kind="worker"`: the worker's committed work; `kind="subtask"`: a committed subtask that
    free work depends on. A class of its own, so it can never collide with a subtask id.
    """

    name: str
    kind: Literal["worker", "subtask"]


def _schedule_free(free: Sequence[Subtask], committed: pd.DataFrame, pieces: pd.DataFrame) -> pd.DataFrame:
    """The free `pieces` with start and end hours, after the committed work they wait for.

    A worker finishes their committed work before new work, and a free subtask that depends on a
    committed one starts after that one's planned end. `list_schedule` knows neither, so each is
    given to it as a stand-in piece from hour 0: one per worker with committed work, on that
    worker until their last committed piece ends and first in line; one per committed subtask a
    free one depends on, on a timeline of its own until that subtask's planned end. A committed
    subtask that depends on free work keeps its planned times: it is under way or done.
    """
    if pieces.empty:
        return pieces.assign(start=pd.Series(dtype=float), end=pd.Series(dtype=float))
    free_ids = {s.id for s in free}
    graph = nx.DiGraph()
    graph.add_nodes_from(s.id for s in free)
    graph.add_edges_from(
        (d if d in free_ids else _StandIn(d, "subtask"), s.id) for s in free for d in s.depends_on
    )
    subtask_end = committed.groupby("subtask")["end"].max()
    worker_end = committed.groupby("worker")["end"].max()
    stand_ins = [node for node in graph.nodes if isinstance(node, _StandIn)]
    busy = [_StandIn(w, "worker") for w in worker_end.index if w in set(pieces["worker"])]
    graph.add_nodes_from(busy)
    held = pd.DataFrame(
        {
            "subtask": stand_ins + busy,
            "worker": stand_ins + [b.name for b in busy],
            "role": "do",
            "hours": [float(subtask_end[s.name]) for s in stand_ins]
            + [float(worker_end[b.name]) for b in busy],
        }
    )
    work = pd.concat([pieces[["subtask", "worker", "role", "hours"]], held], ignore_index=True)
    priority: dict[Any, float] = _chain_to_end(graph, _durations(list(graph.nodes), work))
    priority.update(dict.fromkeys(busy, math.inf))
    start, end = list_schedule(graph, work, priority)
    out = pieces.copy()
    out["start"], out["end"] = start[: len(pieces)], end[: len(pieces)]
    return out


def _plan(
    tasks: Sequence[Subtask],
    team: Sequence[Worker],
    committed: pd.DataFrame,
    timed: pd.DataFrame,
    free_bound: float,
    opts: AllocateOptions,
    method: str,
    seconds: float,
) -> Plan:
    """The whole plan: the committed pieces as they were and the free ones, `timed`, after them."""
    assignments = (
        pd.concat([committed.loc[:, list(PLAN_COLUMNS)], timed.loc[:, list(PLAN_COLUMNS)]], ignore_index=True)
        .sort_values(["start", "end", "subtask"], kind="stable")
        .reset_index(drop=True)
    )
    path, path_hours = critical_path(dependency_graph(tasks), _durations([s.id for s in tasks], assignments))
    cost = float(assignments["cost"].sum())
    bound = float(committed["cost"].sum()) + free_bound
    gap = relative_gap(cost, bound)
    status: PlanStatus = "optimal" if gap <= opts.gap + 1e-12 else "feasible"
    return Plan(
        assignments=assignments,
        utilisation=_utilisation(team, assignments),
        cost=cost,
        bound=bound,
        gap=gap,
        status=status,
        method=method,
        makespan=float(assignments["end"].max()) if len(assignments) else 0.0,
        critical_path=path,
        critical_path_hours=path_hours,
        solve_seconds=seconds,
    )


def _utilisation(team: Sequence[Worker], assignments: pd.DataFrame) -> pd.DataFrame:
    """Per worker in the team: hours and cost of every piece of the plan, committed ones included."""
    per_worker = assignments.groupby("worker")[["hours", "cost"]].sum()
    capacity = np.array([w.capacity_hours for w in team], float)
    hours = per_worker["hours"].reindex([w.id for w in team], fill_value=0.0).to_numpy(float)
    return pd.DataFrame(
        {
            "worker": [w.id for w in team],
            "kind": [w.kind for w in team],
            "capacity_hours": capacity,
            "used_hours": hours,
            "utilisation": np.divide(hours, capacity, out=np.full(len(team), np.nan), where=capacity > 0),
            "cost": per_worker["cost"].reindex([w.id for w in team], fill_value=0.0).to_numpy(float),
        }
    )


def _roles(assignments: pd.DataFrame) -> dict[str, tuple[str | None, str | None]]:
    """Per subtask of an integral plan: (doer, reviewer or None)."""
    roles: dict[str, tuple[str | None, str | None]] = {}
    for sid, worker, role in assignments[["subtask", "worker", "role"]].itertuples(index=False, name=None):
        doer, reviewer = roles.get(sid, (None, None))
        roles[sid] = (doer, worker) if role == "review" else (worker, reviewer)
    return roles


def _diff(previous: Plan, plan: Plan, tasks: Sequence[Subtask], is_free: Mapping[str, bool]) -> PlanDiff:
    """Moves of the free subtasks (and of those taken out of the table), per worker and overall."""
    before, after = _roles(previous.assignments), _roles(plan.assignments)
    order = [s.id for s in tasks if is_free[s.id]] + [sid for sid in before if sid not in is_free]
    moves: list[Move] = []
    for sid in order:
        was, now = before.get(sid, (None, None)), after.get(sid, (None, None))
        if was != now:
            moves.append(Move(sid, was[0], now[0], was[1], now[1]))
    gained: dict[str, list[str]] = {}
    lost: dict[str, list[str]] = {}
    for move in moves:
        was_on = {w for w in (move.from_worker, move.from_reviewer) if w is not None}
        now_on = {w for w in (move.to_worker, move.to_reviewer) if w is not None}
        for w in sorted(now_on - was_on):
            gained.setdefault(w, []).append(move.subtask)
        for w in sorted(was_on - now_on):
            lost.setdefault(w, []).append(move.subtask)
    changes = tuple(
        WorkerChange(w, tuple(gained.get(w, ())), tuple(lost.get(w, ())))
        for w in sorted(gained.keys() | lost.keys())
    )
    return PlanDiff(
        moves=tuple(moves),
        workers=changes,
        cost_before=previous.cost,
        cost_after=plan.cost,
        makespan_before=previous.makespan,
        makespan_after=plan.makespan,
        replanned=sum(is_free.values()),
        held=len(is_free) - sum(is_free.values()),
    )
