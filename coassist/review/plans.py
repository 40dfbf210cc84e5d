"""Import an allocator's plan (three DataFrames) into the review database.

The contract is the allocator's output as plain tables, so the review loop does not depend on
how the plan was made (the allocator, a spreadsheet, a hand-written CSV):

- subtasks: ``id, skill, human_hours, ai_hours, review_hours, p_pass, depends_on`` and optional
  ``title, description``; ``depends_on`` is a list of ids or a ``;``-separated string;
  a blank ``ai_hours`` means the AI cannot do it.
- workers: ``id, kind`` (``human`` or ``ai``); other columns are ignored.
- plan: one row per piece of work, ``subtask, worker, role`` (``do`` or ``review``), ``start, end``;
  or the allocator's `Plan` object itself (its ``assignments`` frame is that table). Nothing
  here imports the allocator: any object with an ``assignments`` DataFrame is accepted.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, get_args

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coassist.errors import InvalidTaskTable, NotInStore, PlanImportConflict
from coassist.plan.io import WORKER_COLUMNS, load_tasks, load_workers, worker_columns
from coassist.plan.model import WorkerKind
from coassist.review.audit import current_user, record
from coassist.review.schema import (
    Assignment,
    AuditEvent,
    Plan,
    PlanVersion,
    Project,
    Role,
    Subtask,
    Worker,
    WorkItem,
)
from coassist.review.store import ReviewStore

_SUBTASK_REQUIRED = ("id", "skill", "human_hours", "review_hours", "p_pass")
_SUBTASK_FIELDS = (
    "title",
    "description",
    "skill",
    "human_hours",
    "ai_hours",
    "review_hours",
    "p_pass",
    "depends_on",
)


def import_plan(
    store: ReviewStore,
    subtasks: pd.DataFrame,
    workers: pd.DataFrame,
    plan: pd.DataFrame | Any,
    project: str = "default",
    name: str = "",
    actor: str | None = None,
) -> int:
    """Store a plan and its subtasks under `project`; return the new plan's id.

    Subtasks are kept per project by id: importing a re-plan updates changed fields (audited)
    rather than duplicating them. People's own subtasks become their open work items.

    Raises
    ------
    InvalidTaskTable
        A missing column, duplicate or unknown id, bad role or kind, a subtask done twice or
        never, or an AI draft with no human reviewer; the message names the row and the fix.
    CyclicPlan
        The dependencies form a cycle.
    PlanImportConflict
        Other imports into the same project committed conflicting rows three times in a row
        (a race lost once is retried: two concurrent imports both store their plan).

    Examples
    --------
    >>> import pandas as pd
    >>> from coassist.review import open_store
    >>> store = open_store("sqlite://")
    >>> tasks = pd.DataFrame({"id": ["a"], "skill": ["sql"], "human_hours": [2.0], "ai_hours": [0.1],
    ...                       "review_hours": [0.5], "p_pass": [0.8], "depends_on": [""]})
    >>> team = pd.DataFrame({"id": ["ana", "gpu"], "kind": ["human", "ai"]})
    >>> rows = pd.DataFrame({"subtask": ["a", "a"], "worker": ["gpu", "ana"], "role": ["do", "review"],
    ...                      "start": [0.0, 0.1], "end": [0.1, 0.6]})
    >>> import_plan(store, tasks, team, rows, project="demo")
    1
    """
    actor = actor or current_user()
    tasks = _read_subtasks(subtasks)
    team = _read_team(workers)
    kinds = {key: worker.kind for key, worker in team.items()}
    table = _plan_table(plan)
    rows = _validate_plan(table, tasks, kinds)
    # Two imports into a new project both find no project row and both insert one (or both
    # insert a new subtask): the slower one's unique constraint fails and its transaction is
    # rolled back whole. Running it again then finds the winner's rows and stores a second plan.
    attempt = 1
    while True:
        try:
            with store.session() as session:
                return _store_plan(session, project, name, actor, tasks, team, rows, getattr(plan, "cost", None))
        except IntegrityError as error:
            if attempt == _IMPORT_ATTEMPTS:
                raise PlanImportConflict(
                    f"could not store the plan for project {project!r}: other imports into it kept "
                    f"changing the same rows ({_IMPORT_ATTEMPTS} attempts; last: {error.orig}). "
                    f"Nothing of this import was stored; run import_plan again."
                ) from error
            attempt += 1


_IMPORT_ATTEMPTS = 3
"""An import loses a race only to an import that committed meanwhile; the next attempt sees its
rows, so a third loss in a row takes three imports racing into one project at once."""


def _store_plan(
    session: Any,
    project: str,
    name: str,
    actor: str,
    tasks: dict[str, dict[str, Any]],
    team: dict[str, Worker],
    rows: list[dict[str, Any]],
    cost: float | None,
) -> int:
    """Write one validated plan, as its version 1, in the caller's transaction; return its id.

    `team` rows are detached templates (copied here: a plan owns its workers); `cost` is the
    allocator's when the plan came as its `Plan`."""
    project_row = session.scalar(select(Project).where(Project.name == project))
    if project_row is None:
        project_row = Project(name=project)
        session.add(project_row)
        session.flush()
        record(session, actor, "project.created", "project", project_row.id, name=project)
    ids = _upsert_subtasks(session, project_row.id, tasks, actor)
    plan_row = Plan(project_id=project_row.id, name=name, created_by=actor)
    session.add(plan_row)
    session.flush()
    session.add_all(
        Worker(
            plan_id=plan_row.id,
            key=w.key,
            kind=w.kind,
            skills=w.skills,
            capacity_hours=w.capacity_hours,
            cost_per_hour=w.cost_per_hour,
        )
        for w in team.values()
    )
    session.add(
        PlanVersion(
            plan_id=plan_row.id,
            version=1,
            actor=actor,
            reason="imported",
            cost=None if cost is None else float(cost),
            makespan=max((r["end"] for r in rows), default=0.0),
        )
    )
    session.add_all(
        Assignment(
            plan_id=plan_row.id,
            subtask_id=ids[r["subtask"]],
            worker=r["worker"],
            role=r["role"],
            start_hour=r["start"],
            end_hour=r["end"],
        )
        for r in rows
    )
    items = [
        WorkItem(plan_id=plan_row.id, subtask_id=ids[r["subtask"]], worker=r["worker"], origin="plan")
        for r in rows
        if r["role"] == "do" and team[r["worker"]].kind == "human"
    ]
    session.add_all(items)
    session.flush()
    for item in items:
        record(session, actor, "work.assigned", "work_item", item.id, worker=item.worker, origin="plan")
    record(
        session,
        actor,
        "plan.imported",
        "plan",
        plan_row.id,
        project=project,
        name=name,
        subtasks=len(tasks),
        assignments=len(rows),
    )
    session.flush()
    # Version 1 takes everything before it into account (this import's own subtask updates
    # included): only later changes call for a re-plan.
    plan_row.replanned_through = session.scalar(select(func.max(AuditEvent.id))) or 0
    return plan_row.id


