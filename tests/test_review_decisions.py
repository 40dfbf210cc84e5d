"""Reviews: decisions, conflicts (in one process and across two), the queue, rejected work."""

from __future__ import annotations

import dataclasses
import multiprocessing
from typing import Any, get_args

import pytest
from sqlalchemy import event

from coassist.errors import DraftAlreadyDecided, NotInStore, ReviewConflict
from coassist.review import (
    Decision,
    audit_trail,
    decide,
    draft_ai_subtasks,
    import_plan,
    open_store,
    review_queue,
    review_queue_frame,
    work_items,
)
from coassist.review.decisions import _assign_rework, _read_pending, _store_decision
from coassist.review.schema import DecisionName, DraftStatus, Review, WorkOrigin, WorkStatus, utcnow
from coassist.review.store import ReviewStore
from tests.postgres import SQLITE_ONLY
from tests.test_review_support import ScriptedModel, small_plan


@pytest.fixture
def drafted(db_url: str) -> tuple[ReviewStore, int, dict[str, int]]:
    """A store with small_plan imported and its ready subtasks (a, e) drafted; draft ids by subtask."""
    from coassist.review import DraftingConfig

    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan())
    draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    return store, plan_id, {item.subtask: item.draft_id for item in review_queue(store)}


def test_queue_lists_pending_drafts_least_confident_first(drafted: Any) -> None:
    store, plan_id, _ = drafted
    items = review_queue(store)
    assert [(i.subtask, i.p_pass, i.reviewer, i.version) for i in items] == [
        ("e", 0.45, "bo", 1),
        ("a", 0.9, "ana", 1),
    ]
    assert [i.subtask for i in review_queue(store, order_by="created")] == ["a", "e"]
    assert [i.subtask for i in review_queue(store, reviewer="ana")] == ["a"]
    assert [i.subtask for i in review_queue(store, skill="sql", plan_id=plan_id)] == ["e", "a"]
    assert review_queue(store, skill="writing") == []
    assert review_queue(store, plan_id=plan_id + 1) == []
    frame = review_queue_frame(store, reviewer="bo")
    assert frame[["subtask", "title", "text", "model_spec"]].values.tolist() == [
        ["e", "Count rows", "draft of Count rows", "scripted"]
    ]
    with pytest.raises(ValueError, match="order_by must be 'p_pass' or 'created', got 'random'"):
        review_queue(store, order_by="random")  # type: ignore[arg-type]


def test_approve_stores_the_decision_bumps_the_version_and_leaves_the_queue(drafted: Any) -> None:
    store, _, ids = drafted
    result = decide(store, ids["a"], "ana", Decision.APPROVE, note="fine")
    assert (result.subtask, result.decision, result.reviewer, result.version, result.work_item_id) == (
        "a",
        Decision.APPROVE,
        "ana",
        2,
        None,
    )
    assert [i.subtask for i in review_queue(store)] == ["e"]
    with store.engine.connect() as connection:
        draft = connection.exec_driver_sql(
            f"SELECT status, version, decided_by, final_text FROM drafts WHERE id = {ids['a']}"
        ).one()
        review = connection.exec_driver_sql("SELECT decision, edited_text, reviewer, note FROM reviews").all()
    assert tuple(draft) == ("approved", 2, "ana", "draft of Load sales")
    assert [tuple(r) for r in review] == [("approve", None, "ana", "fine")]
    (event,) = [
        e for e in audit_trail(store, entity="draft", entity_id=ids["a"]) if e.action == "draft.approved"
    ]
    assert (event.actor, event.detail) == ("ana", {"subtask": "a", "version": 2, "note": "fine"})


def test_edit_keeps_the_reviewers_text_as_final(drafted: Any) -> None:
    store, _, ids = drafted
    decide(store, ids["e"], "bo", "edit", edited_text="SELECT count(*) FROM sales")
    with store.engine.connect() as connection:
        row = connection.exec_driver_sql(
            f"SELECT status, final_text, text FROM drafts WHERE id = {ids['e']}"
        ).one()
    assert tuple(row) == ("edited", "SELECT count(*) FROM sales", "draft of Count rows")


