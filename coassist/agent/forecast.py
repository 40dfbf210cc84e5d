"""Planned vs actual: when the plan will really finish, and which chain of subtasks decides it.

The plan says when each subtask should start and end, in hours from the plan's creation. The
store says what actually happened (`SubtaskView.actual_start` / `actual_end`, wall-clock UTC).
A forecast puts both on the plan's clock and pushes every unfinished subtask forward until it
fits what is known now: it cannot start before its dependencies are expected to end, nor (not
started yet) before now, and work in progress cannot end before now. Done work ends when it did.

From that forward pass come the forecast finish, how far behind the plan it is, the critical
path (the chain of dependencies that sets the finish) and, from a backward pass, the slack of
every unfinished subtask: how much later it could end without moving the finish. A lead reads
the finish; the people on the critical path are the ones whose delays matter.

Everything here is a pure function of a `PlanState`, so it is tested with hand-made states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from coassist.agent.state import PlanState, SubtaskView
from coassist.review.drafting import drafting_order

_TIE_HOURS = 1e-9
"""Two expected times this close are the same time (float noise from converting clocks)."""


@dataclass(frozen=True)
class SubtaskForecast:
    """One subtask on the plan's clock (hours from the plan's creation): as planned, as expected.

    `slack_hours` is None for done work; 0 on the critical path."""

    key: str
    planned_start: float
    planned_end: float
    expected_start: float
    expected_end: float
    done: bool
    slack_hours: float | None


@dataclass(frozen=True)
class Forecast:
    """The plan's expected finish, against its planned makespan, as of `now_hour`."""

    now_hour: float
    finish_hour: float
    planned_makespan: float
    finish_at: datetime
    """`finish_hour` as a UTC time."""
    critical_path: tuple[str, ...]
    """Subtask keys, first to last: each waits for the one before it, the last ends at the finish."""
    subtasks: dict[str, SubtaskForecast]
    """In dependency order."""

    @property
    def behind_hours(self) -> float:
        """How much later than planned the plan is expected to finish (negative: ahead)."""
        return self.finish_hour - self.planned_makespan


def plan_hours(moment: datetime, origin: datetime) -> float:
    """A wall-clock time as hours on the plan's clock (the plan's hour 0 is `origin`)."""
    return (moment - origin).total_seconds() / 3600.0


def forecast(state: PlanState) -> Forecast:
    """The forecast finish, critical path and slack of `state`'s plan (see the module doc)."""
    origin = state.created_at
    now = plan_hours(state.read_at, origin)
    # Any order with every subtask after its dependencies will do; drafting's is one.
    order = drafting_order(
        {key: view.depends_on for key, view in state.subtasks.items()},
        {key: view.planned_start for key, view in state.subtasks.items()},
    )
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    binding: dict[str, str | None] = {}
    for key in order:
        view = state.subtasks[key]
        deps = _dependencies(view, state.subtasks)
        starts[key], ends[key], binding[key] = _expected(view, deps, ends, origin, now)
    finish = max(ends.values(), default=0.0)
    planned = max((view.planned_end for view in state.subtasks.values()), default=0.0)
    slack = _slack(order, state.subtasks, starts, ends, finish)
    subtasks = {
        key: SubtaskForecast(
            key=key,
            planned_start=state.subtasks[key].planned_start,
            planned_end=state.subtasks[key].planned_end,
            expected_start=starts[key],
            expected_end=ends[key],
            done=state.subtasks[key].state == "done",
            slack_hours=slack.get(key),
        )
        for key in order
    }
    return Forecast(
        now_hour=now,
        finish_hour=finish,
        planned_makespan=planned,
        finish_at=origin + timedelta(hours=finish),
        critical_path=_critical_path(order, ends, binding, finish),
        subtasks=subtasks,
    )


def _dependencies(view: SubtaskView, subtasks: dict[str, SubtaskView]) -> tuple[str, ...]:
    return tuple(dep for dep in view.depends_on if dep in subtasks)


def _expected(
    view: SubtaskView, deps: tuple[str, ...], ends: dict[str, float], origin: datetime, now: float
) -> tuple[float, float, str | None]:
    """Expected start and end of one subtask, and the dependency that holds its start back
    (None when its own plan, its actual start or the clock does)."""
    if view.state == "done":
        end = plan_hours(view.actual_end, origin) if view.actual_end else min(view.planned_end, now)
        start = plan_hours(view.actual_start, origin) if view.actual_start else min(view.planned_start, end)
        return start, end, None
    duration = view.planned_end - view.planned_start
    in_progress = view.progress == "in_progress"
    own = view.planned_start
    if in_progress and view.actual_start is not None:
        own = max(own, plan_hours(view.actual_start, origin))
    elif not in_progress:
        own = max(own, now)
    latest_dep = max(deps, key=ends.__getitem__, default=None)
    start, held_by = own, None
    if latest_dep is not None and ends[latest_dep] >= own - _TIE_HOURS:  # a planned hand-over holds too
        start, held_by = max(own, ends[latest_dep]), latest_dep
    end = start + duration
    if in_progress:
        end = max(end, now)
    return start, end, held_by


def _slack(
    order: list[str],
    subtasks: dict[str, SubtaskView],
    starts: dict[str, float],
    ends: dict[str, float],
    finish: float,
) -> dict[str, float]:
    """Latest allowed end (a backward pass from the finish, each dependant keeping its expected
    length) minus expected end, for every unfinished subtask."""
    dependants: dict[str, list[str]] = {key: [] for key in order}
    for key in order:
        for dep in _dependencies(subtasks[key], subtasks):
            dependants[dep].append(key)
    latest_end: dict[str, float] = {}
    slack: dict[str, float] = {}
    for key in reversed(order):
        if subtasks[key].state == "done":
            continue
        latest_end[key] = min(
            (latest_end[d] - (ends[d] - starts[d]) for d in dependants[key] if d in latest_end),
            default=finish,
        )
        gap = latest_end[key] - ends[key]
        slack[key] = 0.0 if gap < _TIE_HOURS else gap
    return slack


def _critical_path(
    order: list[str], ends: dict[str, float], binding: dict[str, str | None], finish: float
) -> tuple[str, ...]:
    """From the subtask that ends last, back through the dependencies that held each start."""
    last = next((key for key in reversed(order) if ends[key] >= finish - _TIE_HOURS), None)
    path: list[str] = []
    while last is not None:
        path.append(last)
        last = binding[last]
    return tuple(reversed(path))
