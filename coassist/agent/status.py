"""The team's status, one read for every place a person looks: the terminal, the sidebar, a notebook.

`team_status(store)` reads the newest plan (or the one named) and says where its subtasks stand,
who has drafts waiting, which agents are alive, when the plan will finish (`forecast`), what
needs a person's attention (an AI worker's ready work with no live agent, a lost agent) and
what the latest re-plan changed. `as_dict()` is the REST reply (`TeamStatus` in
`coassist.server.contract`), `render()` the terminal's text; the widget and the sidebar format
the same data. Subtask titles, worker names and model names come from tables and people, so
they are untrusted: `render()` drops control characters (a title cannot move the terminal's
cursor), the widget escapes HTML and the sidebar sets `textContent`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import func, select

from coassist.agent.forecast import Forecast, forecast
from coassist.agent.state import (
    AgentLiveness,
    PlanState,
    SubtaskState,
    SubtaskView,
    latest_version,
    read_plan_state,
)
from coassist.errors import NotInStore
from coassist.plan.replanning import PlanDiff
from coassist.review.schema import Plan
from coassist.review.store import ReviewStore, as_utc

SUBTASK_STATES: tuple[SubtaskState, ...] = get_args(SubtaskState)
LEAST_SLACK_SHOWN = 10
"""Unfinished subtasks listed by slack, tightest first: the ones whose delay moves the finish
soonest. The full list is `TeamStatus.forecast.subtasks`."""
PATH_SHOWN = 12
"""Critical-path subtasks the terminal names before it counts the rest."""
ON_TIME_HOURS = 0.05
"""A forecast within 3 minutes of the planned makespan is on time, not behind or ahead."""


@dataclass(frozen=True)
class PlanRef:
    id: int
    project: str
    name: str
    version: int

    @property
    def label(self) -> str:
        return f"{self.project} / {self.name or f'plan {self.id}'}"


@dataclass(frozen=True)
class AgentStatus:
    """One scheduling agent of the plan, as its heartbeat says."""

    id: str
    worker: str
    model: str
    liveness: AgentLiveness
    heartbeat_seconds: float
    """Seconds since its last heartbeat, when the status was read."""
    drafted: int


@dataclass(frozen=True)
class PlanChange:
    """The plan's latest re-plan: its version row in the audit trail, and what it changed."""

    version: int
    at: datetime
    actor: str
    reason: str
    diff: PlanDiff

    @property
    def summary(self) -> str:
        return self.diff.summary()