def test_rejected_draft_becomes_the_reviewers_own_work(drafted: Any) -> None:
    store, plan_id, ids = drafted
    result = decide(store, ids["e"], "carla", "reject")  # not the assigned reviewer (bo): carla redoes it
    (item,) = work_items(store, worker="carla")
    assert (item.id, item.plan_id, item.subtask, item.origin, item.draft_id, item.status) == (
        result.work_item_id,
        plan_id,
        "e",
        "rejected_draft",
        ids["e"],
        "open",
    )
    assert work_items(store, worker="bo") == []
    actions = [(e.actor, e.action) for e in audit_trail(store) if e.actor == "carla"]
    assert actions == [("carla", "draft.rejected"), ("carla", "work.assigned")]


def test_second_decision_on_a_decided_draft_names_the_first_reviewer(drafted: Any) -> None:
    store, _, ids = drafted
    first = decide(store, ids["a"], "ana", "approve")
    with pytest.raises(DraftAlreadyDecided) as caught:
        decide(store, ids["a"], "bo", "reject")
    error = caught.value
    assert (error.decided_by, error.decision, error.subtask, error.decided_at) == (
        "ana",
        "approved",
        "a",
        first.decided_at,
    )
    assert "already decided (approved) by 'ana'" in str(error) and "was not stored" in str(error)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM reviews").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM work_items WHERE worker = 'bo'").scalar() == 0


def test_stale_expected_version_is_a_conflict(drafted: Any) -> None:
    store, _, ids = drafted
    with pytest.raises(ReviewConflict, match="is at version 1, not 0 as you read it; reload it"):
        decide(store, ids["a"], "ana", "approve", expected_version=0)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"reviewer": " ", "decision": "approve"}, "needs the reviewer's name"),
        (
            {"reviewer": "ana", "decision": "maybe"},
            r"unknown decision 'maybe'; use one of \['approve', 'edit', 'reject'\]",
        ),
        ({"reviewer": "ana", "decision": "edit"}, "needs edited_text"),
        ({"reviewer": "ana", "decision": "approve", "edited_text": "x"}, "only for decision='edit'"),
        (
            {"reviewer": "ana", "decision": "edit", "edited_text": "draft of Load sales"},
            "unchanged; approve it instead",
        ),
    ],
)
@SQLITE_ONLY
def test_malformed_decisions_are_refused(drafted: Any, kwargs: dict[str, Any], expected: str) -> None:
    store, _, ids = drafted
    with pytest.raises(ValueError, match=expected):
        decide(store, ids["a"], **kwargs)
    assert len(review_queue(store)) == 2


@SQLITE_ONLY
def test_unknown_draft_is_named(drafted: Any) -> None:
    store, _, _ = drafted
    with pytest.raises(NotInStore, match="no draft 999 in the review database"):
        decide(store, 999, "ana", "approve")


def _review_in_process(url: str, reviewer: str, decision: str, barrier: Any, results: Any) -> None:
    """One reviewer in their own process: read the queue, wait for the other, decide every draft."""
    store = open_store(url)
    seen = {item.draft_id: item.version for item in review_queue(store)}
    for draft_id, version in sorted(seen.items()):
        barrier.wait(timeout=30)
        try:
            decide(store, draft_id, reviewer, decision, expected_version=version)
            results.put((draft_id, reviewer, "stored", None))
        except ReviewConflict as error:
            results.put((draft_id, reviewer, str(error), getattr(error, "decided_by", None)))
    store.close()


def test_two_reviewers_in_two_processes_store_one_decision_and_one_conflict(drafted: Any) -> None:
    store, _, ids = drafted
    context = multiprocessing.get_context("forkserver")
    # Fresh processes forked from a server that imported coassist once (as in tests/test_races.py).
    context.set_forkserver_preload(["coassist.review", "tests.test_review_support", "psycopg"])
    barrier, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=_review_in_process, args=(store.url, name, decision, barrier, results))
        for name, decision in (("ana", "approve"), ("bo", "reject"))
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in range(2 * len(ids))]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    with store.engine.connect() as connection:
        stored = dict(connection.exec_driver_sql("SELECT draft_id, reviewer FROM reviews").all())
        status = dict(connection.exec_driver_sql("SELECT id, decided_by FROM drafts").all())
    assert sorted(stored) == sorted(ids.values())  # exactly one decision per draft
    for draft_id, winner in stored.items():
        per_draft = sorted((o for o in outcomes if o[0] == draft_id), key=lambda o: o[2] != "stored")
        (_, first, won, _), (_, second, message, named) = per_draft
        assert (first, won) == (winner, "stored") and second != winner
        assert named == winner and "already decided" in message and f"by {winner!r}" in message
        assert status[draft_id] == winner
    losers_work = [i for i in work_items(store, worker="bo") if i.origin == "rejected_draft"]
    assert sorted(i.draft_id for i in losers_work) == sorted(d for d, w in stored.items() if w == "bo")


