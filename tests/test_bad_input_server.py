"""Issue 8, REST layer: whatever a request carries, the server answers with a JSON message and the
right status, stores nothing it refused, and hands names and model output back as data, not markup.

Every refused decision is checked against the review database read back through
`coassist.review` (queue, audit trail, work items) before and after the request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
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
from coassist.server.requests import (
    MAX_COMPLETION_BODY_BYTES,
    MAX_DECISION_BODY_BYTES,
    MAX_EDIT_CHARS,
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
)
from tests.test_review_support import ScriptedModel, small_plan
from tests.test_server_handlers import USER_HEADER

pytest_plugins = ["pytest_jupyter.jupyter_server"]

MB = 1_000_000
LABEXTENSION_SRC = Path(__file__).resolve().parents[1] / "labextension" / "src"



def snapshot(url: str) -> tuple[Any, ...]:
    """Everything a decision could change, read through the review layer's public functions."""
    with open_store(url) as store:
        return review_queue(store), audit_trail(store), work_items(store, status="all")


async def send(
    jp_fetch: Any, path: str, body: bytes | None = None, method: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    """`(status, headers, raw body)` of a request signed in as ana, errors included."""
    kwargs["headers"] = {USER_HEADER: "ana", **kwargs.get("headers", {})}
    if body is not None:
        kwargs.update(body=body)
    try:
        response = await jp_fetch(
            "coassist", path, method=method or ("POST" if body is not None else "GET"), **kwargs
        )
    except HTTPClientError as error:
        assert error.response is not None
        response = error.response
    return response.code, dict(response.headers), response.body


def assert_json_error(code: int, headers: dict[str, str], raw: bytes, fragments: tuple[str, ...]) -> str:
    """The error reply is `{"message": ...}` JSON naming what to fix, and no traceback."""
    assert headers["Content-Type"].startswith("application/json"), headers["Content-Type"]
    reply = json.loads(raw)
    message = reply["message"]
    assert isinstance(message, str) and message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "Traceback" not in raw.decode() and "traceback" not in reply
    return message


# --- POST /coassist/reviews: what a decision body may hold -------------------------------------------

DELETE = object()  # drop this field from the valid decision


def decision(draft_id: int, **changes: Any) -> bytes:
    body: dict[str, Any] = {"id": draft_id, "version": 1, "action": "approve"}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not DELETE}).encode()


