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
from typing import Any

import networkx as nx
import pandas as pd
from sqlalchemy import select

from coassist.errors import CyclicPlan, InvalidTaskTable, NotInStore
from coassist.review.audit import current_user, record
from coassist.review.schema import Assignment, Plan, Project, Subtask, Worker, WorkItem
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
    tasks = _validate_subtasks(subtasks)
    kinds = _validate_workers(workers)
    rows = _validate_plan(_plan_table(plan), tasks, kinds)
    with store.session() as session:
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
        session.add_all(Worker(plan_id=plan_row.id, key=key, kind=kind) for key, kind in kinds.items())
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
            if r["role"] == "do" and kinds[r["worker"]] == "human"
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


def parse_depends_on(value: Any) -> list[str]:
    """Dependency ids from a list, a ``;``-separated string, or a blank.

    >>> parse_depends_on("a; b;")
    ['a', 'b']
    >>> parse_depends_on(float("nan"))
    []
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


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


def _validate_subtasks(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    missing = [c for c in _SUBTASK_REQUIRED if c not in frame.columns]
    if missing:
        raise InvalidTaskTable(
            f"the subtask table lacks the column(s) {missing}; it needs {list(_SUBTASK_REQUIRED)} "
            f"and may have ai_hours, depends_on, title, description",
            column=missing[0],
        )
    tasks: dict[str, dict[str, Any]] = {}
    for position, row in enumerate(frame.to_dict("records")):
        key = str(row["id"]).strip()
        if key in tasks:
            raise InvalidTaskTable(
                f"subtask id {key!r} appears twice (row {position}); ids must be unique",
                row=position,
                column="id",
            )
        ai_hours = row.get("ai_hours")
        ai_capable = not _blank(ai_hours)
        p_pass = _p_pass(row.get("p_pass"), key, position, required=ai_capable)
        if not 0.0 <= p_pass <= 1.0:
            raise InvalidTaskTable(
                f"subtask {key!r} has p_pass {p_pass}; it must be in [0, 1]", row=position, column="p_pass"
            )
        tasks[key] = {
            "title": _text(row.get("title")) or key,
            "description": _text(row.get("description")),
            "skill": str(row["skill"]),
            "human_hours": float(row["human_hours"]),
            "ai_hours": float(ai_hours) if ai_capable else None,
            "review_hours": 0.0 if _blank(row["review_hours"]) else float(row["review_hours"]),
            "p_pass": p_pass,
            "depends_on": parse_depends_on(row.get("depends_on")),
        }
    graph = nx.DiGraph()
    graph.add_nodes_from(tasks)
    for key, task in tasks.items():
        for dependency in task["depends_on"]:
            if dependency not in tasks:
                raise InvalidTaskTable(
                    f"subtask {key!r} depends on {dependency!r}, which is not in the subtask table; "
                    f"add it or remove the dependency",
                    row=key,
                    column="depends_on",
                )
            graph.add_edge(dependency, key)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return tasks
    raise CyclicPlan([edge[0] for edge in cycle])


def _validate_workers(frame: pd.DataFrame) -> dict[str, str]:
    for column in ("id", "kind"):
        if column not in frame.columns:
            raise InvalidTaskTable(
                f"the worker table lacks the column {column!r}; it needs 'id' and 'kind'", column=column
            )
    kinds: dict[str, str] = {}
    for row in frame.to_dict("records"):
        key, kind = str(row["id"]).strip(), str(row["kind"]).strip().lower()
        if kind not in ("human", "ai"):
            raise InvalidTaskTable(
                f"worker {key!r} has kind {row['kind']!r}; use 'human' or 'ai'", row=key, column="kind"
            )
        if key in kinds:
            raise InvalidTaskTable(
                f"worker id {key!r} appears twice; ids must be unique", row=key, column="id"
            )
        kinds[key] = kind
    if not kinds:
        raise InvalidTaskTable("the worker table is empty; a plan needs at least one worker")
    return kinds


def _validate_plan(
    frame: pd.DataFrame, tasks: dict[str, dict[str, Any]], kinds: dict[str, str]
) -> list[dict[str, Any]]:
    missing = [c for c in ("subtask", "worker", "role", "start", "end") if c not in frame.columns]
    if missing:
        raise InvalidTaskTable(
            f"the plan table lacks the column(s) {missing}; it needs subtask, worker, role, start, end",
            column=missing[0],
        )
    rows: list[dict[str, Any]] = []
    for position, row in enumerate(frame.to_dict("records")):
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
        if role not in ("do", "review"):
            raise InvalidTaskTable(
                f"plan row {position} has role {row['role']!r}; use 'do' or 'review'",
                row=position,
                column="role",
            )
        if role == "review" and kinds[worker] != "human":
            raise InvalidTaskTable(
                f"plan row {position}: {worker!r} is an AI worker and cannot review {subtask!r}",
                row=position,
                column="worker",
            )
        rows.append(
            {
                "subtask": subtask,
                "worker": worker,
                "role": role,
                "start": float(row["start"]),
                "end": float(row["end"]),
            }
        )
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
    return rows


def _upsert_subtasks(
    session: Any, project_id: int, tasks: dict[str, dict[str, Any]], actor: str
) -> dict[str, int]:
    existing = {s.key: s for s in session.scalars(select(Subtask).where(Subtask.project_id == project_id))}
    ids: dict[str, int] = {}
    created = []
    for key, fields in tasks.items():
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


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _p_pass(value: Any, key: str, position: int, required: bool) -> float:
    """The table's p_pass; a person-only subtask may leave it blank (no AI draft to judge)."""
    if _blank(value):
        if required:
            raise InvalidTaskTable(
                f"subtask {key!r} can be drafted by the AI (it has ai_hours) but has no p_pass; "
                f"give the chance its draft passes review, in [0, 1]",
                row=position,
                column="p_pass",
            )
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidTaskTable(
            f"subtask {key!r} has p_pass {value!r}, which is not a number in [0, 1]", row=position, column="p_pass"
        ) from None


def _blank(value: Any) -> bool:
    """An empty CSV cell, whether pandas read it as NaN or as an empty string."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return bool(pd.isna(value))