def test_decision_landing_between_read_and_write_is_caught_by_the_version(drafted: Any) -> None:
    """The race window itself: ana decides (on her own connection) after bo's read, before bo's UPDATE."""
    store, _, ids = drafted
    other = open_store(store.url)

    raced: list[str] = []

    def ana_decides_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE drafts") and not raced:
            raced.append("ana")
            decide(other, ids["a"], "ana", "edit", edited_text="ana's version")

    event.listen(store.engine, "before_cursor_execute", ana_decides_first)
    with pytest.raises(DraftAlreadyDecided, match="already decided \\(edited\\) by 'ana'"):
        decide(store, ids["a"], "bo", "reject")
    event.remove(store.engine, "before_cursor_execute", ana_decides_first)
    assert raced == ["ana"]
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT reviewer FROM reviews").all() == [("ana",)]
        assert connection.exec_driver_sql(
            f"SELECT final_text, version FROM drafts WHERE id = {ids['a']}"
        ).one() == (
            "ana's version",
            2,
        )
    assert work_items(store, worker="bo") == []


# --- the steps of a decision, and its closed sets -------------------------------------------


def test_decisions_and_draft_statuses_are_one_closed_set_each() -> None:
    assert tuple(d.value for d in Decision) == get_args(DecisionName)
    assert get_args(DraftStatus) == ("pending", *(d.status for d in Decision))
    assert {"open", "done", "withdrawn"} == set(get_args(WorkStatus)) and "rejected_draft" in get_args(WorkOrigin)


def test_reading_a_pending_draft_gives_what_each_decision_would_store(drafted: Any) -> None:
    store, plan_id, ids = drafted
    finals = {
        decision: _read_pending(store, ids["a"], decision, text, None).final_text
        for decision, text in [(Decision.APPROVE, None), (Decision.EDIT, "better"), (Decision.REJECT, None)]
    }
    assert finals == {Decision.APPROVE: "draft of Load sales", Decision.EDIT: "better", Decision.REJECT: None}
    pending = _read_pending(store, ids["a"], Decision.APPROVE, None, 7)
    assert (pending.draft_id, pending.plan_id, pending.subtask, pending.version) == (
        ids["a"],
        plan_id,
        "a",
        7,
    )
    decide(store, ids["a"], "ana", "approve")
    with pytest.raises(DraftAlreadyDecided):
        _read_pending(store, ids["a"], Decision.APPROVE, None, None)


def test_a_decision_at_a_stale_version_stores_nothing(drafted: Any) -> None:
    store, _, ids = drafted
    stale = dataclasses.replace(_read_pending(store, ids["a"], Decision.REJECT, None, None), version=5)
    review = Review(draft_id=ids["a"], decision="reject", reviewer="bo", note="", decided_at=utcnow())
    with store.session() as session:
        assert _store_decision(session, stale, review) is False
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM reviews").scalar() == 0
        assert connection.exec_driver_sql(f"SELECT status FROM drafts WHERE id = {ids['a']}").scalar() == (
            "pending"
        )


def test_rework_of_a_rejected_draft_is_the_reviewers_open_work_item(drafted: Any) -> None:
    store, plan_id, ids = drafted
    rejected = _read_pending(store, ids["e"], Decision.REJECT, None, None)
    with store.session() as session:
        item_id = _assign_rework(session, rejected, "carla")
    (item,) = work_items(store, worker="carla")
    assert (item.id, item.plan_id, item.subtask, item.origin, item.draft_id, item.status) == (
        item_id,
        plan_id,
        "e",
        "rejected_draft",
        ids["e"],
        "open",
    )
    (event_,) = audit_trail(store, entity="work_item", entity_id=item_id)
    assert (event_.actor, event_.action, event_.detail) == (
        "carla",
        "work.assigned",
        {"worker": "carla", "origin": "rejected_draft", "draft": ids["e"]},
    )
