"""What a REST request may carry, checked in one place before anything is loaded or stored.

Each parser turns raw bytes (or query values) into a frozen request object or raises
`InvalidRequest` naming the field and saying what to send instead; the handlers answer that with
400 and `{"message": ...}`. Types are exact (JSON `true` is not a draft id, `3.9` is not 3), every
string is bounded, and a string that the database could not store (NUL, a lone surrogate) is
refused here rather than failing in the driver.

>>> parse_decision(b'{"id": 3, "action": "approve"}')
DecisionRequest(draft_id=3, action='approve', version=None, text=None, note='', reviewer=None, database=None)
>>> parse_decision(b'{"id": 3.9, "action": "approve"}')
Traceback (most recent call last):
...
coassist.errors.InvalidRequest: 'id' must be an integer draft id, got 3.9
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from coassist.errors import InvalidRequest
from coassist.server.contract import ACTIONS, Action, fields, required

MAX_ROW_ID = 2**63 - 1
"""Largest draft id or version: SQLite's INTEGER and PostgreSQL's BIGINT. A bigger number made the
driver overflow (a 500); no row can have it anyway."""

MAX_NAME_CHARS = 200
"""Reviewer names: the review schema stores people in String(200) columns (PostgreSQL enforces it)."""

MAX_NOTE_CHARS = 4_000
"""A note explains a decision in a sentence or two; anything longer belongs in the edited text."""

MAX_EDIT_CHARS = 200_000
"""An edited draft is a model answer (a few kB: drafts stop at max_new_tokens) corrected by hand.
200k characters leaves room for pasted code or tables while keeping a row, the SFT export built
from it and the sidebar that shows it a sane size."""

MAX_DECISION_BODY_BYTES = 2 * 1024 * 1024
"""A decision body, refused before parsing when bigger. The largest valid decision (an edit of
MAX_EDIT_CHARS non-ASCII characters, each escaped by JSON.stringify-style encoders as up to 6
bytes, plus a note) is about 1.3 MB, so this only refuses bodies no valid decision produces."""

MAX_CELL_CHARS = 1_000_000
"""Prefix or suffix of an inline completion: the labextension sends the whole cell, of which the
server keeps only `completion_context_chars`. A million characters is data pasted into a cell,
not code being typed."""

MAX_COMPLETION_BODY_BYTES = 4 * 1024 * 1024
"""A completion body: two cells' worth at MAX_CELL_CHARS, mostly ASCII code, with JSON escapes."""

MAX_PATH_CHARS = 4096
"""A notebook path (PATH_MAX on Linux); the server does not use it beyond logging. Also the
longest database URL a decision may name (an SQLite URL is a path behind ``sqlite:///``)."""

DECISION_FIELDS = fields("ReviewDecision")
COMPLETION_FIELDS = fields("CompletionRequest")


@dataclass(frozen=True)
class DecisionRequest:
    """POST /coassist/reviews, checked. `reviewer` is the name the body gave (or None); the
    handler uses it only where it cannot tell who is signed in. `database` is the URL the draft
    was listed from (None: not said)."""

    draft_id: int
    action: Action
    version: int | None
    text: str | None
    note: str
    reviewer: str | None
    database: str | None


@dataclass(frozen=True)
class CompletionRequest:
    """POST /coassist/complete, checked."""

    prefix: str
    suffix: str
    path: str


def parse_decision(raw: bytes) -> DecisionRequest:
    """A reviewer's decision from a request body, or `InvalidRequest` saying what to fix."""
    body = json_object(raw, MAX_DECISION_BODY_BYTES, DECISION_FIELDS)
    missing = [name for name in required("ReviewDecision") if name not in body]
    if missing:
        raise InvalidRequest(
            "a decision needs 'id' (the draft's integer id) and 'action' (approve, edit or reject); "
            f"missing {_names(missing)}",
            missing[0],
        )
    action = body["action"]
    if not isinstance(action, str) or action not in ACTIONS:
        shown = repr(action[:60]) if isinstance(action, str) else _shown(action)
        raise InvalidRequest(
            f"unknown decision {shown}: 'action' must be one of {', '.join(ACTIONS)}", "action"
        )
    text = optional_text(body, "text", MAX_EDIT_CHARS)
    if text is not None and action != "edit":
        raise InvalidRequest(
            f"'text' is only sent with action 'edit' (the corrected draft); leave it out for {action!r}",
            "text",
        )
    version = body.get("version")
    return DecisionRequest(
        draft_id=row_id(body["id"], "id", "an integer draft id"),
        action=action,
        version=None
        if "version" not in body
        else row_id(version, "version", "an integer (the draft's version as read)"),
        text=text,
        note=optional_text(body, "note", MAX_NOTE_CHARS) or "",
        reviewer=optional_text(body, "reviewer", MAX_NAME_CHARS),
        database=optional_text(body, "database", MAX_PATH_CHARS),
    )


