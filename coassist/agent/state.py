"""A plan's state as the review store holds it now, read in one transaction.

Each subtask's state is the review layer's one rule (`coassist.review.standing.subtask_state`,
which drafting applies too): the status views count it, the agent drafts the `ready` ones of its
worker, and the re-plan turns it into the planning core's `Progress` (done; in progress:
drafting, in review, rework, or a person who said they started; everything else not started).
The same read gives the plan in force and the team as the planning core's objects, so
`coassist.plan.replan` needs nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from coassist.plan.formulation import build
from coassist.plan.io import PLAN_COLUMNS
from coassist.plan.model import Plan as PlannedWork
from coassist.plan.model import Subtask as PlannedSubtask
from coassist.plan.model import Worker as PlannedWorker
from coassist.plan.replanning import Progress
from coassist.review.outputs import finished_outputs
from coassist.review.plans import plan_project
from coassist.review.schema import (
    AgentRecord,
    Assignment,
    Draft,
    Plan,
    PlanVersion,
    Project,
    Subtask,
    Worker,
    WorkItem,
    utcnow,
)
from coassist.review.standing import SubtaskState, claim_live, subtask_state
from coassist.review.store import ReviewStore, as_utc

AgentLiveness = Literal["live", "lost", "stopped"]
"""An agent that has not signed off is lost while its heartbeat is older than its lease (killed,
paused, cut off from the database, its machine gone) and live again once it beats."""

_IN_PROGRESS: frozenset[SubtaskState] = frozenset({"drafting", "in_review", "rework"})


@dataclass(frozen=True)
class SubtaskView:
    """One subtask of the plan: its state, who does and reviews it, planned and actual times.

    Planned hours count from the plan's creation; actual times are wall-clock UTC (None until
    they happen). `started` says a person said they began (`start_work`)."""

    key: str
    title: str
    skill: str
    state: SubtaskState
    doer: str
    reviewer: str | None
    planned_start: float
    planned_end: float
    actual_start: datetime | None
    actual_end: datetime | None
    started: bool
    depends_on: tuple[str, ...]

    @property
    def progress(self) -> Progress:
        """The planning core's view: committed work a re-plan must hold, or free work."""
        if self.state == "done":
            return "done"
        if self.state in _IN_PROGRESS or (self.state == "with_person" and self.started):
            return "in_progress"
        return "not_started"


@dataclass(frozen=True)
class AgentView:
    """A scheduling agent as the `agents` table and the clock say."""

    id: str
    worker: str
    model: str
    liveness: AgentLiveness
    heartbeat_at: datetime
    started_at: datetime
    drafted: int


@dataclass(frozen=True)
class PlanState:
    """Everything about one plan that the agent, the re-plan and the status views read."""

    plan_id: int
    project: str
    name: str
    created_at: datetime
    version: int
    replanned_through: int
    subtasks: dict[str, SubtaskView]
    """In planned start order."""
    tasks: list[PlannedSubtask]
    """The plan's subtasks as the allocator takes them."""
    team: list[PlannedWorker] | None
    """The team with today's hours; None when the plan was imported with ids and kinds only."""
    ai_workers: frozenset[str]
    agents: tuple[AgentView, ...]
    pending_reviews: dict[str, int]
    """Reviewer -> drafts waiting for their decision."""
    read_at: datetime
    pieces: pd.DataFrame
    """The stored plan rows: subtask (key), worker, role, start, end (planned hours); a rejected
    draft's subtask is one ``do`` piece of its reviewer's."""

    def progress(self) -> dict[str, Progress]:
        return {key: view.progress for key, view in self.subtasks.items()}

    def plan_in_force(self) -> PlannedWork:
        """The stored plan as the allocator's `Plan`, each piece at its stored times and priced
        as the allocator prices it (a review carries the expected rework), so a re-plan's cost
        and makespan before -> after compare like with like. A rejected draft's subtask is its
        reviewer's work (they redo it, at human hours): that is what the re-plan must hold."""
        assert self.team is not None, "plan_in_force needs the team's hours (see `team`)"
        frame = self.pieces.copy()
        form = build(self.tasks, self.team)
        column = {
            (form.subtasks[t].id, form.workers[w].id, bool(r)): c
            for c, (t, w, r) in enumerate(zip(form.col_task, form.col_worker, form.col_review, strict=True))
        }
        tasks = {t.id: t for t in self.tasks}
        rate = {w.id: w.cost_per_hour for w in self.team}
        hours, cost = [], []
        for key, worker, role in frame[["subtask", "worker", "role"]].itertuples(index=False, name=None):
            c = column.get((key, worker, role == "review"))
            if c is None:  # a piece the model no longer offers (rework by its reviewer, a skill gone)
                h = tasks[key].human_hours
                hours.append(h)
                cost.append(h * rate.get(worker, 0.0))
            else:
                hours.append(float(form.col_hours[c]))
                cost.append(float(form.col_cost[c]))
        frame["hours"], frame["cost"], frame["share"] = hours, cost, 1.0
        frame = frame.loc[:, list(PLAN_COLUMNS)]
        total = float(frame["cost"].sum())
        return PlannedWork(
            assignments=frame,
            utilisation=pd.DataFrame(),
            cost=total,
            bound=total,
            gap=0.0,
            status="optimal",
            method="stored",
            makespan=float(frame["end"].max()) if len(frame) else 0.0,
            critical_path=(),
            critical_path_hours=0.0,
            solve_seconds=0.0,
        )