@dataclass(frozen=True)
class TeamStatus:
    """Where one plan stands now (see the module doc)."""

    plan: PlanRef
    counts: dict[SubtaskState, int]
    """Every state, zeros included, in `SubtaskState`'s order."""
    review_queue: dict[str, int]
    """Reviewer -> drafts waiting for their decision, by reviewer."""
    agents: tuple[AgentStatus, ...]
    warnings: tuple[str, ...]
    forecast: Forecast
    latest_change: PlanChange | None
    """None for a plan never re-planned."""
    subtasks: dict[str, SubtaskView]
    read_at: datetime

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def least_slack(self) -> list[SubtaskView]:
        """Unfinished subtasks, tightest slack first (`LEAST_SLACK_SHOWN` of them)."""
        unfinished = [f for f in self.forecast.subtasks.values() if f.slack_hours is not None]
        unfinished.sort(key=lambda f: (f.slack_hours, f.expected_end, f.key))
        return [self.subtasks[f.key] for f in unfinished[:LEAST_SLACK_SHOWN]]

    def as_dict(self) -> dict[str, Any]:
        """JSON data shaped as the REST contract's `TeamStatus` (times as ISO 8601, UTC)."""
        return {
            "plan": {
                "id": self.plan.id,
                "project": self.plan.project,
                "name": self.plan.name,
                "version": self.plan.version,
            },
            "counts": {**self.counts, "total": self.total},
            "review_queue": [{"reviewer": r, "pending": n} for r, n in self.review_queue.items()],
            "agents": [
                {
                    "id": a.id,
                    "worker": a.worker,
                    "model": a.model,
                    "liveness": a.liveness,
                    "heartbeat_seconds": round(a.heartbeat_seconds, 1),
                    "drafted": a.drafted,
                }
                for a in self.agents
            ],
            "warnings": list(self.warnings),
            "forecast": {
                "now_hour": self.forecast.now_hour,
                "finish_hour": self.forecast.finish_hour,
                "planned_makespan_hours": self.forecast.planned_makespan,
                "behind_hours": self.forecast.behind_hours,
                "finish_at": self.forecast.finish_at.isoformat(),
                "critical_path": [self._subtask_json(key) for key in self.forecast.critical_path],
                "least_slack": [self._subtask_json(view.key) for view in self.least_slack()],
            },
            "latest_change": None if self.latest_change is None else _change_json(self.latest_change),
            "read_at": self.read_at.isoformat(),
        }

    def _subtask_json(self, key: str) -> dict[str, Any]:
        view, expected = self.subtasks[key], self.forecast.subtasks[key]
        return {
            "subtask": key,
            "title": view.title,
            "state": view.state,
            "doer": view.doer,
            "planned_end_hour": expected.planned_end,
            "expected_end_hour": expected.expected_end,
            "slack_hours": expected.slack_hours,
        }

    def render(self) -> str:
        """Plain text for the terminal; control characters in names and titles are dropped."""
        f = self.forecast
        lines = [
            f"{self.plan.label} (plan {self.plan.id}, version {self.plan.version})",
            f"Subtasks: {self.total} — " + ", ".join(f"{state} {n}" for state, n in self.counts.items()),
            "Review queue: "
            + (", ".join(f"{r} {n}" for r, n in self.review_queue.items()) or "no drafts waiting"),
            "Agents:" if self.agents else "Agents: none has run for this plan",
        ]
        lines += [
            f"  {a.worker}  {a.liveness}  heartbeat {age(a.heartbeat_seconds)} ago  "
            f"{a.drafted} drafted  {a.model}  ({a.id})"
            for a in self.agents
        ]
        lines.append(
            f"Forecast: finish at hour {f.finish_hour:.1f} ({f.finish_at:%Y-%m-%d %H:%M} UTC); "
            f"planned {f.planned_makespan:.1f} h: {behind_text(f.behind_hours)}"
        )
        if f.critical_path:
            shown = " -> ".join(f.critical_path[:PATH_SHOWN])
            more = (
                f" -> ... ({len(f.critical_path) - PATH_SHOWN} more)"
                if len(f.critical_path) > PATH_SHOWN
                else ""
            )
            lines.append(f"Critical path: {shown}{more}")
        tight = self.least_slack()
        if tight:
            lines.append(
                "Least slack: "
                + ", ".join(f"{v.key} {f.subtasks[v.key].slack_hours or 0.0:.1f} h ({v.doer})" for v in tight)
            )
        lines += [f"Warning: {w}" for w in self.warnings]
        if self.latest_change is not None:
            c = self.latest_change
            lines.append(
                f"Latest re-plan: version {c.version}, {c.at:%Y-%m-%d %H:%M} UTC, by {c.actor} ({c.reason}): "
                f"{c.summary}"
            )
        return "\n".join(printable(line) for line in lines)


def team_status(store: ReviewStore, plan_id: int | None = None) -> TeamStatus:
    """The status of plan `plan_id`, or of the newest plan when None.

    Raises
    ------
    NotInStore
        The store holds no plan, or none with this id; the message lists the known plans.
    """
    state = read_plan_state(store, newest_plan(store) if plan_id is None else plan_id)
    with store.session() as session:
        row = latest_version(session, state.plan_id)
        change = (
            None
            if row is None or not row.diff
            else PlanChange(row.version, as_utc(row.created_at), row.actor, row.reason, PlanDiff.from_dict(row.diff))  # type: ignore[arg-type]
        )
    return status_of(state, change)


