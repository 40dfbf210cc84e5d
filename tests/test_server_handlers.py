"""The server extension's REST API through a real Jupyter Server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import Authorizer, IdentityProvider, User
from tornado.httpclient import HTTPClientError

from coassist.review import (
    DraftingConfig,
    audit_trail,
    draft_ai_subtasks,
    import_plan,
    open_store,
    review_queue,
    work_items,
)
from tests.test_review_support import ScriptedModel, small_plan

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NO_TOKEN = {"Authorization": ""}
WRONG_TOKEN = {"Authorization": "token not-the-token"}
USER_HEADER = "X-Coassist-Test-User"


class HeaderIdentityProvider(IdentityProvider):
    """Token authentication as usual, then the signed-in user is the one the test names in
    `USER_HEADER` (default "ana"): Jupyter's own provider makes a new anonymous user per request."""

    async def get_user(self, handler: Any) -> User | None:
        user = super().get_user(handler)
        if inspect.isawaitable(user):
            user = await user
        if user is None:
            return None
        name = handler.request.headers.get(USER_HEADER, "ana")
        return User(username=name, name=name, display_name=name)


def seed_review_db(path: Path) -> str:
    """A review database holding small_plan with its two ready drafts (e: p 0.45, a: p 0.9)."""
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        plan_id = import_plan(store, *small_plan(), project="sales", name="week 1", actor="lead")
        draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    return url


async def fetch_json(
    jp_fetch: Any, path: str, body: dict[str, Any] | None = None, user: str = "ana", **kwargs: Any
) -> Any:
    """`(status, JSON reply)` of a request to /coassist/`path`, signed in as `user`."""
    if body is not None:
        kwargs.update(method="POST", body=json.dumps(body))
    kwargs["headers"] = {USER_HEADER: user, **kwargs.get("headers", {})}
    response = await jp_fetch("coassist", path, **kwargs)
    return response.code, json.loads(response.body)


async def expect_error(
    jp_fetch: Any, path: str, code: int, body: dict[str, Any] | None = None, user: str = "ana", **kwargs: Any
) -> Any:
    with pytest.raises(HTTPClientError) as caught:
        await fetch_json(jp_fetch, path, body, user, **kwargs)
    assert caught.value.code == code
    return json.loads(caught.value.response.body) if caught.value.response.body else {}


REQUESTS = [
    ("reviews", None),
    ("plan", None),
    ("reviews", {"id": 1, "action": "approve", "reviewer": "ana"}),
    ("complete", {"prefix": "def add(a, b):\n", "suffix": ""}),
]


@pytest.mark.parametrize("path,body", REQUESTS)
@pytest.mark.parametrize("headers", [NO_TOKEN, WRONG_TOKEN], ids=["no-token", "wrong-token"])
async def test_requests_without_the_token_are_refused(
    jp_fetch: Any, path: str, body: Any, headers: Any
) -> None:
    await expect_error(jp_fetch, path, 403, body, headers=headers)


async def test_review_queue_lists_pending_drafts_least_confident_first(jp_fetch: Any) -> None:
    code, data = await fetch_json(jp_fetch, "reviews")
    assert code == 200
    assert [(r["subtask"], r["p_pass"], r["version"], r["reviewer"]) for r in data["reviews"]] == [
        ("e", 0.45, 1, "bo"),
        ("a", 0.9, 1, "ana"),
    ]
    assert data["reviews"][1]["text"] == "draft of Load sales"
    assert data["reviews"][1]["model"] == "scripted"
    _, mine = await fetch_json(jp_fetch, "reviews", params={"reviewer": "ana"})
    assert [r["subtask"] for r in mine["reviews"]] == ["a"]


