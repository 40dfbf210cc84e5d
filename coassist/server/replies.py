"""Every JSON body the server sends, built in one place: one serializer per resource.

Each returns plain JSON data shaped exactly as `coassist.server.contract` says (the contract test
validates them) and as ``labextension/src/tokens.ts`` declares. They format nothing the front
end can format itself: a plan goes out as its id and name, times as ISO 8601 text. Only the
``message`` fields are sentences for people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from coassist.agent.status import TeamStatus
from coassist.errors import DraftAlreadyDecided
from coassist.review import DecisionResult, QueueItem
from coassist.server.completion import Completion
from coassist.server.plan_summary import PlanSummary, WorkerShare
from coassist.server.store_access import Database

JSON = dict[str, Any]

NO_TEAM_MESSAGE = "No plan in this database yet, so there is no team to follow."


def completion_json(completion: Completion) -> JSON:
    """POST /coassist/complete's reply (`CompletionReply`)."""
    return {"text": completion.text, "model": completion.model, "cancelled": completion.cancelled}


def database_json(database: Database) -> JSON:
    """Which database a reply was read from (`Database`); the URL's password is hidden."""
    return {"url": database.url, "source": database.source}


def no_plan_message(database: Database) -> str:
    """What an empty database says: which one it is, and the one call that fills it (a
    notebook's own store, or the server's, which `show_in_sidebar` can also replace); for a
    notebook's database that is gone, that it is."""
    if database.gone:
        return gone_message(database)
    if database.source == "notebook":
        return (
            f"No plan yet in this notebook's review database, {database.url}. Fill it: "
            "import_plan(store, tasks, team, plan)."
        )
    return (
        f"No plan yet in the server's review database, {database.url}. Fill it from a notebook: "
        f"import_plan(open_store({database.url!r}), tasks, team, plan). Or show a notebook's own store "
        "here with show_in_sidebar(store), as examples/team_agent.ipynb does."
    )


def gone_message(database: Database) -> str:
    """A notebook's database deleted since it was shown: an empty state, not an error (the
    sidebar asks every few seconds), until the notebook shows another or closes."""
    return (
        f"The review database this notebook showed here, {database.url}, no longer exists (deleted "
        "after the notebook ran?). Call show_in_sidebar(store) with one that does."
    )


def plan_json(summary: PlanSummary | None, database: Database) -> JSON:
    """GET /coassist/plan's reply: `PlanSummary`, or `PlanUnavailable` before any plan is imported."""
    if summary is None:
        return {"available": False, "message": no_plan_message(database), "database": database_json(database)}
    return {
        "available": True,
        "id": summary.id,
        "name": summary.name,
        "project": summary.project,
        "makespan_hours": summary.makespan_hours,
        "pending_drafts": summary.pending_drafts,
        "message": plan_message(summary),
        "workers": [worker_json(share) for share in summary.workers],
        "database": database_json(database),
    }


def plan_message(summary: PlanSummary) -> str:
    """The plan in one sentence, as the sidebar shows it.

    >>> plan_message(PlanSummary(3, "", "sales", assignments=7, makespan_hours=6.25, pending_drafts=2, workers=()))
    'sales / plan 3: 7 assignments, makespan 6.2 h, 2 drafts awaiting review.'
    >>> plan_message(PlanSummary(3, "wk", "sales", assignments=1, makespan_hours=1.0, pending_drafts=1, workers=()))
    'sales / wk: 1 assignment, makespan 1.0 h, 1 draft awaiting review.'
    """
    return (
        f"{summary.project} / {summary.name or f'plan {summary.id}'}: "
        f"{plural(summary.assignments, 'assignment')}, makespan {summary.makespan_hours:.1f} h, "
        f"{plural(summary.pending_drafts, 'draft')} awaiting review."
    )


def plural(count: int, noun: str) -> str:
    """``1 draft``, ``0 drafts``, ``2 drafts``: the count with its noun, in English.

    >>> plural(1, "draft"), plural(0, "draft")
    ('1 draft', '0 drafts')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def worker_json(share: WorkerShare) -> JSON:
    """One worker's share of the plan (`PlanWorker`); hours to the nearest 0.001 (3.6 s)."""
    return {
        "worker": share.worker,
        "kind": share.kind,
        "hours": round(share.hours, 3),
        "subtasks": list(share.subtasks),
    }


def queue_item_json(item: QueueItem, plan_name: str) -> JSON:
    """A pending draft (`ReviewItem`); `plan_name` is the name its plan was imported under."""
    return {
        "id": item.draft_id,
        "version": item.version,
        "status": "pending",
        "subtask": item.subtask,
        "title": item.title,
        "text": item.text,
        "model": item.model_spec,
        "p_pass": item.p_pass,
        "plan_id": item.plan_id,
        "plan_name": plan_name,
        "reviewer": item.reviewer,
        "created_at": item.created_at.isoformat(),
    }


def review_list_json(
    items: Sequence[QueueItem], plan_names: Mapping[int, str], database: Database, decided_as: str | None
) -> JSON:
    """GET /coassist/reviews' reply (`ReviewList`), in the queue's order; `decided_as` is whom
    decisions are recorded under (None: the server cannot tell, the client names the reviewer)."""
    return {
        "reviews": [queue_item_json(item, plan_names.get(item.plan_id, "")) for item in items],
        "database": database_json(database),
        "decided_as": decided_as,
    }


def team_json(status: TeamStatus | None, database: Database) -> JSON:
    """GET /coassist/team's reply: `TeamView`, or `TeamUnavailable` for a database without plans."""
    if status is None:
        message = gone_message(database) if database.gone else NO_TEAM_MESSAGE
        return {"available": False, "database": database_json(database), "message": message}
    return {"available": True, "database": database_json(database), "status": status.as_dict()}


def decision_json(result: DecisionResult) -> JSON:
    """POST /coassist/reviews' reply for a stored decision (`DecisionResult`); `assigned_to` is
    the reviewer the plan assigned the draft to (None when it named nobody)."""
    return {
        "id": result.draft_id,
        "subtask": result.subtask,
        "status": result.decision.status,
        "version": result.version,
        "decided_by": result.reviewer,
        "decided_at": result.decided_at.isoformat(),
        "work_item_id": result.work_item_id,
        "assigned_to": result.assigned_to,
    }


def error_json(message: str) -> JSON:
    """Every error reply (`ErrorReply`): a sentence saying what went wrong and what to do."""
    return {"message": message}


def conflict_json(message: str, winner: DraftAlreadyDecided | None) -> JSON:
    """A 409 (`ErrorReply` with `current`): the decision that came first, or null when the client
    only sent a stale version (nobody decided; the draft changed since it was read)."""
    current = None
    if winner is not None:
        current = {
            "id": winner.draft_id,
            "subtask": winner.subtask,
            "status": winner.decision,
            "decided_by": winner.decided_by,
        }
    return {**error_json(message), "current": current}
