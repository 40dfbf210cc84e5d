"""The REST contract, written once: every JSON body the server sends or accepts, as JSON Schema.

Both sides are checked against it, so neither can drift on its own:

- Python builds each reply with one serializer in `coassist.server.replies` and reads each
  request with one parser in `coassist.server.requests` (whose field lists come from here);
- TypeScript declares one interface per object schema, named ``I`` + the schema's name
  (`ReviewItem` is ``IReviewItem``), and one type per enum or union, in
  ``labextension/src/tokens.ts``.

``tests/test_server_contract.py`` validates every serializer's output (and live replies) against
`CONTRACT`, and reads tokens.ts to check that each interface declares exactly the schema's keys,
optional where the schema does not require them, with the matching types.

Display text stays out of the data: a plan is sent as its id and name, times as ISO 8601, and
the front end formats them. Only ``message`` fields are sentences, written for people.
"""

from __future__ import annotations

from typing import Any, get_args

from coassist.agent.state import AgentLiveness, SubtaskState
from coassist.review.decisions import Decision
from coassist.review.schema import DecisionName, DraftStatus
from coassist.server.store_access import DatabaseSource

# The closed sets come from the review layer, which stores them: the contract only publishes them.
Action = DecisionName
ACTIONS: tuple[Action, ...] = get_args(DecisionName)
DECIDED_STATUSES: tuple[DraftStatus, ...] = tuple(Decision(action).status for action in ACTIONS)
"""A draft's status after each action, in the order of `ACTIONS`."""

JSON = dict[str, Any]