async def test_approve_then_conflict_for_the_second_reviewer(jp_fetch: Any) -> None:
    _, queue = await fetch_json(jp_fetch, "reviews")
    draft = queue["reviews"][1]
    decision = {"id": draft["id"], "version": draft["version"], "action": "approve", "reviewer": "ana"}
    code, result = await fetch_json(jp_fetch, "reviews", decision)
    assert code == 200
    assert (result["subtask"], result["status"], result["version"], result["decided_by"]) == (
        "a",
        "approved",
        2,
        "ana",
    )
    conflict = await expect_error(jp_fetch, "reviews", 409, {**decision, "reviewer": "bo"}, user="bo")
    assert "already decided (approved) by 'ana'" in conflict["message"]
    assert conflict["current"] == {
        "id": draft["id"],
        "subtask": "a",
        "status": "approved",
        "decided_by": "ana",
    }
    _, after = await fetch_json(jp_fetch, "reviews")
    assert [r["subtask"] for r in after["reviews"]] == ["e"]


async def test_stale_version_is_a_conflict(jp_fetch: Any) -> None:
    _, queue = await fetch_json(jp_fetch, "reviews")
    draft = queue["reviews"][0]
    stale = {"id": draft["id"], "version": draft["version"] + 1, "action": "approve", "reviewer": "bo"}
    conflict = await expect_error(jp_fetch, "reviews", 409, stale)
    assert "reload it" in conflict["message"] and conflict["current"] is None


async def test_edit_and_reject_are_stored(jp_fetch: Any) -> None:
    _, queue = await fetch_json(jp_fetch, "reviews")
    e, a = queue["reviews"]
    _, edited = await fetch_json(
        jp_fetch, "reviews", {"id": e["id"], "action": "edit", "reviewer": "bo", "text": "42 rows"}, user="bo"
    )
    assert (edited["status"], edited["work_item_id"]) == ("edited", None)
    _, rejected = await fetch_json(
        jp_fetch, "reviews", {"id": a["id"], "action": "reject", "reviewer": "ana"}
    )
    assert rejected["status"] == "rejected" and isinstance(rejected["work_item_id"], int)
    _, after = await fetch_json(jp_fetch, "reviews")
    assert after["reviews"] == []


@pytest.mark.parametrize(
    "body,code,fragment",
    [
        ({"action": "approve", "reviewer": "ana"}, 400, "needs 'id'"),
        ({"id": 1, "action": "maybe", "reviewer": "ana"}, 400, "unknown decision"),
        ({"id": 1, "action": "edit", "reviewer": "ana"}, 400, "needs edited_text"),
        ({"id": 99, "action": "approve", "reviewer": "ana"}, 404, "no draft 99"),
    ],
)
async def test_bad_decisions_say_what_is_wrong(
    jp_fetch: Any, body: dict[str, Any], code: int, fragment: str
) -> None:
    error = await expect_error(jp_fetch, "reviews", code, body)
    assert fragment in error["message"]


async def test_plan_summary_is_the_newest_plan(jp_fetch: Any) -> None:
    code, plan = await fetch_json(jp_fetch, "plan")
    assert code == 200
    assert (plan["available"], plan["project"], plan["name"], plan["pending_drafts"]) == (
        True,
        "sales",
        "week 1",
        2,
    )
    assert plan["makespan_hours"] == pytest.approx(6.3)
    workers = {w["worker"]: w for w in plan["workers"]}
    assert workers["ana"]["kind"] == "human"
    assert workers["ana"]["hours"] == pytest.approx(0.5 + 5.0 + 0.5)
    assert workers["ana"]["subtasks"] == ["review a", "c", "review d"]
    assert workers["gpu"]["subtasks"] == ["a", "e", "b", "d"]
    assert "makespan 6.3 h, 2 drafts awaiting review" in plan["message"]


async def test_complete_answers_with_the_configured_model(jp_fetch: Any, tiny_model_dir: Path) -> None:
    code, reply = await fetch_json(jp_fetch, "complete", {"prefix": "def add(a, b):\n    ", "suffix": ""})
    assert code == 200
    assert reply["model"] == str(tiny_model_dir)
    assert reply["cancelled"] is False
    assert isinstance(reply["text"], str) and "```" not in reply["text"]


