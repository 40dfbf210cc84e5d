"""The review-queue widget on a real (temporary) review store, clicked without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coassist.notebook.widgets import ReviewQueueWidget
from coassist.notebook.widgets.review_queue import MAX_DRAFT_ROWS, draft_rows
from coassist.review import ReviewStore, audit_trail, open_store, review_queue, work_items
from tests.test_server_handlers import seed_review_db


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    with open_store(seed_review_db(tmp_path / "review.db")) as opened:
        yield opened


def test_cards_list_pending_drafts_least_confident_first(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="ana")
    assert [card.item.subtask for card in queue.card_list] == ["e", "a"]
    assert queue.card_list[1].text.value == "draft of Load sales"
    assert "<b>2</b> draft(s)" in queue.summary.value
    queue.mine_only.value = True
    assert [card.item.subtask for card in queue.card_list] == ["a"]


def test_approve_stores_the_decision_and_closes_the_card(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="ana")
    card = queue.card_list[1]
    card.approve_button.click()
    assert "approved by ana" in card.outcome.value
    assert card.decided and card.text.disabled
    assert [item.subtask for item in review_queue(store)] == ["e"]
    assert audit_trail(store, "draft", card.item.draft_id)[-1].action == "draft.approved"
    queue.refresh_button.click()
    assert [c.item.subtask for c in queue.card_list] == ["e"]


def test_edit_sends_the_edited_text(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="bo")
    card = queue.card_list[0]
    card.edit_button.click()
    assert "approve it instead" in card.outcome.value and not card.decided  # unchanged text
    card.text.value = "42 rows"
    card.edit_button.click()
    assert "edited by bo" in card.outcome.value
    with store.engine.connect() as connection:
        final = connection.exec_driver_sql(
            "SELECT final_text FROM drafts WHERE id = ?", (card.item.draft_id,)
        ).scalar()
    assert final == "42 rows"


def test_reject_gives_the_reviewer_the_work(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="ana")
    card = queue.card_list[1]
    card.reject_button.click()
    assert "rejected by ana; work item" in card.outcome.value
    assert any(item.origin == "rejected_draft" for item in work_items(store, worker="ana"))


def test_second_reviewer_sees_the_conflict_not_an_overwrite(store: ReviewStore) -> None:
    ana, bo = ReviewQueueWidget(store, reviewer="ana"), ReviewQueueWidget(store, reviewer="bo")
    ana.card_list[0].approve_button.click()
    late = bo.card_list[0]
    late.reject_button.click()
    assert "Conflict" in late.outcome.value and "already decided (approved) by 'ana'" in late.outcome.value
    assert late.decided
    with store.engine.connect() as connection:
        status = connection.exec_driver_sql(
            "SELECT status, decided_by FROM drafts WHERE id = ?", (late.item.draft_id,)
        ).one()
    assert tuple(status) == ("approved", "ana")


def test_a_decision_needs_a_reviewer_name(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store)
    card = queue.card_list[0]
    card.approve_button.click()
    assert "Enter your name" in card.outcome.value and not card.decided
    assert len(review_queue(store)) == 2


def test_browser_clicks_take_the_same_path(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store)
    queue.reviewer._handle_msg(
        {
            "content": {"data": {"method": "update", "state": {"value": "ana"}, "buffer_paths": []}},
            "buffers": [],
        }
    )
    card = queue.card_list[0]
    card.approve_button._handle_button_msg(None, {"event": "click"}, [])
    assert "approved by ana" in card.outcome.value


def test_the_count_follows_each_decision(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="ana")
    assert "<b>2</b> draft(s) awaiting review" in queue.summary.value
    queue.card_list[1].approve_button.click()
    assert "<b>1</b> draft(s) awaiting review" in queue.summary.value
    queue.card_list[0].reject_button.click()
    assert queue.summary.value == "<i>No drafts awaiting review.</i>"


def test_deciding_someone_elses_draft_is_allowed_said_and_recorded(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="ana")
    card = next(card for card in queue.card_list if card.item.reviewer not in (None, "ana"))
    assignee = card.item.reviewer
    card.approve_button.click()
    assert f"assigned to {assignee}; recorded as approved by ana" in card.outcome.value
    assert audit_trail(store, "draft", card.item.draft_id)[-1].detail["note"] == f"assigned to {assignee}"
    own = next(card for card in queue.card_list if card.item.reviewer == "ana")
    own.approve_button.click()
    assert "assigned to" not in own.outcome.value
    assert audit_trail(store, "draft", own.item.draft_id)[-1].detail["note"] == ""


def test_reject_takes_a_note(store: ReviewStore) -> None:
    queue = ReviewQueueWidget(store, reviewer="ana")
    card = next(card for card in queue.card_list if card.item.reviewer == "ana")
    card.note.value = "  wrong table  "
    card.reject_button.click()
    assert "rejected by ana" in card.outcome.value and card.note.disabled
    assert audit_trail(store, "draft", card.item.draft_id)[-1].detail["note"] == "wrong table"


def test_draft_boxes_are_as_tall_as_their_text_within_a_cap() -> None:
    assert draft_rows("one line") == 3
    assert draft_rows("\n".join(["x"] * 7)) == 7
    assert draft_rows("x" * 95 + "\nshort") == 3
    assert draft_rows("x" * 10_000) == MAX_DRAFT_ROWS
