"""Re-plan a stored plan when the trail says something changed, and store the new version.

What calls for a re-plan (`TRIGGERS`) is read from the audit trail, so nothing else has to
notify the agent: a rejected draft (the subtask became its reviewer's work), a person's
capacity changed or marked away, a subtask's estimates changed (`change_subtask`, or a
re-import into the project), an AI worker's agent lost or back. `Plan.replanned_through`
is the newest event the current version took into account, so a re-plan is due exactly when a
trigger is newer, whichever agent (or person) handled the earlier ones.

The re-plan itself is `coassist.plan.replan` over the plan's state (`read_plan_state`): done
and in-progress work held, capacities less the hours spent, an AI worker whose agents are all
gone given none. Storing it is optimistic: the version is compared and bumped first in the
transaction, so of two agents re-planning at once one writes and the other drops its result;
and if a subtask the re-plan treated as not started was claimed or drafted meanwhile, the
result is dropped too and the next poll re-plans from the new state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import CursorResult, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from coassist.agent.state import PlanState, read_plan_state
from coassist.errors import NoReplannableTeam
from coassist.plan.model import AllocateOptions, PassRouter
from coassist.plan.model import Worker as PlannedWorker
from coassist.plan.replanning import PlanDiff, replan
from coassist.review.audit import record
from coassist.review.schema import (
    Assignment,
    AuditEvent,
    Draft,
    Plan,
    PlanVersion,
    Subtask,
    Worker,
    WorkItem,
    utcnow,
)
from coassist.review.store import ReviewStore

TRIGGERS = ("draft.rejected", "worker.capacity_changed", "subtask.updated", "agent.lost", "agent.returned")
"""Audit actions that call for a re-plan of the plan they concern."""


@dataclass(frozen=True)
class StoredReplan:
    """A re-plan written as version `version` of the plan (`diff.why_not` set when no plan fit
    and the assignments were kept)."""

    plan_id: int
    version: int
    diff: PlanDiff
    triggers: tuple[str, ...]
    """The audit actions it answered, oldest first."""


def pending_triggers(store: ReviewStore, plan_id: int) -> list[tuple[int, str]]:
    """(audit id, action) of the trigger events the plan's current version has not answered."""
    with store.session() as session:
        through = session.scalar(select(Plan.replanned_through).where(Plan.id == plan_id)) or 0
        return [(row.id, row.action) for row in session.execute(_triggers_query(plan_id, through))]


def replan_stored(
    store: ReviewStore,
    plan_id: int,
    actor: str,
    options: AllocateOptions | None = None,
    router: PassRouter | None = None,
) -> StoredReplan | None:
    """Re-plan the work not started and store it as the plan's next version; `router`, when
    given, supplies p_pass for the not-started subtasks (`coassist.agent.learning`).

    Returns None when another writer changed the plan meanwhile (the caller polls again).

    Raises
    ------
    NoReplannableTeam
        The plan was imported without the team's hours.
    NotInStore
        No such plan.
    """
    with store.session() as session:
        newest = session.scalar(select(func.max(AuditEvent.id))) or 0
    state = read_plan_state(store, plan_id)
    if state.team is None:
        raise NoReplannableTeam(
            f"plan {plan_id} was imported with only the workers' ids and kinds; the agent cannot re-plan it. "
            f"Import it again with the full worker table (id, kind, skills, capacity_hours, cost_per_hour)."
        )
    result = replan(
        state.tasks,
        _team_now(state),
        state.plan_in_force(),
        state.progress(),
        options=options or AllocateOptions(time_limit=30.0),
        router=router,
    )
    try:
        with store.session() as session:
            table = result.plan.assignments if result.plan else None
            return _store(session, state, newest, table, result.diff, actor, routed=router is not None)
    except _Stale:
        return None


class _Stale(Exception):
    """The plan changed between the re-plan's read and its write; nothing is stored."""


