"""The current plan, as the sidebar shows it: the newest plan imported into the review store.

The review database is the one place a notebook kernel (which imports a plan with
`coassist.review.import_plan`) and the Jupyter server both see, so "current" means "newest
there" and no extra state is kept on the server.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from coassist.review import ReviewStore
from coassist.review.schema import Assignment, Draft, Plan, Project, Subtask, Worker


def current_plan_summary(store: ReviewStore) -> dict[str, Any]:
    """JSON for GET /coassist/plan: the newest plan's makespan and each worker's share.

    ``{"available": False, "message": ...}`` when no plan has been imported yet.
    """
    with store.session() as session:
        plan = session.scalar(select(Plan).order_by(Plan.id.desc()).limit(1))
        if plan is None:
            return {
                "available": False,
                "message": "No plan yet: import one with coassist.review.import_plan(store, ...).",
            }
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
        project_name = project.name if project else "?"
        plan_name = plan.name or f"plan {plan.id}"
    hours: dict[str, float] = defaultdict(float)
    subtasks: dict[str, list[str]] = defaultdict(list)
    for worker, role, start, end, key in rows:
        hours[worker] += end - start
        subtasks[worker].append(key if role == "do" else f"review {key}")
    makespan = max((end for _worker, _role, _start, end, _key in rows), default=0.0)
    return {
        "available": True,
        "id": plan.id,
        "name": plan_name,
        "project": project_name,
        "makespan_hours": makespan,
        "pending_drafts": pending or 0,
        "message": f"{project_name} / {plan_name}: {len(rows)} assignments, makespan {makespan:.1f} h, "
        f"{pending or 0} drafts awaiting review.",
        "workers": [
            {"worker": w, "kind": kinds.get(w, "?"), "hours": round(hours[w], 3), "subtasks": subtasks[w]}
            for w in sorted(hours)
        ],
    }
