"""Change what the team can give a plan: a person's hours, or away (0 hours).

The change is audited as ``worker.capacity_changed``, which is what tells a scheduling agent to
re-plan the work nobody has started (`coassist.agent`).
"""

from __future__ import annotations

import math

from sqlalchemy import select

from coassist.errors import InvalidOption, NoReplannableTeam, NotInStore
from coassist.review.audit import current_user, record
from coassist.review.plans import plan_project
from coassist.review.schema import Worker
from coassist.review.store import ReviewStore


def set_capacity(
    store: ReviewStore, plan_id: int, worker: str, hours: float, actor: str | None = None
) -> None:
    """Set `worker`'s capacity in `plan_id` to `hours` (0: away); the agent re-plans from it.

    Raises
    ------
    InvalidOption
        `hours` is not a finite number >= 0.
    NotInStore
        No such plan, or no such worker in it (the message lists the plan's workers).
    NoReplannableTeam
        The plan was imported with only ids and kinds, so it has no hours to change.
    """
    if (
        isinstance(hours, bool)
        or not isinstance(hours, (int, float))
        or not (math.isfinite(hours) and hours >= 0)
    ):
        raise InvalidOption("hours", f"must be a finite number of hours >= 0 (0 = away), got {hours!r}")
    plan_project(store, plan_id)
    actor = actor or current_user()
    with store.session() as session:
        rows = {w.key: w for w in session.scalars(select(Worker).where(Worker.plan_id == plan_id))}
        row = rows.get(worker)
        if row is None:
            raise NotInStore("worker", worker, f"Plan {plan_id} has: {', '.join(sorted(rows))}.")
        if row.capacity_hours is None:
            raise NoReplannableTeam(
                f"plan {plan_id} was imported with only the workers' ids and kinds, so it has no hours to "
                f"change; import it again with the full worker table (id, kind, skills, capacity_hours, "
                f"cost_per_hour)."
            )
        before = row.capacity_hours
        row.capacity_hours = float(hours)
        record(
            session,
            actor,
            "worker.capacity_changed",
            "worker",
            row.id,
            plan=plan_id,
            worker=worker,
            before=before,
            after=float(hours),
        )