def _store(
    session: Session,
    state: PlanState,
    newest: int,
    table: pd.DataFrame | None,
    diff: PlanDiff,
    actor: str,
    routed: bool,
) -> StoredReplan:
    """Write the re-plan as the plan's next version in the caller's transaction (`_Stale` rolls it back)."""
    plan_id = state.plan_id
    answered = session.execute(_triggers_query(plan_id, state.replanned_through))
    triggers = tuple(row.action for row in answered if row.id <= newest)
    if not _take_version(session, state, newest):
        raise _Stale
    if table is not None:
        if _changed_meanwhile(session, state, [move.subtask for move in diff.moves]):
            raise _Stale
        _write_assignments(session, state, table, actor)
    version = state.version + 1
    session.add(
        PlanVersion(
            plan_id=plan_id,
            version=version,
            actor=actor,
            reason=", ".join(dict.fromkeys(triggers)) or "asked",
            cost=diff.cost_after,
            makespan=diff.makespan_after,
            diff=diff.as_dict(),
        )
    )
    record(
        session,
        actor,
        "plan.replanned" if diff.why_not is None else "plan.replan_failed",
        "plan",
        plan_id,
        version=version,
        triggers=list(triggers),
        summary=diff.summary(),
        p_pass="router" if routed else "plan",
    )
    return StoredReplan(plan_id, version, diff, triggers)


def _triggers_query(plan_id: int, after: int):  # type: ignore[no-untyped-def]
    """The plan's trigger events newer than audit id `after` (a draft's and a worker's events
    name their row; the agent's name the plan)."""
    return (
        select(AuditEvent.id, AuditEvent.action)
        .where(
            AuditEvent.id > after,
            or_(
                and_(
                    AuditEvent.action == "draft.rejected",
                    AuditEvent.entity_id.in_(select(Draft.id).where(Draft.plan_id == plan_id)),
                ),
                and_(
                    AuditEvent.action == "worker.capacity_changed",
                    AuditEvent.entity_id.in_(select(Worker.id).where(Worker.plan_id == plan_id)),
                ),
                and_(
                    AuditEvent.action == "subtask.updated",
                    AuditEvent.entity_id.in_(
                        select(Assignment.subtask_id).where(Assignment.plan_id == plan_id)
                    ),
                ),
                and_(
                    AuditEvent.action.in_(("agent.lost", "agent.returned")),
                    AuditEvent.entity == "plan",
                    AuditEvent.entity_id == plan_id,
                ),
            ),
        )
        .order_by(AuditEvent.id)
    )


def _team_now(state: PlanState) -> list[PlannedWorker]:
    """The team as the re-plan sees it: an AI worker that had agents and has no live one now
    gets no hours, so its work not started goes to someone who can do it."""
    assert state.team is not None
    gone = {a.worker for a in state.agents} - {a.worker for a in state.agents if a.liveness == "live"}
    return [dataclasses.replace(w, capacity_hours=0.0) if w.id in gone else w for w in state.team]


def _take_version(session: Session, state: PlanState, through: int) -> bool:
    """Bump the plan's version if it is still the one the re-plan read (the first write of the
    transaction: on SQLite it takes the write lock, so the checks after it see a settled store)."""
    result = session.execute(
        update(Plan)
        .where(Plan.id == state.plan_id, Plan.version == state.version)
        .values(version=state.version + 1, replanned_through=through)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def _changed_meanwhile(session: Session, state: PlanState, moved: Sequence[str]) -> bool:
    """Whether a subtask the re-plan moves has been claimed, drafted or started since it was read
    as not started (moving it now would have two people, or a person and a GPU, do it). A claim
    on a subtask that stays put is harmless: its row is rewritten with the claim kept.

    The plan's assignment rows are locked first on PostgreSQL, so a claim cannot slip in
    between this check and the rewrite (claims skip locked rows)."""
    free = [key for key in moved if key in state.subtasks]
    if not free:
        return False
    ids = (
        select(Subtask.id)
        .join(Assignment, Assignment.subtask_id == Subtask.id)
        .where(Assignment.plan_id == state.plan_id, Subtask.key.in_(free))
    )
    claimed = select(Assignment.id).where(
        Assignment.plan_id == state.plan_id,
        Assignment.subtask_id.in_(ids),
        Assignment.claimed_by.is_not(None),
        Assignment.claimed_until > utcnow(),  # a lapsed claim (a killed agent's) holds nothing
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Assignment.id).where(Assignment.plan_id == state.plan_id).with_for_update())
    drafted = select(Draft.id).where(Draft.plan_id == state.plan_id, Draft.subtask_id.in_(ids))
    started = select(WorkItem.id).where(
        WorkItem.plan_id == state.plan_id, WorkItem.subtask_id.in_(ids), WorkItem.started_at.is_not(None)
    )
    return any(session.execute(query.limit(1)).first() for query in (claimed, drafted, started))