def plan_project(store: ReviewStore, plan_id: int) -> int:
    """The project id a plan belongs to; `NotInStore` naming the known plans when there is none."""
    with store.session() as session:
        plan = session.get(Plan, plan_id)
        if plan is None:
            known = session.scalars(select(Plan.id).order_by(Plan.id)).all()
            raise NotInStore(
                "plan", plan_id, f"Known plans: {list(known) or 'none yet; import one with import_plan'}."
            )
        return plan.project_id


def _plan_table(plan: pd.DataFrame | Any) -> pd.DataFrame:
    """The plan's rows, from a DataFrame or an allocator `Plan`; a relaxed (fractional) plan is refused."""
    table = plan if isinstance(plan, pd.DataFrame) else getattr(plan, "assignments", None)
    if not isinstance(table, pd.DataFrame):
        raise InvalidTaskTable(
            f"the plan is a {type(plan).__name__}; pass the plan table as a DataFrame "
            f"(subtask, worker, role, start, end) or the allocator's Plan"
        )
    if "share" in table.columns and not (table["share"] == 1).all():
        raise InvalidTaskTable(
            "the plan splits subtasks into fractional shares (an LP relaxation); only a whole plan can be "
            "run and reviewed: allocate again without --relax / relax=True",
            column="share",
        )
    return table


def _read_subtasks(source: pd.DataFrame | Any) -> dict[str, dict[str, Any]]:
    """The subtask table through the allocator's own reader and validator, as stored fields.

    p_pass stays None where the table leaves it blank; `_validate_plan` requires it of every
    subtask the AI drafts.
    """
    return {
        task.id: {
            "title": task.title or task.id,
            "description": task.description,
            "skill": task.skill,
            "human_hours": task.human_hours,
            "ai_hours": task.ai_hours,
            "review_hours": task.review_hours,
            "p_pass": task.p_pass,
            "depends_on": list(task.depends_on),
        }
        for task in load_tasks(source)
    }


def _read_team(source: pd.DataFrame | Any) -> dict[str, Worker]:
    """The plan's workers as rows: who is a person and who is an AI worker, which is all the
    review loop needs, plus skills, hours and costs when the table gives them all (what the
    scheduling agent needs to re-plan)."""
    full = set(WORKER_COLUMNS) <= set(worker_columns(source))
    return {
        worker.id: Worker(
            key=worker.id,
            kind=worker.kind,
            skills=list(worker.skills) if full else None,
            capacity_hours=worker.capacity_hours if full else None,
            cost_per_hour=worker.cost_per_hour if full else None,
        )
        for worker in load_workers(source, required=("id", "kind"))
    }


def _validate_plan(
    frame: pd.DataFrame, tasks: dict[str, dict[str, Any]], kinds: dict[str, WorkerKind]
) -> list[dict[str, Any]]:
    """The plan table's rows, checked one by one and then as a whole (see `_check_plan_rows`)."""
    missing = [c for c in ("subtask", "worker", "role", "start", "end") if c not in frame.columns]
    if missing:
        raise InvalidTaskTable(
            f"the plan table lacks the column(s) {missing}; it needs subtask, worker, role, start, end",
            column=missing[0],
        )
    rows = [_plan_row(position, row, tasks, kinds) for position, row in enumerate(frame.to_dict("records"))]
    _check_plan_rows(rows, tasks, kinds)
    return rows