# (id, changes to a valid approve of draft "a", status, fragments of the message)
BAD_FIELDS = [
    ("id-missing", {"id": DELETE}, 400, ("needs 'id'",)),
    ("id-string", {"id": "1"}, 400, ("'id' must be an integer draft id", '"1"')),
    ("id-float", {"id": 3.9}, 400, ("'id' must be an integer draft id, got 3.9",)),
    ("id-float-integral", {"id": 1.0}, 400, ("'id' must be an integer draft id, got 1.0",)),
    ("id-true", {"id": True}, 400, ("'id' must be an integer draft id, got true",)),
    ("id-null", {"id": None}, 400, ("'id' must be an integer draft id, got null",)),
    ("id-list", {"id": [1]}, 400, ("'id' must be an integer draft id", "[1]")),
    ("id-huge", {"id": 10**30}, 400, ("'id'", "between 1 and 9223372036854775807")),
    ("id-zero", {"id": 0}, 400, ("'id'", "between 1 and")),
    ("id-negative", {"id": -2}, 400, ("'id'", "got -2")),
    ("id-unknown-draft", {"id": 99}, 404, ("no draft 99",)),
    ("version-list", {"version": [1]}, 400, ("'version' must be an integer", "[1]")),
    ("version-string", {"version": "1"}, 400, ("'version' must be an integer",)),
    ("version-float", {"version": 1.5}, 400, ("'version'", "got 1.5")),
    ("version-true", {"version": True}, 400, ("'version'", "got true")),
    ("version-null", {"version": None}, 400, ("'version'", "got null")),
    ("version-huge", {"version": 10**30}, 400, ("'version'", "between 1 and")),
    ("version-zero", {"version": 0}, 400, ("'version'", "between 1 and")),
    ("action-missing", {"action": DELETE}, 400, ("needs", "'action'")),
    ("action-unknown", {"action": "maybe"}, 400, ("unknown decision 'maybe'", "approve, edit, reject")),
    ("action-uppercase", {"action": "APPROVE"}, 400, ("unknown decision 'APPROVE'",)),
    ("action-number", {"action": 1}, 400, ("unknown decision 1",)),
    ("action-null", {"action": None}, 400, ("unknown decision null",)),
    ("text-number", {"action": "edit", "text": 123}, 400, ("'text' must be a string", "got 123")),
    ("text-object", {"action": "edit", "text": {"a": 1}}, 400, ("'text' must be a string",)),
    ("text-missing-for-edit", {"action": "edit"}, 400, ("needs edited_text",)),
    ("text-blank-for-edit", {"action": "edit", "text": "  \n"}, 400, ("needs edited_text",)),
    ("text-with-approve", {"text": "changed"}, 400, ("'text'", "only", "edit")),
    ("text-unchanged", {"action": "edit", "text": "draft of Load sales"}, 400, ("unchanged", "approve it")),
    (
        "text-over-cap",
        {"action": "edit", "text": "x" * (MAX_EDIT_CHARS + 1)},
        400,
        ("'text'", f"{MAX_EDIT_CHARS}"),
    ),
    ("text-lone-surrogate", {"action": "edit", "text": "fixed \ud800"}, 400, ("'text'", "Unicode")),
    ("text-nul", {"action": "edit", "text": "fixed\x00"}, 400, ("'text'", "NUL")),
    ("note-number", {"note": 5}, 400, ("'note' must be a string", "got 5")),
    ("note-null", {"note": None}, 400, ("'note' must be a string", "got null")),
    ("note-over-cap", {"note": "n" * (MAX_NOTE_CHARS + 1)}, 400, ("'note'", f"{MAX_NOTE_CHARS}")),
    ("note-1mb", {"note": "n" * MB}, 400, ("'note'", "1000000 characters")),
    ("reviewer-null", {"reviewer": None}, 400, ("'reviewer' must be a string", "got null")),
    ("reviewer-number", {"reviewer": 7}, 400, ("'reviewer' must be a string",)),
    ("reviewer-list", {"reviewer": ["ana"]}, 400, ("'reviewer' must be a string",)),
    ("reviewer-over-cap", {"reviewer": "a" * (MAX_NAME_CHARS + 1)}, 400, ("'reviewer'", f"{MAX_NAME_CHARS}")),
    ("reviewer-1mb", {"reviewer": "a" * MB}, 400, ("'reviewer'", "1000000 characters")),
    ("unknown-field", {"decision": "approve"}, 400, ("unknown field 'decision'",)),
]


@pytest.mark.parametrize(
    "changes,code,fragments", [pytest.param(*case[1:], id=case[0]) for case in BAD_FIELDS]
)
async def test_a_bad_decision_field_is_refused_and_nothing_is_stored(
    jp_fetch: Any, review_db: str, changes: dict[str, Any], code: int, fragments: tuple[str, ...]
) -> None:
    before = snapshot(review_db)
    draft_a = next(item.draft_id for item in before[0] if item.subtask == "a")
    status, headers, raw = await send(jp_fetch, "reviews", decision(draft_a, **changes))
    assert status == code, raw
    assert_json_error(status, headers, raw, fragments)
    assert snapshot(review_db) == before