def read_plan_state(store: ReviewStore, plan_id: int) -> PlanState:
    """The plan's state now, in one transaction.

    Raises
    ------
    NotInStore
        No plan has this id; the message lists the known plans.
    """
    plan_project(store, plan_id)
    with store.session() as session:
        return _read(session, plan_id)


def _read(session: Session, plan_id: int) -> PlanState:
    now = utcnow()
    plan = session.get(Plan, plan_id)
    assert plan is not None  # checked by the caller
    project = session.get(Project, plan.project_id)
    assert project is not None
    workers = session.scalars(select(Worker).where(Worker.plan_id == plan_id).order_by(Worker.id)).all()
    ai = frozenset(w.key for w in workers if w.kind == "ai")
    rows = session.scalars(select(Assignment).where(Assignment.plan_id == plan_id)).all()
    subtask_ids = {row.subtask_id for row in rows}
    subtasks = {s.id: s for s in session.scalars(select(Subtask).where(Subtask.id.in_(subtask_ids)))}
    drafts = {d.subtask_id: d for d in session.scalars(select(Draft).where(Draft.plan_id == plan_id))}
    items: dict[int, list[WorkItem]] = {}
    for item in session.scalars(select(WorkItem).where(WorkItem.plan_id == plan_id).order_by(WorkItem.id)):
        items.setdefault(item.subtask_id, []).append(item)
    finished = finished_outputs(session, plan_id)
    finished_keys = {subtasks[i].key for i in finished if i in subtasks}
    do_rows = {row.subtask_id: row for row in rows if row.role == "do"}
    reviewers = {row.subtask_id: row.worker for row in rows if row.role == "review"}
    ends: dict[int, float] = {}
    rows_of: dict[int, list[Assignment]] = {}
    for row in rows:
        ends[row.subtask_id] = max(ends.get(row.subtask_id, row.end_hour), row.end_hour)
        rows_of.setdefault(row.subtask_id, []).append(row)

    views: list[SubtaskView] = []
    pieces: list[tuple[str, str, str, float, float]] = []
    for subtask_id, row in do_rows.items():
        task = subtasks[subtask_id]
        draft = drafts.get(subtask_id)
        open_items = [i for i in items.get(subtask_id, []) if i.status == "open"]
        blocked = any(dep not in finished_keys for dep in task.depends_on)
        state = subtask_state(
            finished=subtask_id in finished,
            draft=None if draft is None else draft.status,
            ai_doer=row.worker in ai,
            claimed=claim_live(row.claimed_by, row.claimed_until, now),
            blocked=blocked,
        )
        doer = row.worker
        reviewer = reviewers.get(subtask_id)
        if draft is not None and draft.status == "rejected":
            rework = [i for i in items.get(subtask_id, []) if i.origin == "rejected_draft"]
            doer, reviewer = (rework[0].worker if rework else draft.decided_by or doer), None
            pieces.append((task.key, doer, "do", row.start_hour, ends[subtask_id]))
        else:
            pieces += [(task.key, r.worker, r.role, r.start_hour, r.end_hour) for r in rows_of[subtask_id]]
        views.append(
            SubtaskView(
                key=task.key,
                title=task.title,
                skill=task.skill,
                state=state,
                doer=doer,
                reviewer=reviewer,
                planned_start=row.start_hour,
                planned_end=ends[subtask_id],
                actual_start=_actual_start(draft, items.get(subtask_id, [])),
                actual_end=_actual_end(draft, items.get(subtask_id, [])),
                started=any(i.started_at is not None for i in open_items),
                depends_on=tuple(task.depends_on),
            )
        )
    views.sort(key=lambda v: (v.planned_start, v.key))
    pending: dict[str, int] = {}
    for view in views:
        if view.state == "in_review" and view.reviewer is not None:
            pending[view.reviewer] = pending.get(view.reviewer, 0) + 1
    return PlanState(
        plan_id=plan_id,
        project=project.name,
        name=plan.name,
        created_at=as_utc(plan.created_at),  # type: ignore[arg-type]
        version=plan.version,
        replanned_through=plan.replanned_through,
        subtasks={v.key: v for v in views},
        tasks=[_planned_subtask(subtasks[i]) for i in do_rows],
        team=_team(workers),
        ai_workers=ai,
        agents=_agents(session, plan_id, now),
        pending_reviews=pending,
        read_at=now,
        pieces=pd.DataFrame(pieces, columns=["subtask", "worker", "role", "start", "end"]),
    )