async def test_complete_rejects_a_prefix_that_is_not_text(jp_fetch: Any) -> None:
    error = await expect_error(jp_fetch, "complete", 400, {"prefix": 3})
    assert "'prefix'" in error["message"]


# --- who decides: the signed-in user, and what the server's Authorizer allows ------------------------


async def test_the_decision_is_recorded_under_the_signed_in_user(jp_fetch: Any, review_db: str) -> None:
    """A body `reviewer` naming someone else is ignored: the decision is the signed-in user's."""
    _, queue = await fetch_json(jp_fetch, "reviews")
    e, a = queue["reviews"]
    _, claimed = await fetch_json(
        jp_fetch, "reviews", {"id": a["id"], "action": "approve", "reviewer": "ana"}, user="mallory"
    )
    _, unnamed = await fetch_json(jp_fetch, "reviews", {"id": e["id"], "action": "reject"}, user="bo")
    assert (claimed["decided_by"], unnamed["decided_by"]) == ("mallory", "bo")
    with open_store(review_db) as store:
        assert [w.subtask for w in work_items(store, worker="bo")] == ["e"]
        decisions = [
            e for e in audit_trail(store, entity="draft") if e.action in ("draft.approved", "draft.rejected")
        ]
        assert [(e.actor, e.action) for e in decisions] == [
            ("mallory", "draft.approved"),
            ("bo", "draft.rejected"),
        ]


async def test_deciding_someone_elses_draft_is_allowed_and_audited(jp_fetch: Any, review_db: str) -> None:
    """e is bo's to review: ana may reject it (with a note), and the trail and reply say it was bo's."""
    _, queue = await fetch_json(jp_fetch, "reviews")
    e, a = queue["reviews"]
    _, rejected = await fetch_json(
        jp_fetch, "reviews", {"id": e["id"], "action": "reject", "note": "wrong table"}
    )
    _, approved = await fetch_json(jp_fetch, "reviews", {"id": a["id"], "action": "approve"})
    assert (rejected["decided_by"], rejected["assigned_to"]) == ("ana", "bo")
    assert (approved["decided_by"], approved["assigned_to"]) == ("ana", "ana")
    with open_store(review_db) as store:
        trail = audit_trail(store, entity="draft")
    # Whose review it was is in the decision's own audit entry (one transaction with it).
    others = [entry for entry in trail if "assigned_to" in entry.detail]
    assert [(o.actor, o.entity_id, o.detail["assigned_to"], o.action) for o in others] == [
        ("ana", e["id"], "bo", "draft.rejected")
    ]
    assert [entry.detail["note"] for entry in trail if entry.action == "draft.rejected"] == ["wrong table"]


class ReadOnlyAuthorizer(Authorizer):
    """Lets everyone read coassist, nobody write to it (a viewer account, say)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "coassist" and action == "write")


class TestReadOnlyUser:
    @pytest.fixture
    def jp_server_config(self, tiny_model_dir: Path, review_db: str) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"coassist": True},
                "identity_provider_class": HeaderIdentityProvider,
                "authorizer_class": ReadOnlyAuthorizer,
            },
            "CoassistServer": {
                "model": str(tiny_model_dir),
                "db_url": review_db,
                "completion_max_new_tokens": 8,
            },
        }

    async def test_a_user_who_may_not_write_cannot_decide_but_can_read(
        self, jp_fetch: Any, review_db: str
    ) -> None:
        with open_store(review_db) as store:
            before = review_queue(store), audit_trail(store)
        code, queue = await fetch_json(jp_fetch, "reviews")
        assert code == 200 and len(queue["reviews"]) == 2
        code, plan = await fetch_json(jp_fetch, "plan")
        assert code == 200 and plan["available"]
        draft = queue["reviews"][0]
        refused = await expect_error(
            jp_fetch, "reviews", 403, {"id": draft["id"], "version": draft["version"], "action": "approve"}
        )
        assert refused == {"message": "User is not authorized to write on resource: coassist."}
        with open_store(review_db) as store:
            assert (review_queue(store), audit_trail(store)) == before