def newest_plan(store: ReviewStore) -> int:
    """The id of the newest plan; `NotInStore` when none was imported yet."""
    with store.session() as session:
        newest = session.scalar(select(func.max(Plan.id)))
    if newest is None:
        raise NotInStore(
            "plan", "newest", "It holds no plan yet: import one with coassist.review.import_plan(store, ...)."
        )
    return int(newest)


def status_of(state: PlanState, change: PlanChange | None) -> TeamStatus:
    """The status a `PlanState` and its latest re-plan give (pure: tests build both by hand)."""
    counts: dict[SubtaskState, int] = dict.fromkeys(SUBTASK_STATES, 0)
    for view in state.subtasks.values():
        counts[view.state] += 1
    agents = tuple(
        AgentStatus(
            a.id,
            a.worker,
            a.model,
            a.liveness,
            max((state.read_at - a.heartbeat_at).total_seconds(), 0.0),
            a.drafted,
        )
        for a in state.agents
    )
    return TeamStatus(
        plan=PlanRef(state.plan_id, state.project, state.name, state.version),
        counts=counts,
        review_queue=dict(sorted(state.pending_reviews.items())),
        agents=agents,
        warnings=warnings(state, agents),
        forecast=forecast(state),
        latest_change=change,
        subtasks=state.subtasks,
        read_at=state.read_at,
    )


def warnings(state: PlanState, agents: tuple[AgentStatus, ...]) -> tuple[str, ...]:
    """What needs a person: AI work ready with nobody to draft it, and agents that went silent."""
    live = {a.worker for a in agents if a.liveness == "live"}
    found = []
    for worker in sorted(state.ai_workers - live):
        ready = sum(v.state == "ready" and v.doer == worker for v in state.subtasks.values())
        if ready:
            found.append(
                f"{worker} has {ready} subtask(s) ready to draft and no live agent: start one with "
                f"`coassist agent --db URL --worker {worker}`"
            )
    found += [
        f"agent {a.id} ({a.worker}) is lost: no heartbeat for {age(a.heartbeat_seconds)}; "
        f"another agent takes over its claims when their lease runs out"
        for a in agents
        if a.liveness == "lost"
    ]
    return tuple(found)


def _change_json(change: PlanChange) -> dict[str, Any]:
    diff = change.diff
    return {
        "version": change.version,
        "at": change.at.isoformat(),
        "actor": change.actor,
        "reason": change.reason,
        "summary": change.summary,
        "why_not": diff.why_not,
        "replanned": diff.replanned,
        "held": diff.held,
        "moves": [
            {
                "subtask": m.subtask,
                "from_worker": m.from_worker,
                "to_worker": m.to_worker,
                "from_reviewer": m.from_reviewer,
                "to_reviewer": m.to_reviewer,
            }
            for m in diff.moves
        ],
        "workers": [
            {"worker": w.worker, "gained": list(w.gained), "lost": list(w.lost)} for w in diff.workers
        ],
        "cost_before": diff.cost_before,
        "cost_after": diff.cost_after,
        "makespan_before": diff.makespan_before,
        "makespan_after": diff.makespan_after,
    }


def behind_text(hours: float) -> str:
    """``1.5 h behind``, ``0.3 h ahead`` or ``on time``."""
    if abs(hours) < ON_TIME_HOURS:
        return "on time"
    return f"{abs(hours):.1f} h {'behind' if hours > 0 else 'ahead'}"


def age(seconds: float) -> str:
    """``12 s``, ``4 min``, ``3.2 h``: how long ago, as a person reads it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def printable(text: str) -> str:
    """`text` without control characters (escape sequences, carriage returns, newlines)."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