def heartbeat_expired(heartbeat: datetime, lease_seconds: float, now: datetime) -> bool:
    """The one rule for a lost agent: its last heartbeat is older than its lease."""
    return (now - heartbeat).total_seconds() > lease_seconds


def _actual_start(draft: Draft | None, items: list[WorkItem]) -> datetime | None:
    """When work on the subtask began: the AI's generation, else a person's stated start."""
    if draft is not None:
        created = as_utc(draft.created_at)
        assert created is not None
        return created - pd.Timedelta(seconds=draft.seconds).to_pytimedelta()
    starts = [as_utc(i.started_at) or i.started_at for i in items if i.started_at is not None]
    return min(starts) if starts else None


def _actual_end(draft: Draft | None, items: list[WorkItem]) -> datetime | None:
    """When the subtask finished: its draft approved or edited, or a person's work submitted."""
    if draft is not None and draft.status in ("approved", "edited"):
        return as_utc(draft.decided_at)
    done = [as_utc(i.done_at) for i in items if i.status == "done" and i.done_at is not None]
    return done[0] if done else None


def _planned_subtask(row: Subtask) -> PlannedSubtask:
    return PlannedSubtask(
        id=row.key,
        skill=row.skill,
        human_hours=row.human_hours,
        ai_hours=row.ai_hours,
        review_hours=row.review_hours,
        p_pass=row.p_pass,
        depends_on=tuple(row.depends_on),
        title=row.title,
        description=row.description,
    )


def _team(workers: Sequence[Worker]) -> list[PlannedWorker] | None:
    if any(w.capacity_hours is None for w in workers):
        return None
    return [
        PlannedWorker(
            id=w.key,
            kind=w.kind,
            skills=tuple(w.skills or ("*",)),
            capacity_hours=float(w.capacity_hours or 0.0),
            cost_per_hour=float(w.cost_per_hour or 0.0),
        )
        for w in workers
    ]


def _agents(session: Session, plan_id: int, now: datetime) -> tuple[AgentView, ...]:
    views = []
    for row in session.scalars(
        select(AgentRecord).where(AgentRecord.plan_id == plan_id).order_by(AgentRecord.started_at)
    ):
        heartbeat = as_utc(row.heartbeat_at)
        assert heartbeat is not None
        # From the heartbeat now, not from `state`: "lost" there records that another agent
        # noticed the silence once (a re-plan trigger), and an agent that beats again is live.
        liveness: AgentLiveness = (
            "stopped"
            if row.state == "stopped"
            else "lost"
            if heartbeat_expired(heartbeat, row.lease_seconds, now)
            else "live"
        )
        views.append(
            AgentView(row.id, row.worker, row.model, liveness, heartbeat, as_utc(row.started_at), row.drafted)  # type: ignore[arg-type]
        )
    return tuple(views)


def latest_version(session: Session, plan_id: int) -> PlanVersion | None:
    """The plan's newest version row (its import, or its latest re-plan)."""
    return session.scalars(
        select(PlanVersion)
        .where(PlanVersion.plan_id == plan_id)
        .order_by(PlanVersion.version.desc())
        .limit(1)
    ).first()
