"""One REST contract (`coassist/server/contract.py`), checked on both sides.

(a) Every serializer in `coassist.server.replies`, and the live replies of a real Jupyter Server,
validate against the contract's JSON Schema; the request parsers take exactly its fields.
(b) ``labextension/src/tokens.ts`` declares one interface per object schema (``I`` + its name)
with exactly its keys, optional exactly where the schema does not require them, and the matching
TypeScript types; each enum and union is a type of the same name with the same members.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from coassist.agent.status import status_of
from coassist.errors import DraftAlreadyDecided
from coassist.review import Decision, DecisionResult, QueueItem
from coassist.server import replies
from coassist.server.completion import Completion
from coassist.server.contract import ACTIONS, CONTRACT, DECIDED_STATUSES, DEFINITIONS, schema_for
from coassist.server.plan_summary import PlanSummary, WorkerShare
from coassist.server.requests import COMPLETION_FIELDS, DECISION_FIELDS, parse_completion, parse_decision
from coassist.server.store_access import Database, StoreAccess

# jp_server_config and review_db are fixtures: the same server and database as the handler tests.
from tests.test_agent_status import team_state
from tests.test_server_handlers import expect_error, fetch_json

pytest_plugins = ["pytest_jupyter.jupyter_server"]

TOKENS_TS = Path(__file__).resolve().parents[1] / "labextension" / "src" / "tokens.ts"
WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)


def check(name: str, body: Any) -> None:
    """`body` is a valid `name` body (jsonschema raises, naming the first difference)."""
    jsonschema.Draft202012Validator(schema_for(name)).validate(body)


def test_the_contract_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(CONTRACT)


# --- (a) Python: every serializer's output is a valid body ------------------------------------------


def queue_item(reviewer: str | None = "ana") -> QueueItem:
    return QueueItem(7, 3, "a", "Load sales", "sql", 0.45, reviewer, "draft", 1, "smollm2", WHEN)


def decided(action: str, work_item_id: int | None = None) -> DecisionResult:
    return DecisionResult(7, "a", Decision(action), "ana", WHEN, 2, work_item_id)


SHARES = (WorkerShare("ana", "human", 1 / 3, ("review a", "c")), WorkerShare("gpu", "ai", 2.0, ()))
ACCESS = StoreAccess(lambda: pytest.fail("a serializer opened the store"))
SERVERS = Database(ACCESS, "sqlite:////srv/coassist.db", "server")
NOTEBOOKS = Database(ACCESS, "postgresql+psycopg://ana:***@db/coassist", "notebook")
GONE = Database(None, "sqlite:////tmp/scratch/team.db", "notebook")
TEAM = status_of(team_state(), None)
SUMMARY = PlanSummary(3, "", "sales", assignments=4, makespan_hours=6.3, pending_drafts=2, workers=SHARES)
WINNER = DraftAlreadyDecided(7, "a", "approved", "ana", WHEN)

# Each serializer, the schema its output follows, and the inputs that cover its branches.
SERIALIZERS: dict[Callable[..., dict[str, Any]], tuple[str, list[tuple[Any, ...]]]] = {
    replies.completion_json: (
        "CompletionReply",
        [(Completion("x", "m", False),), (Completion("", "m", True),)],
    ),
    replies.database_json: ("Database", [(SERVERS,), (NOTEBOOKS,), (GONE,)]),
    replies.plan_json: (
        "PlanReply",
        [(None, SERVERS), (None, NOTEBOOKS), (None, GONE), (SUMMARY, SERVERS), (PlanSummary(1, "week 1", "p", 0, 0.0, 0, ()), NOTEBOOKS)],
    ),
    replies.worker_json: ("PlanWorker", [(share,) for share in SHARES]),
    replies.queue_item_json: ("ReviewItem", [(queue_item(), "week 1"), (queue_item(None), "")]),
    replies.review_list_json: (
        "ReviewList",
        [([], {}, GONE, None), ([queue_item(), queue_item(None)], {3: "week 1"}, SERVERS, "ana")],
    ),
    replies.team_json: ("TeamReply", [(TEAM, SERVERS), (None, SERVERS), (None, GONE)]),
    replies.decision_json: ("DecisionResult", [(decided(a),) for a in ACTIONS] + [(decided("reject", 12),)]),
    replies.error_json: ("ErrorReply", [("the request body is empty; send a JSON object",)]),
    replies.conflict_json: ("ErrorReply", [(str(WINNER), WINNER), ("stale: reload it", None)]),
}


@pytest.mark.parametrize(
    "serializer,name,args",
    [
        pytest.param(f, name, args, id=f"{f.__name__}-{i}")
        for f, (name, cases) in SERIALIZERS.items()
        for i, args in enumerate(cases)
    ],
)
def test_every_serializer_output_follows_the_contract(
    serializer: Callable[..., dict[str, Any]], name: str, args: tuple[Any, ...]
) -> None:
    body = serializer(*args)
    check(name, body)
    json.dumps(body)  # plain JSON data, nothing left for a default= to stringify


def test_every_serializer_is_checked() -> None:
    public = {
        name
        for name, function in inspect.getmembers(replies, inspect.isfunction)
        if name.endswith("_json") and function.__module__ == replies.__name__
    }
    assert public == {f.__name__ for f in SERIALIZERS}


def test_a_plan_is_sent_as_data_not_display_text() -> None:
    item = replies.queue_item_json(queue_item(), "week 1")
    assert (item["plan_id"], item["plan_name"], "plan" in item) == (3, "week 1", False)
    assert item["created_at"] == "2025-03-01T09:30:00+00:00"
    plan = replies.plan_json(SUMMARY, SERVERS)
    assert (plan["id"], plan["name"]) == (3, "")  # the name as imported; the message names it
    assert plan["message"] == "sales / plan 3: 4 assignments, makespan 6.3 h, 2 drafts awaiting review."
    assert plan["workers"][0] == {
        "worker": "ana",
        "kind": "human",
        "hours": 0.333,
        "subtasks": ["review a", "c"],
    }


def test_a_conflict_names_the_decision_that_won() -> None:
    assert replies.conflict_json("taken", WINNER) == {
        "message": "taken",
        "current": {"id": 7, "subtask": "a", "status": "approved", "decided_by": "ana"},
    }
    assert replies.conflict_json("stale", None) == {"message": "stale", "current": None}


@pytest.mark.parametrize(
    "body",
    [
        {"plan": "plan 3"},  # display text where data belongs
        {"decided_by": None},  # a key the contract does not list
    ],
)
def test_the_contract_refuses_keys_it_does_not_list(body: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        check("ReviewItem", {**replies.queue_item_json(queue_item(), ""), **body})


def test_the_parsers_take_exactly_the_contract_fields() -> None:
    assert DECISION_FIELDS == tuple(DEFINITIONS["ReviewDecision"]["properties"])
    assert COMPLETION_FIELDS == tuple(DEFINITIONS["CompletionRequest"]["properties"])
    assert ACTIONS == tuple(d.value for d in Decision)
    assert DECIDED_STATUSES == tuple(d.status for d in Decision)
    full = {
        "id": 3,
        "version": 1,
        "action": "edit",
        "text": "fixed",
        "note": "typo",
        "reviewer": "ana",
        "database": "sqlite:////srv/coassist.db",
    }
    check("ReviewDecision", full)
    parse_decision(json.dumps(full).encode())
    minimal = {"id": 3, "action": "approve"}
    check("ReviewDecision", minimal)
    parse_decision(json.dumps(minimal).encode())
    check("CompletionRequest", {"prefix": "x"})
    parse_completion(b'{"prefix": "x"}')


# --- (a) Python: the live replies of a real server --------------------------------------------------


async def test_every_live_reply_follows_the_contract(jp_fetch: Any) -> None:
    _, queue = await fetch_json(jp_fetch, "reviews")
    check("ReviewList", queue)
    assert {(r["plan_id"], r["plan_name"]) for r in queue["reviews"]} == {(1, "week 1")}
    _, plan = await fetch_json(jp_fetch, "plan")
    check("PlanReply", plan)
    _, team = await fetch_json(jp_fetch, "team")
    check("TeamReply", team)
    draft = queue["reviews"][0]
    decision = {"id": draft["id"], "version": draft["version"], "action": "approve"}
    check("ReviewDecision", decision)
    _, result = await fetch_json(jp_fetch, "reviews", decision)
    check("DecisionResult", result)
    check("ErrorReply", await expect_error(jp_fetch, "reviews", 409, decision))
    check("ErrorReply", await expect_error(jp_fetch, "reviews", 409, {**decision, "version": 5}))
    check("ErrorReply", await expect_error(jp_fetch, "reviews", 400, {"id": "x"}))
    _, completion = await fetch_json(jp_fetch, "complete", {"prefix": "x = "})
    check("CompletionReply", completion)


# --- (b) TypeScript: tokens.ts declares the same bodies ---------------------------------------------


def typescript_declarations() -> tuple[dict[str, dict[str, tuple[bool, str]]], dict[str, str]]:
    """tokens.ts's interfaces as {name: {key: (optional, type)}} and its type aliases as {name: type}."""
    source = re.sub(r"/\*.*?\*/|//[^\n]*", "", TOKENS_TS.read_text(), flags=re.S)
    interfaces = {
        name: {
            key: (optional == "?", " ".join(kind.split()))
            for key, optional, kind in re.findall(r"^\s*(\w+)(\??):\s*([^;]+);", body, re.M)
        }
        for name, body in re.findall(r"export interface (\w+) \{(.*?)\n\}", source, re.S)
    }
    aliases = {
        name: " ".join(kind.split()) for name, kind in re.findall(r"export type (\w+) =\s*([^;]+);", source)
    }
    return interfaces, aliases