# Bodies that are not a decision at all: (id, raw body, fragments)
BAD_BODIES = [
    ("not-json", b'{"id": 1,', ("not valid JSON",)),
    ("json-array", b"[1, 2]", ("must be a JSON object", "array")),
    ("json-string", b'"approve"', ("must be a JSON object", "string")),
    ("json-null", b"null", ("must be a JSON object", "null")),
    ("empty", b"", ("empty",)),
    ("not-utf8", b'{"id": 1, "note": "\xff\xfe"}', ("UTF-8",)),
    ("nan", b'{"id": NaN, "action": "approve"}', ("not valid JSON", "NaN")),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000, ("not valid JSON",)),
    ("int-with-5000-digits", b'{"id": ' + b"9" * 5000 + b', "action": "approve"}', ("not valid JSON",)),
    (
        "edit-of-5mb",
        json.dumps({"id": 1, "action": "edit", "text": "y" * (5 * MB)}).encode(),
        ("bytes", "at most"),
    ),
    ("body-over-cap", b" " * (MAX_DECISION_BODY_BYTES + 1), ("bytes", f"at most {MAX_DECISION_BODY_BYTES}")),
]


@pytest.mark.parametrize("raw_body,fragments", [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES])
async def test_a_body_that_is_not_a_decision_is_refused(
    jp_fetch: Any, review_db: str, raw_body: bytes, fragments: tuple[str, ...]
) -> None:
    before = snapshot(review_db)
    status, headers, raw = await send(jp_fetch, "reviews", raw_body)
    assert status == 400, raw
    assert_json_error(status, headers, raw, fragments)
    assert snapshot(review_db) == before


async def test_the_largest_accepted_fields_are_stored(jp_fetch: Any, review_db: str) -> None:
    """The caps refuse only what is over them: an edit and a note at the limit go through."""
    draft_e = next(item for item in snapshot(review_db)[0] if item.subtask == "e")
    body = decision(
        draft_e.draft_id, action="edit", text="é" * MAX_EDIT_CHARS, note="n" * MAX_NOTE_CHARS, reviewer="ana"
    )
    status, _headers, raw = await send(jp_fetch, "reviews", body)
    assert status == 200, raw[:300]
    assert json.loads(raw)["status"] == "edited"
    assert draft_e.draft_id not in [item.draft_id for item in snapshot(review_db)[0]]


# --- GET /coassist/reviews, POST /coassist/complete, other methods ------------------------------------

BAD_QUERIES = [
    ("status-decided", {"status": "approved"}, ("only status=pending",)),
    ("reviewer-over-cap", {"reviewer": "r" * (MAX_NAME_CHARS + 1)}, ("'reviewer'", f"{MAX_NAME_CHARS}")),
    ("status-empty", {"status": ""}, ("only status=pending",)),
]


@pytest.mark.parametrize("params,fragments", [pytest.param(*case[1:], id=case[0]) for case in BAD_QUERIES])
async def test_a_bad_queue_query_is_refused(
    jp_fetch: Any, params: dict[str, str], fragments: tuple[str, ...]
) -> None:
    status, headers, raw = await send(jp_fetch, "reviews", params=params)
    assert status == 400, raw
    assert_json_error(status, headers, raw, fragments)


BAD_COMPLETIONS = [
    ("prefix-missing", {"suffix": ""}, ("'prefix'",)),
    ("prefix-number", {"prefix": 3}, ("'prefix' must be a string", "got 3")),
    ("prefix-null", {"prefix": None}, ("'prefix' must be a string", "got null")),
    ("suffix-list", {"prefix": "x", "suffix": ["y"]}, ("'suffix' must be a string",)),
    ("path-number", {"prefix": "x", "path": 1}, ("'path' must be a string",)),
    ("path-over-cap", {"prefix": "x", "path": "p" * 5000}, ("'path'", "4096")),
    ("prefix-nul", {"prefix": "x\x00"}, ("'prefix'", "NUL")),
    ("unknown-field", {"prefix": "x", "model": "other"}, ("unknown field 'model'",)),
    ("not-an-object", ["x"], ("must be a JSON object",)),
    ("cell-over-cap", {"prefix": "x" * MAX_COMPLETION_BODY_BYTES}, ("bytes", "at most")),
]


