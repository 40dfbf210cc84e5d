"""The current plan, as the sidebar shows it: the newest plan imported into the review store.

The review database is the one place a notebook kernel (which imports a plan with
`coassist.review.import_plan`) and the Jupyter server both see, so "current" means "newest
there" and no extra state is kept on the server. This module reads; `coassist.server.replies`
turns what it read into JSON.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from coassist.review import ReviewStore
from coassist.review.schema import Assignment, Draft, Plan, Project, Subtask, Worker


@dataclass(frozen=True)
class WorkerShare:
    """One worker's part of a plan: hours assigned and the subtasks, ``review <key>`` for a review."""

    worker: str
    kind: str
    """``human`` or ``ai``; ``?`` when the plan's worker table does not list them."""
    hours: float
    subtasks: tuple[str, ...]


@dataclass(frozen=True)
class PlanSummary:
    """A stored plan at a glance. `name` is as imported (possibly empty)."""

    id: int
    name: str
    project: str
    assignments: int
    makespan_hours: float
    pending_drafts: int
    workers: tuple[WorkerShare, ...]


def newest_plan_id(store: ReviewStore) -> int | None:
    """The id of the newest plan in `store`; None before any plan is imported."""
    with store.session() as session:
        return session.scalar(select(func.max(Plan.id)))


def current_plan(store: ReviewStore) -> PlanSummary | None:
    """The newest plan in `store`, summarised; None before any plan is imported."""
    with store.session() as session:
        plan = session.scalar(select(Plan).order_by(Plan.id.desc()).limit(1))
        if plan is None:
            return None
        project = session.get(Project, plan.project_id)
        kinds = dict(session.execute(select(Worker.key, Worker.kind).where(Worker.plan_id == plan.id)).all())
        rows = session.execute(
            select(
                Assignment.worker, Assignment.role, Assignment.start_hour, Assignment.end_hour, Subtask.key
            )
            .join(Subtask, Assignment.subtask_id == Subtask.id)
            .where(Assignment.plan_id == plan.id)
            .order_by(Assignment.start_hour, Assignment.id)
        ).all()
        pending = session.scalar(
            select(func.count()).select_from(Draft).where(Draft.plan_id == plan.id, Draft.status == "pending")
        )
        return PlanSummary(
            id=plan.id,
            name=plan.name,
            project=project.name if project else "?",
            assignments=len(rows),
            makespan_hours=max((end for _worker, _role, _start, end, _key in rows), default=0.0),
            pending_drafts=pending or 0,
            workers=worker_shares(rows, kinds),
        )


def worker_shares(rows: Iterable[Sequence[Any]], kinds: Mapping[str, str]) -> tuple[WorkerShare, ...]:
    """Each worker's hours and subtasks, workers by name, subtasks in the order of `rows`.

    A row is an assignment: worker, role (``do`` or ``review``), start and end hour, subtask key.

    >>> worker_shares([("ana", "review", 1.0, 1.5, "a"), ("gpu", "do", 0.0, 1.0, "a")], {"ana": "human"})
    (WorkerShare(worker='ana', kind='human', hours=0.5, subtasks=('review a',)), WorkerShare(worker='gpu', kind='?', hours=1.0, subtasks=('a',)))
    """
    hours: dict[str, float] = defaultdict(float)
    subtasks: dict[str, list[str]] = defaultdict(list)
    for worker, role, start, end, key in rows:
        hours[worker] += end - start
        subtasks[worker].append(key if role == "do" else f"review {key}")
    return tuple(WorkerShare(w, kinds.get(w, "?"), hours[w], tuple(subtasks[w])) for w in sorted(hours))


def plan_names(store: ReviewStore, plan_ids: Iterable[int]) -> dict[int, str]:
    """The names the plans `plan_ids` were imported under (ids the store lacks are left out)."""
    wanted = set(plan_ids)
    if not wanted:
        return {}
    with store.session() as session:
        return dict(session.execute(select(Plan.id, Plan.name).where(Plan.id.in_(wanted))).all())
