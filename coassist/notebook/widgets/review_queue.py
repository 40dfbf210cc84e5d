"""The review queue as cards: read an AI draft, then approve, edit or reject it.

    from coassist.notebook.widgets import ReviewQueueWidget
    ReviewQueueWidget(reviewer="ana")

Decisions go through `coassist.review.decide` with the version the card was loaded at, so when
someone else decided first the card says who and when instead of overwriting their decision.
A reviewer may decide a draft the plan assigned to someone else; the card says so and the
decision's note records whose it was. Once its store is closed the queue disables itself and
says so in one line; a database failure on a decision is one line on the card, not a traceback.
"""

from __future__ import annotations

import html
import math
from datetime import datetime

import ipywidgets as widgets
from sqlalchemy.exc import SQLAlchemyError

from coassist.errors import CoassistError, ReviewConflict
from coassist.notebook.widgets._status import status_html
from coassist.notebook.widgets._store_watch import StoreWatch, closed_line, failure_line
from coassist.review import QueueItem, ReviewStore, decide, open_store, review_queue
from coassist.review.schema import DecisionName

MAX_DRAFT_ROWS = 20
"""The tallest a draft box grows before it scrolls."""
CHARS_PER_ROW = 90
"""About how many characters fit on one row of a draft box, to size it from the text."""


class DraftCard(widgets.VBox):
    """One pending draft: its text (editable), and the three decisions."""

    def __init__(self, item: QueueItem, queue: ReviewQueueWidget) -> None:
        self.item = item
        self.queue = queue
        self.decided = False
        heading = widgets.HTML(
            f"<b>{html.escape(item.subtask)}: {html.escape(item.title)}</b> "
            f"<small>p(pass) {item.p_pass:.2f} · {html.escape(item.model_spec)} · plan {item.plan_id}"
            f"{' · for ' + html.escape(item.reviewer) if item.reviewer else ''}</small>"
        )
        self.text = widgets.Textarea(
            value=item.text, rows=draft_rows(item.text), layout=widgets.Layout(width="100%")
        )
        self.note = widgets.Text(
            placeholder="note (optional; say why when you reject)",
            layout=widgets.Layout(width="100%"),
        )
        self.approve_button = widgets.Button(description="Approve", button_style="success")
        self.edit_button = widgets.Button(description="Save edit", button_style="info")
        self.reject_button = widgets.Button(description="Reject", button_style="danger")
        self.outcome = widgets.HTML()
        self.approve_button.on_click(lambda _b: self.decide("approve"))
        self.edit_button.on_click(lambda _b: self.decide("edit"))
        self.reject_button.on_click(lambda _b: self.decide("reject"))
        buttons = widgets.HBox([self.approve_button, self.edit_button, self.reject_button])
        super().__init__(
            [heading, self.text, self.note, buttons, self.outcome],
            layout=widgets.Layout(border="1px solid #ccc"),
        )

    def decide(self, action: DecisionName) -> None:
        """Store `action` as the queue's reviewer; show the outcome (or the conflict) on the card."""
        reviewer = self.queue.reviewer.value.strip()
        if not reviewer:
            self.outcome.value = status_html("Enter your name as reviewer first.", "error")
            return
        edited = self.text.value if action == "edit" else None
        assignee = self.item.reviewer
        for_someone_else = bool(assignee) and assignee != reviewer
        note = "; ".join(
            part
            for part in (f"assigned to {assignee}" if for_someone_else else "", self.note.value.strip())
            if part
        )
        try:
            result = decide(
                self.queue.store,
                self.item.draft_id,
                reviewer,
                action,
                edited_text=edited,
                expected_version=self.item.version,
                note=note,
            )
        except ReviewConflict as error:
            self.outcome.value = status_html(f"Conflict: {error}", "error")
            self._close()
        except (CoassistError, ValueError) as error:
            self.outcome.value = status_html(str(error), "error")
        except SQLAlchemyError as error:  # a locked or unreachable database: nothing stored, say so
            self.outcome.value = status_html(failure_line(error, "nothing was stored; try again"), "error")
        else:
            extra = f"; work item {result.work_item_id} is yours to redo" if result.work_item_id else ""
            whose = f"assigned to {assignee}; recorded as " if for_someone_else else ""
            self.outcome.value = status_html(
                f"{whose}{result.decision.status} by {reviewer}{extra}.", "success"
            )
            self._close()

    def _close(self) -> None:
        self.decided = True
        self.disable()
        self.queue.show_count()

    def disable(self) -> None:
        """Take no more input: the draft is decided, or the queue's store is closed."""
        self.text.disabled = self.note.disabled = True
        for button in (self.approve_button, self.edit_button, self.reject_button):
            button.disabled = True


def draft_rows(text: str) -> int:
    """Rows for a draft box: enough for `text` (long lines wrap), at least 3, at most
    `MAX_DRAFT_ROWS`."""
    needed = sum(max(1, math.ceil(len(line) / CHARS_PER_ROW)) for line in text.splitlines())
    return min(max(needed, 3), MAX_DRAFT_ROWS)


class ReviewQueueWidget(widgets.VBox):
    """Pending drafts of the review store, least confident first; `refresh()` reloads them.

    `mine_only` limits the queue to drafts the plan assigned to the reviewer named above it.
    """

    def __init__(
        self, store: ReviewStore | None = None, reviewer: str = "", plan_id: int | None = None
    ) -> None:
        self.store = store or open_store()
        self.plan_id = plan_id
        self.reviewer = widgets.Text(value=reviewer, description="Reviewer", placeholder="your name")
        self.mine_only = widgets.Checkbox(value=False, description="Only mine", indent=False)
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.summary = widgets.HTML()
        self.cards = widgets.VBox()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.mine_only.observe(lambda _change: self.refresh(), names="value")
        header = widgets.HBox([self.reviewer, self.mine_only, self.refresh_button])
        super().__init__([header, self.summary, self.cards])
        self.add_class("coassist-review-queue")
        self._closed_at: datetime | None = None
        self.refresh()
        self._watch = StoreWatch(self.store, self._store_closed)

    def refresh(self) -> None:
        mine = self.reviewer.value.strip() if self.mine_only.value else None
        try:
            items = review_queue(self.store, plan_id=self.plan_id, reviewer=mine or None)
        except SQLAlchemyError as error:
            self.summary.value = status_html(failure_line(error, "the queue shown is as it was"), "error")
            return
        self.cards.children = [DraftCard(item, self) for item in items]
        self.show_count()

    def show_count(self) -> None:
        """The summary line: drafts still awaiting review here (a decided card no longer counts),
        or, once the store is closed, that nothing more can be decided here."""
        if self._closed_at is not None:
            self.summary.value = status_html(
                closed_line("this queue takes no more decisions", self._closed_at), "warn"
            )
            return
        waiting = sum(not card.decided for card in self.card_list)
        self.summary.value = (
            f"<b>{waiting}</b> draft(s) awaiting review" if waiting else "<i>No drafts awaiting review.</i>"
        )

    def _store_closed(self, at: datetime) -> None:
        self._closed_at = at
        self.reviewer.disabled = self.mine_only.disabled = self.refresh_button.disabled = True
        for card in self.card_list:
            card.disable()
        self.show_count()

    def close(self) -> None:
        self._watch.stop()
        super().close()

    @property
    def card_list(self) -> list[DraftCard]:
        return list(self.cards.children)  # type: ignore[arg-type]
