"""Bad input to the review loop: each refusal is a CoassistError that says the fix, and changes no row.

Every case runs against a store holding a drafted plan (drafts of a and e pending) and ana's open
work item; the whole database is compared before and after the refused call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coassist.errors import (
    CoassistError,
    DraftAlreadyDecided,
    InvalidOption,
    InvalidReviewInput,
    NotInStore,
    ReviewConflict,
    SchemaTooNew,
    WorkAlreadySubmitted,
)
from coassist.review import DraftingConfig, decide, draft_ai_subtasks, import_plan, open_store, submit_work
from coassist.review.schema import SCHEMA_VERSION
from coassist.review.store import ReviewStore
from tests.test_review_support import ScriptedModel, small_plan


@dataclass
class Loop:
    """The store and the ids a case needs: drafts by subtask, ana's work item, the plan."""

    store: ReviewStore
    db: Path
    drafts: dict[str, int]
    item: int
    plan_id: int


@pytest.fixture
def loop(tmp_path: Path) -> Loop:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    plan_id = import_plan(store, *small_plan())
    draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    with sqlite3.connect(db) as connection:
        drafts = dict(
            connection.execute("SELECT s.key, d.id FROM drafts d JOIN subtasks s ON s.id = d.subtask_id")
        )
        (item,) = connection.execute("SELECT id FROM work_items WHERE worker = 'ana'").fetchone()
    return Loop(store, db, drafts, item, plan_id)


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    with sqlite3.connect(db) as connection:
        tables = [
            name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {t: sorted(connection.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def _decide(**kwargs: Any) -> Callable[[Loop], Any]:
    def call(loop: Loop) -> Any:
        arguments = {"draft_id": loop.drafts["a"], "reviewer": "ana", "decision": "approve", **kwargs}
        return decide(loop.store, **arguments)

    return call


def _submit(**kwargs: Any) -> Callable[[Loop], Any]:
    def call(loop: Loop) -> Any:
        return submit_work(loop.store, **{"item_id": loop.item, "output": "the result", **kwargs})

    return call


def _nothing(loop: Loop) -> None:
    return None


CASES = [
    # decide: what a reviewer can get wrong
    pytest.param(
        _decide(decision="maybe"),
        InvalidReviewInput,
        ["unknown decision 'maybe'", "approve", "reject"],
        id="decision-unknown",
    ),
    pytest.param(
        _decide(decision=""), InvalidReviewInput, ["unknown decision ''", "use one of"], id="decision-empty"
    ),
    pytest.param(
        _decide(decision=None),
        InvalidReviewInput,
        ["unknown decision None", "use one of"],
        id="decision-none",
    ),
    pytest.param(
        _decide(decision="APPROVE"),
        InvalidReviewInput,
        ["unknown decision 'APPROVE'"],
        id="decision-wrong-case",
    ),
    pytest.param(
        _decide(reviewer=""),
        InvalidReviewInput,
        ["reviewer's name", "reviewer='your name'"],
        id="reviewer-empty",
    ),
    pytest.param(_decide(reviewer="   "), InvalidReviewInput, ["reviewer's name"], id="reviewer-blank"),
    pytest.param(_decide(reviewer=None), InvalidReviewInput, ["reviewer's name"], id="reviewer-none"),
    pytest.param(
        _decide(decision="edit"),
        InvalidReviewInput,
        ["needs edited_text", "corrected result"],
        id="edit-without-text",
    ),
    pytest.param(
        _decide(decision="edit", edited_text=" \n"),
        InvalidReviewInput,
        ["needs edited_text", "not blank"],
        id="edit-blank-text",
    ),
    pytest.param(
        _decide(decision="edit", edited_text=42),
        InvalidReviewInput,
        ["edited_text must be text", "int"],
        id="edit-text-not-str",
    ),
    pytest.param(
        _decide(edited_text="x"),
        InvalidReviewInput,
        ["only for decision='edit'", "leave it out"],
        id="approve-with-text",
    ),
    pytest.param(
        _decide(decision="reject", edited_text=""),
        InvalidReviewInput,
        ["only for decision='edit'"],
        id="reject-with-text",
    ),
    pytest.param(
        _decide(decision="edit", edited_text="draft of Load sales"),
        InvalidReviewInput,
        ["unchanged", "approve it instead"],
        id="edit-unchanged",
    ),
    pytest.param(
        _decide(draft_id="1"),
        InvalidReviewInput,
        ["draft_id must be an integer", "review_queue"],
        id="draft-id-str",
    ),
    pytest.param(
        _decide(draft_id=True), InvalidReviewInput, ["draft_id must be an integer"], id="draft-id-bool"
    ),
    pytest.param(
        _decide(draft_id=999), NotInStore, ["no draft 999", "review_queue(store)"], id="draft-missing"
    ),
    pytest.param(
        _decide(expected_version="1"),
        InvalidReviewInput,
        ["expected_version must be", "QueueItem.version"],
        id="version-str",
    ),
    pytest.param(
        _decide(expected_version=7), ReviewConflict, ["at version 1, not 7", "reload it"], id="version-stale"
    ),
    pytest.param(_decide(note=None), InvalidReviewInput, ["note must be text"], id="note-none"),
    # submit_work
    pytest.param(_submit(output=""), InvalidReviewInput, ["is empty", "result as text"], id="output-empty"),
    pytest.param(_submit(output="  \n\t"), InvalidReviewInput, ["is empty"], id="output-blank"),
    pytest.param(_submit(output=None), InvalidReviewInput, ["NoneType", "result as text"], id="output-none"),
    pytest.param(
        _submit(output=b"bytes"), InvalidReviewInput, ["bytes", "result as text"], id="output-bytes"
    ),
    pytest.param(
        _submit(item_id="1"),
        InvalidReviewInput,
        ["work item id must be an integer", "work_items"],
        id="item-id-str",
    ),
    pytest.param(
        _submit(item_id=999),
        NotInStore,
        ["no work item 999", "work_items(store, worker=...)"],
        id="item-missing",
    ),
]


@pytest.mark.parametrize(("call", "error", "words"), CASES)
def test_refused_and_nothing_changed(
    loop: Loop, call: Callable[[Loop], Any], error: type, words: list[str]
) -> None:
    before = snapshot(loop.db)
    with pytest.raises(error) as raised:
        call(loop)
    assert isinstance(raised.value, CoassistError)
    for word in words:
        assert word in str(raised.value)
    assert snapshot(loop.db) == before


def test_user_errors_are_also_value_errors(loop: Loop) -> None:
    """Callers (the REST handler) that catch ValueError for a 400 keep working."""
    with pytest.raises(ValueError):
        _decide(decision="maybe")(loop)
    with pytest.raises(ValueError):
        _submit(output="")(loop)


WRONG_STATE = [
    pytest.param(
        lambda loop: decide(loop.store, loop.drafts["a"], "ana", "approve"),
        lambda loop: decide(loop.store, loop.drafts["a"], "bo", "reject"),
        DraftAlreadyDecided,
        ["already decided (approved) by 'ana'", "was not stored", "Reload the review queue"],
        id="decide-decided-draft",
    ),
    pytest.param(
        lambda loop: submit_work(loop.store, loop.item, "first", actor="ana"),
        lambda loop: submit_work(loop.store, loop.item, "second", actor="bo"),
        WorkAlreadySubmitted,
        ["work item 1 (subtask 'c') was already submitted by 'ana'", "your output was not stored"],
        id="submit-done-item",
    ),
    pytest.param(
        lambda loop: submit_work(loop.store, loop.item, "first", actor="ana"),
        lambda loop: submit_work(loop.store, loop.item, "first", actor="ana"),
        WorkAlreadySubmitted,
        ["already submitted by 'ana'"],
        id="submit-twice-same-person",
    ),
]


@pytest.mark.parametrize(("first", "second", "error", "words"), WRONG_STATE)
def test_a_second_write_in_the_wrong_state_is_refused(
    loop: Loop, first: Callable[[Loop], Any], second: Callable[[Loop], Any], error: type, words: list[str]
) -> None:
    first(loop)
    before = snapshot(loop.db)
    with pytest.raises(error) as raised:
        second(loop)
    assert isinstance(raised.value, ReviewConflict)
    for word in words:
        assert word in str(raised.value)
    assert snapshot(loop.db) == before


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        pytest.param({"claim_seconds": 0}, ["claim_seconds: must be a positive number"], id="claim-zero"),
        pytest.param({"claim_seconds": float("nan")}, ["claim_seconds", "nan"], id="claim-nan"),
        pytest.param({"claim_seconds": float("inf")}, ["claim_seconds", "inf"], id="claim-inf"),
        pytest.param({"batch_size": 0}, ["batch_size: must be at least 1"], id="batch-zero"),
        pytest.param({"dependency_chars": -1}, ["dependency_chars: must be 0 or more"], id="dependency-chars"),
    ],
)
def test_drafting_config_is_checked_when_built(settings: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ValueError) as raised:
        DraftingConfig(**settings)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize(
    ("settings", "option"),
    [
        pytest.param({"batch_size": 0}, "batch_size", id="batch-size"),
        pytest.param({"dependency_chars": -5}, "dependency_chars", id="dependency-chars"),
        pytest.param({"claim_seconds": -1}, "claim_seconds", id="claim-seconds"),
    ],
)
def test_drafting_config_errors_are_invalid_options_naming_the_field(
    settings: dict[str, Any], option: str
) -> None:
    with pytest.raises(InvalidOption) as raised:
        DraftingConfig(**settings)
    assert isinstance(raised.value, CoassistError) and raised.value.option == option
    assert str(raised.value).startswith(f"{option}: must be ")


def test_drafting_an_unknown_plan_names_the_known_ones(loop: Loop) -> None:
    before = snapshot(loop.db)
    with pytest.raises(NotInStore, match=r"no plan 99 .* Known plans: \[1\]"):
        draft_ai_subtasks(loop.store, 99, ScriptedModel(), DraftingConfig(progress=False))
    assert snapshot(loop.db) == before


def test_a_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    open_store(str(db)).close()
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE coassist_schema SET version = ?", (SCHEMA_VERSION + 5,))
    before = snapshot(db)
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 5}.*Upgrade coassist"):
        open_store(str(db))
    assert snapshot(db) == before