def parse_completion(raw: bytes) -> CompletionRequest:
    """An inline-completion request from a request body, or `InvalidRequest` saying what to fix."""
    body = json_object(raw, MAX_COMPLETION_BODY_BYTES, COMPLETION_FIELDS)
    prefix = optional_text(body, "prefix", MAX_CELL_CHARS)
    if prefix is None:
        raise InvalidRequest("a completion needs 'prefix', the cell's text before the cursor", "prefix")
    return CompletionRequest(
        prefix=prefix,
        suffix=optional_text(body, "suffix", MAX_CELL_CHARS) or "",
        path=optional_text(body, "path", MAX_PATH_CHARS) or "",
    )


def json_object(raw: bytes, max_bytes: int, fields: tuple[str, ...]) -> dict[str, Any]:
    """The body as a JSON object with only the named `fields`, at most `max_bytes` long."""
    if len(raw) > max_bytes:
        raise InvalidRequest(f"the request body is {len(raw)} bytes; at most {max_bytes} are accepted")
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(
            "the request body is not UTF-8 text; send a JSON object encoded as UTF-8"
        ) from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidRequest("the request body is not valid JSON: it is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, NaN, and integers too long to convert
        raise InvalidRequest(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not a JSON {_json_type(body)}")
    unknown = [name for name in body if name not in fields]
    if unknown:
        raise InvalidRequest(
            f"unknown field {_names(unknown)}; this request takes {', '.join(fields)}", unknown[0]
        )
    return body


def row_id(value: Any, field: str, what: str) -> int:
    """A database row number (draft id, version): a JSON integer in 1..MAX_ROW_ID, never a bool or float."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{field!r} must be {what}, got {_shown(value)}", field)
    if not 1 <= value <= MAX_ROW_ID:
        raise InvalidRequest(
            f"{field!r} must be {what} between 1 and {MAX_ROW_ID}, got {_shown(value)}", field
        )
    return value


def optional_text(body: dict[str, Any], field: str, max_chars: int) -> str | None:
    """`body[field]` as a storable string of at most `max_chars`, or None when the field is absent."""
    if field not in body:
        return None
    return text_value(body[field], field, max_chars)


def text_value(value: Any, field: str, max_chars: int) -> str:
    """A string the database can store: bounded, without NUL, valid Unicode (JSON allows a lone
    surrogate such as "\\ud800", which no UTF-8 column can hold)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field!r} must be a string, got {_shown(value)}", field)
    if len(value) > max_chars:
        raise InvalidRequest(f"{field!r} is {len(value)} characters; at most {max_chars} are accepted", field)
    if "\x00" in value:
        raise InvalidRequest(f"{field!r} contains a NUL character, which cannot be stored", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{field!r} is not valid Unicode text (it holds a lone surrogate)", field
        ) from None
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _shown(value: Any) -> str:
    """A refused value as the client wrote it (JSON), or its type and size when it is long."""
    if isinstance(value, str) and len(value) > 60:
        return f"a string of {len(value)} characters"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else f"a JSON {_json_type(value)} of {len(text)} characters"


def _names(names: list[str]) -> str:
    return ", ".join(repr(name[:60]) for name in names[:5]) + (" ..." if len(names) > 5 else "")


def parse_queue_query(status: str, reviewer: str | None) -> str | None:
    """GET /coassist/reviews' query: only pending drafts are listed; `reviewer` (a filter on who the
    plan assigned) is bounded like any name. Returns the reviewer filter."""
    if status != "pending":
        raise InvalidRequest(f"only status=pending is listed, not {status[:60]!r}", "status")
    return None if reviewer is None else text_value(reviewer, "reviewer", MAX_NAME_CHARS)


def parse_plan_query(plan: str | None) -> int | None:
    """GET /coassist/team's ``plan``: a plan id (decimal digits), or None for the newest plan.

    >>> parse_plan_query("3"), parse_plan_query(None)
    (3, None)
    """
    if plan is None:
        return None
    if not (plan.isascii() and plan.isdigit()):
        raise InvalidRequest(f"'plan' must be a plan id (a whole number), got {_shown(plan)}", "plan")
    return row_id(int(plan), "plan", "a plan id")


def parse_kernel_query(kernel: str | None) -> str | None:
    """The ``kernel`` query of every request: the id of the notebook kernel whose sidebar asks
    (Jupyter's kernel ids are UUIDs), or None when no notebook is current.

    >>> parse_kernel_query("0b6e3c4e-5d1f-4c55-9a38-1f0e8c1b2a77")
    '0b6e3c4e-5d1f-4c55-9a38-1f0e8c1b2a77'
    >>> parse_kernel_query("../../etc/passwd")
    Traceback (most recent call last):
    ...
    coassist.errors.InvalidRequest: 'kernel' must be a kernel id (a UUID such as 0b6e3c4e-5d1f-4c55-9a38-1f0e8c1b2a77), got "../../etc/passwd"
    """
    if kernel is None:
        return None
    try:
        canonical = str(uuid.UUID(kernel))
    except ValueError:
        canonical = None
    if canonical != kernel:
        raise InvalidRequest(
            "'kernel' must be a kernel id (a UUID such as 0b6e3c4e-5d1f-4c55-9a38-1f0e8c1b2a77), "
            f"got {_shown(kernel)}",
            "kernel",
        )
    return kernel