def _plan_row(
    position: int, row: dict[str, Any], tasks: dict[str, dict[str, Any]], kinds: dict[str, WorkerKind]
) -> dict[str, Any]:
    """One plan row, normalised: known subtask and worker, a role, hours; only people review."""
    subtask, worker, role = (
        str(row["subtask"]).strip(),
        str(row["worker"]).strip(),
        str(row["role"]).strip().lower(),
    )
    if subtask not in tasks:
        raise InvalidTaskTable(
            f"plan row {position} names subtask {subtask!r}, which is not in the subtask table",
            row=position,
            column="subtask",
        )
    if worker not in kinds:
        raise InvalidTaskTable(
            f"plan row {position} names worker {worker!r}, which is not in the worker table",
            row=position,
            column="worker",
        )
    if role not in get_args(Role):
        raise InvalidTaskTable(
            f"plan row {position} has role {row['role']!r}; use {' or '.join(map(repr, get_args(Role)))}",
            row=position,
            column="role",
        )
    if role == "review" and kinds[worker] != "human":
        raise InvalidTaskTable(
            f"plan row {position}: {worker!r} is an AI worker and cannot review {subtask!r}",
            row=position,
            column="worker",
        )
    return {
        "subtask": subtask,
        "worker": worker,
        "role": role,
        "start": _hour(row["start"], position, "start"),
        "end": _hour(row["end"], position, "end"),
    }


def _check_plan_rows(
    rows: list[dict[str, Any]], tasks: dict[str, dict[str, Any]], kinds: dict[str, WorkerKind]
) -> None:
    """What the review loop needs of the whole plan: each subtask done exactly once, and each AI
    draft with a p_pass and exactly one human reviewer (and no review row without an AI draft)."""
    done = Counter(r["subtask"] for r in rows if r["role"] == "do")
    reviewed = Counter(r["subtask"] for r in rows if r["role"] == "review")
    for key in tasks:
        if done[key] != 1:
            raise InvalidTaskTable(
                f"subtask {key!r} has {done[key]} 'do' rows in the plan; each subtask is done exactly once",
                row=key,
                column="role",
            )
    drafted = {r["subtask"] for r in rows if r["role"] == "do" and kinds[r["worker"]] == "ai"}
    for key in sorted(drafted):
        if tasks[key]["p_pass"] is None:
            raise InvalidTaskTable(
                f"subtask {key!r} has ai_hours and the plan has the AI draft it, but has no p_pass; "
                f"give the chance its draft passes review, in [0, 1] (a router's p_pass works too)",
                row=key,
                column="p_pass",
            )
    for r in rows:
        if r["role"] == "do" and r["subtask"] in drafted and reviewed[r["subtask"]] != 1:
            raise InvalidTaskTable(
                f"subtask {r['subtask']!r} is drafted by AI worker {r['worker']!r} but has {reviewed[r['subtask']]} "
                f"'review' rows; add exactly one row ({r['subtask']}, <person>, review, start, end)",
                row=r["subtask"],
                column="role",
            )
        if r["role"] == "review" and r["subtask"] not in drafted:
            raise InvalidTaskTable(
                f"subtask {r['subtask']!r} has a 'review' row but is not done by an AI worker",
                row=r["subtask"],
                column="role",
            )


def _upsert_subtasks(
    session: Any, project_id: int, tasks: dict[str, dict[str, Any]], actor: str
) -> dict[str, int]:
    existing = {s.key: s for s in session.scalars(select(Subtask).where(Subtask.project_id == project_id))}
    ids: dict[str, int] = {}
    created = []
    for key, table_fields in tasks.items():
        # A person-only subtask's blank p_pass is stored as 0.0: nothing reads it (p_pass
        # orders drafts, and only AI subtasks have drafts).
        fields = {**table_fields, "p_pass": table_fields["p_pass"] or 0.0}
        row = existing.get(key)
        if row is None:
            row = Subtask(project_id=project_id, key=key, **fields)
            session.add(row)
            created.append(row)
            continue
        changes = {f: [getattr(row, f), fields[f]] for f in _SUBTASK_FIELDS if getattr(row, f) != fields[f]}
        for field, (_old, new) in changes.items():
            setattr(row, field, new)
        if changes:
            record(session, actor, "subtask.updated", "subtask", row.id, key=key, changes=changes)
        ids[key] = row.id
    session.flush()
    for row in created:
        record(session, actor, "subtask.created", "subtask", row.id, key=row.key)
        ids[row.key] = row.id
    return ids


def _hour(value: Any, position: int, column: str) -> float:
    """A plan row's start or end: hours from the plan's start, a finite number >= 0."""
    try:
        hour = float(value)
    except (TypeError, ValueError):
        hour = math.nan
    if isinstance(value, bool) or not math.isfinite(hour) or hour < 0:
        raise InvalidTaskTable(
            f"plan row {position} has {column} {value!r}; it must be hours from the plan's start (a number >= 0)",
            row=position,
            column=column,
        )
    return hour