def _write_assignments(session: Session, state: PlanState, table: pd.DataFrame, actor: str) -> None:
    """Replace the plan's assignment rows with the new plan's, and move people's open plan work
    items with their subtasks (withdrawn from whoever lost one).

    A claim stays, token and all, on a row whose subtask keeps its doer; a subtask given to
    someone else gets a row without one, so whatever its old claimer writes under that claim
    matches nothing (`coassist.review.drafting`'s fence) and a paused agent's drafts of it are
    dropped.

    Rows go in as one executemany, not one ORM object each: a re-plan of 2,000 subtasks writes
    about 3,000 rows while a person waits."""
    ids = dict(
        session.execute(
            select(Subtask.key, Subtask.id)
            .join(Assignment, Assignment.subtask_id == Subtask.id)
            .where(Assignment.plan_id == state.plan_id)
        ).all()
    )
    old = session.execute(
        select(
            Assignment.subtask_id,
            Assignment.worker,
            Assignment.role,
            Assignment.claimed_by,
            Assignment.claimed_until,
            Assignment.claim_token,
        ).where(Assignment.plan_id == state.plan_id, Assignment.claimed_by.is_not(None))
    ).all()
    claims = {(a.subtask_id, a.worker, a.role): (a.claimed_by, a.claimed_until, a.claim_token) for a in old}
    session.execute(delete(Assignment).where(Assignment.plan_id == state.plan_id))
    rows = []
    for row in table.itertuples(index=False):
        subtask_id = ids[row.subtask]
        claimed_by, claimed_until, claim_token = claims.get((subtask_id, row.worker, row.role), (None, None, None))
        rows.append(
            {
                "plan_id": state.plan_id,
                "subtask_id": subtask_id,
                "worker": row.worker,
                "role": row.role,
                "start_hour": float(row.start),
                "end_hour": float(row.end),
                "claimed_by": claimed_by,
                "claimed_until": claimed_until,
                "claim_token": claim_token,
            }
        )
    session.execute(insert(Assignment), rows)
    people = {w.id for w in state.team or () if w.kind == "human"}
    doers = {row.subtask: row.worker for row in table.itertuples(index=False) if row.role == "do"}
    _move_work_items(session, state, ids, doers, people, actor)


def _move_work_items(
    session: Session,
    state: PlanState,
    ids: dict[str, int],
    doers: dict[str, str],
    people: set[str],
    actor: str,
) -> None:
    """Each not-started subtask a person now does has their open plan work item; one they lost
    is withdrawn (never a started one: the re-plan holds those)."""
    free: Sequence[str] = [k for k, v in state.subtasks.items() if v.progress == "not_started"]
    items = session.scalars(
        select(WorkItem).where(
            WorkItem.plan_id == state.plan_id,
            WorkItem.origin == "plan",
            WorkItem.status == "open",
            WorkItem.subtask_id.in_([ids[k] for k in free]),
        )
    ).all()
    holder = {item.subtask_id: item for item in items}
    new: list[tuple[str, WorkItem]] = []
    for key in free:
        item, doer = holder.get(ids[key]), doers.get(key)
        if item is not None and item.worker != doer:
            item.status = "withdrawn"
            record(
                session,
                actor,
                "work.withdrawn",
                "work_item",
                item.id,
                worker=item.worker,
                subtask=key,
                to=doer,
            )
            item = None
        if item is None and doer in people:
            new.append(
                (key, WorkItem(plan_id=state.plan_id, subtask_id=ids[key], worker=doer, origin="plan"))
            )
    session.add_all(item for _, item in new)
    session.flush()  # once, for the new items' ids
    for key, item in new:
        record(
            session,
            actor,
            "work.assigned",
            "work_item",
            item.id,
            worker=item.worker,
            origin="replan",
            subtask=key,
        )