@pytest.mark.parametrize("body,fragments", [pytest.param(*case[1:], id=case[0]) for case in BAD_COMPLETIONS])
async def test_a_bad_completion_request_is_refused(
    jp_fetch: Any, body: Any, fragments: tuple[str, ...]
) -> None:
    status, headers, raw = await send(jp_fetch, "complete", json.dumps(body).encode())
    assert status == 400, raw
    assert_json_error(status, headers, raw, fragments)


@pytest.mark.parametrize(
    "path,method",
    [("reviews", "DELETE"), ("plan", "POST"), ("complete", "GET")],
    ids=["delete", "post-plan", "get-complete"],
)
async def test_an_unsupported_method_is_a_json_405(
    jp_fetch: Any, review_db: str, path: str, method: str
) -> None:
    before = snapshot(review_db)
    body = b"{}" if method == "POST" else None
    status, headers, raw = await send(jp_fetch, path, body, method=method)
    assert status == 405
    assert_json_error(status, headers, raw, ("Method Not Allowed",))
    assert snapshot(review_db) == before


async def test_an_unexpected_failure_is_a_json_500_without_a_traceback(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    def broken(_work: Any) -> Any:
        raise RuntimeError("secret internals /home/ana/.ssh")

    jp_serverapp.web_app.settings["coassist_store"].run_sync = broken  # the next store call fails
    status, headers, raw = await send(jp_fetch, "plan")
    assert status == 500
    message = assert_json_error(status, headers, raw, ("server log",))
    assert "secret" not in message and ".ssh" not in raw.decode()


# --- names, notes and model output are data, never markup --------------------------------------------

MARKUP = "<img src=x onerror=alert(1)>"


@pytest.fixture
def hostile_db(tmp_path: Path) -> str:
    """A plan whose project, plan name, subtask title and worker are HTML, drafted by the AI."""
    subtasks, workers, plan = small_plan()
    subtasks.loc[subtasks["id"] == "a", "title"] = MARKUP
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    with open_store(url) as store:
        plan_id = import_plan(
            store, subtasks, workers, plan, project="<b>sales</b>", name="<script>x</script>"
        )
        draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    return url


@pytest.mark.parametrize("path", ["plan", "reviews"])
async def test_markup_comes_back_as_escaped_json_text(
    jp_fetch: Any, jp_serverapp: Any, hostile_db: str, path: str
) -> None:
    from coassist.server.store_access import StoreAccess

    jp_serverapp.web_app.settings["coassist_store"] = StoreAccess(lambda: open_store(hostile_db))
    status, headers, raw = await send(jp_fetch, path)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    # Not one raw angle bracket: even a client or proxy that sniffs the body as HTML renders nothing.
    assert b"<" not in raw and b">" not in raw
    reply = json.loads(raw)
    if path == "plan":
        assert (reply["project"], reply["name"]) == ("<b>sales</b>", "<script>x</script>")
        assert "<b>sales</b> / <script>x</script>" in reply["message"]
    else:
        card = next(r for r in reply["reviews"] if r["subtask"] == "a")
        assert (card["title"], card["text"]) == (MARKUP, f"draft of {MARKUP}")


HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|dangerouslySetInnerHTML|"
    r"createContextualFragment|DOMParser|\beval\(|new Function\("
)


@pytest.mark.parametrize(
    "source", sorted(LABEXTENSION_SRC.rglob("*.ts")), ids=lambda p: str(p.relative_to(LABEXTENSION_SRC))
)
def test_the_labextension_writes_server_text_as_text(source: Path) -> None:
    """The sidebar and the completer put names, notes and model output in the DOM with
    `textContent` / `value` (and ghost text as CodeMirror text): no HTML parsing sink anywhere."""
    found = [
        f"{source.name}:{number}: {line.strip()}"
        for number, line in enumerate(source.read_text().splitlines(), 1)
        if HTML_SINKS.search(line)
    ]
    assert found == []