def _object(properties: dict[str, JSON], optional: tuple[str, ...] = ()) -> JSON:
    """A closed JSON object: exactly these keys, every one required except `optional`."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def _ref(name: str) -> JSON:
    return {"$ref": f"#/$defs/{name}"}


def _nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def _array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


_INT: JSON = {"type": "integer"}
_NUMBER: JSON = {"type": "number"}
_TEXT: JSON = {"type": "string"}
_BOOL: JSON = {"type": "boolean"}
_TIME: JSON = {"type": "string", "format": "date-time"}

DEFINITIONS: dict[str, JSON] = {
    # POST /coassist/complete
    "CompletionRequest": _object(
        {"prefix": _TEXT, "suffix": _TEXT, "path": _TEXT}, optional=("suffix", "path")
    ),
    "CompletionReply": _object({"text": _TEXT, "model": _TEXT, "cancelled": _BOOL}),
    # Every GET below takes ?kernel=ID (the current notebook's kernel) and says which database it
    # read: the one that notebook showed with show_in_sidebar, else the server's.
    "DatabaseSource": {"enum": list(get_args(DatabaseSource))},
    "Database": _object({"url": _TEXT, "source": _ref("DatabaseSource")}),
    # GET /coassist/plan
    "PlanWorker": _object({"worker": _TEXT, "kind": _TEXT, "hours": _NUMBER, "subtasks": _array(_TEXT)}),
    "PlanSummary": _object(
        {
            "available": {"const": True},
            "message": _TEXT,
            "id": _INT,
            "name": _TEXT,
            "project": _TEXT,
            "makespan_hours": _NUMBER,
            "pending_drafts": _INT,
            "workers": _array(_ref("PlanWorker")),
            "database": _ref("Database"),
        }
    ),
    "PlanUnavailable": _object({"available": {"const": False}, "message": _TEXT, "database": _ref("Database")}),
    "PlanReply": {"oneOf": [_ref("PlanSummary"), _ref("PlanUnavailable")]},
    # GET /coassist/reviews
    "ReviewItem": _object(
        {
            "id": _INT,
            "version": _INT,
            "status": {"const": "pending"},
            "subtask": _TEXT,
            "title": _TEXT,
            "text": _TEXT,
            "model": _TEXT,
            "p_pass": _NUMBER,
            "plan_id": _INT,
            "plan_name": _TEXT,
            "reviewer": _nullable(_TEXT),
            "created_at": _TIME,
        }
    ),
    # `decided_as`: whom this server records decisions under; null when it cannot tell (a
    # token-only JupyterLab), and then a decision must carry `reviewer`.
    "ReviewList": _object(
        {"reviews": _array(_ref("ReviewItem")), "database": _ref("Database"), "decided_as": _nullable(_TEXT)}
    ),
    # POST /coassist/reviews[?kernel=ID]; `reviewer` counts only where `decided_as` is null;
    # `database` is the URL the draft was listed from (a 409 if the request reads another).
    "ReviewAction": {"enum": list(ACTIONS)},
    "DecidedStatus": {"enum": list(DECIDED_STATUSES)},
    "ReviewDecision": _object(
        {
            "id": _INT,
            "version": _INT,
            "action": _ref("ReviewAction"),
            "text": _TEXT,
            "note": _TEXT,
            "reviewer": _TEXT,
            "database": _TEXT,
        },
        optional=("version", "text", "note", "reviewer", "database"),
    ),
    "DecisionResult": _object(
        {
            "id": _INT,
            "subtask": _TEXT,
            "status": _ref("DecidedStatus"),
            "version": _INT,
            "decided_by": _TEXT,
            "decided_at": _TIME,
            "work_item_id": _nullable(_INT),
            "assigned_to": _nullable(_TEXT),
        }
    ),
    # Every error reply; a 409 adds `current`, the decision that won (null for a stale version).
    "DecisionConflict": _object(
        {"id": _INT, "subtask": _TEXT, "status": _ref("DecidedStatus"), "decided_by": _TEXT}
    ),
    "ErrorReply": _object({"message": _TEXT, "current": _nullable(_ref("DecisionConflict"))}, ("current",)),
    # GET /coassist/team[?plan=ID]: `coassist.agent.status.TeamStatus.as_dict()` as `status`;
    # hours count from the plan's creation. A database without plans is `TeamUnavailable`.
    "SubtaskState": {"enum": list(get_args(SubtaskState))},
    "AgentLiveness": {"enum": list(get_args(AgentLiveness))},
    "TeamPlan": _object({"id": _INT, "project": _TEXT, "name": _TEXT, "version": _INT}),
    "SubtaskCounts": _object({**{state: _INT for state in get_args(SubtaskState)}, "total": _INT}),
    "ReviewerQueue": _object({"reviewer": _TEXT, "pending": _INT}),
    "TeamAgent": _object(
        {
            "id": _TEXT,
            "worker": _TEXT,
            "model": _TEXT,
            "liveness": _ref("AgentLiveness"),
            "heartbeat_seconds": _NUMBER,
            "drafted": _INT,
        }
    ),
    "TeamSubtask": _object(
        {
            "subtask": _TEXT,
            "title": _TEXT,
            "state": _ref("SubtaskState"),
            "doer": _TEXT,
            "planned_end_hour": _NUMBER,
            "expected_end_hour": _NUMBER,
            "slack_hours": _nullable(_NUMBER),
        }
    ),
    "TeamForecast": _object(
        {
            "now_hour": _NUMBER,
            "finish_hour": _NUMBER,
            "planned_makespan_hours": _NUMBER,
            "behind_hours": _NUMBER,
            "finish_at": _TIME,
            "critical_path": _array(_ref("TeamSubtask")),
            "least_slack": _array(_ref("TeamSubtask")),
        }
    ),
    "PlanMove": _object(
        {
            "subtask": _TEXT,
            "from_worker": _nullable(_TEXT),
            "to_worker": _nullable(_TEXT),
            "from_reviewer": _nullable(_TEXT),
            "to_reviewer": _nullable(_TEXT),
        }
    ),
    "PlanWorkerChange": _object({"worker": _TEXT, "gained": _array(_TEXT), "lost": _array(_TEXT)}),
    "PlanChange": _object(
        {
            "version": _INT,
            "at": _TIME,
            "actor": _TEXT,
            "reason": _TEXT,
            "summary": _TEXT,
            "why_not": _nullable(_TEXT),
            "replanned": _INT,
            "held": _INT,
            "moves": _array(_ref("PlanMove")),
            "workers": _array(_ref("PlanWorkerChange")),
            "cost_before": _NUMBER,
            "cost_after": _nullable(_NUMBER),
            "makespan_before": _NUMBER,
            "makespan_after": _nullable(_NUMBER),
        }
    ),
    "TeamStatus": _object(
        {
            "plan": _ref("TeamPlan"),
            "counts": _ref("SubtaskCounts"),
            "review_queue": _array(_ref("ReviewerQueue")),
            "agents": _array(_ref("TeamAgent")),
            "warnings": _array(_TEXT),
            "forecast": _ref("TeamForecast"),
            "latest_change": _nullable(_ref("PlanChange")),
            "read_at": _TIME,
        }
    ),
    "TeamView": _object({"available": {"const": True}, "database": _ref("Database"), "status": _ref("TeamStatus")}),
    "TeamUnavailable": _object({"available": {"const": False}, "database": _ref("Database"), "message": _TEXT}),
    "TeamReply": {"oneOf": [_ref("TeamView"), _ref("TeamUnavailable")]},
}

CONTRACT: JSON = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": DEFINITIONS}
"""The whole contract as one JSON Schema document; `schema_for(name)` points into it."""


def schema_for(name: str) -> JSON:
    """A schema that validates one `name` body, with the definitions its references need.

    >>> schema_for("ReviewList")["$ref"]
    '#/$defs/ReviewList'
    """
    if name not in DEFINITIONS:
        raise KeyError(f"the REST contract has no {name!r}; it defines {', '.join(DEFINITIONS)}")
    return {**CONTRACT, "$ref": f"#/$defs/{name}"}


def fields(name: str) -> tuple[str, ...]:
    """The keys an object body may hold, in the contract's order.

    >>> fields("CompletionRequest")
    ('prefix', 'suffix', 'path')
    """
    return tuple(DEFINITIONS[name]["properties"])


def required(name: str) -> tuple[str, ...]:
    """The keys an object body must hold.

    >>> required("ReviewDecision")
    ('id', 'action')
    """
    return tuple(DEFINITIONS[name]["required"])