def ts_type(schema: dict[str, Any]) -> str:
    """The TypeScript type tokens.ts must write for a property of this schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"I{name}" if DEFINITIONS[name].get("type") == "object" else name
    if "anyOf" in schema:
        return " | ".join(ts_type(option) for option in schema["anyOf"])
    if "const" in schema:
        value = schema["const"]
        return f"'{value}'" if isinstance(value, str) else json.dumps(value)
    if schema["type"] == "array":
        return ts_type(schema["items"]) + "[]"
    return {
        "integer": "number",
        "number": "number",
        "string": "string",
        "boolean": "boolean",
        "null": "null",
    }[schema["type"]]


OBJECTS = sorted(name for name, schema in DEFINITIONS.items() if schema.get("type") == "object")


@pytest.mark.parametrize("name", OBJECTS)
def test_each_typescript_interface_declares_exactly_the_schema_keys(name: str) -> None:
    interfaces, _aliases = typescript_declarations()
    schema = DEFINITIONS[name]
    expected = {
        key: (key not in schema["required"], ts_type(property_schema))
        for key, property_schema in schema["properties"].items()
    }
    assert interfaces[f"I{name}"] == expected


def test_enums_and_unions_are_typescript_types_of_the_same_name() -> None:
    _interfaces, aliases = typescript_declarations()
    for name, schema in DEFINITIONS.items():
        if "enum" in schema:
            assert aliases[name] == " | ".join(f"'{value}'" for value in schema["enum"])
        elif "oneOf" in schema:
            assert aliases[name] == " | ".join(ts_type(option) for option in schema["oneOf"])


def test_tokens_ts_declares_no_body_the_contract_lacks() -> None:
    interfaces, aliases = typescript_declarations()
    assert set(interfaces) - {"ICoassistClient"} == {f"I{name}" for name in OBJECTS}
    assert set(aliases) == {name for name, schema in DEFINITIONS.items() if schema.get("type") != "object"}


def test_the_action_union_is_written_once_in_the_front_end() -> None:
    written = [
        path.name
        for path in TOKENS_TS.parent.rglob("*.ts")
        if re.search(r"'approve'\s*\|\s*'edit'", path.read_text())
    ]
    assert written == ["tokens.ts"]
