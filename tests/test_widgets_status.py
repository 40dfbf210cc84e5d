"""The pieces the widgets and the magic share: one coloured status, one streaming throttle.

The chat transcript's use of the throttle is tested in test_widgets_chat.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from coassist.errors import CoassistError
from coassist.notebook.streaming import StreamingDisplay, Throttle
from coassist.notebook.widgets import AllocationBoard, ChatWidget, ReviewQueueWidget
from coassist.notebook.widgets._status import status_html
from coassist.plan import Subtask, Worker
from coassist.review import open_store
from tests.test_server_handlers import seed_review_db
from tests.test_widgets_chat import make_session


@pytest.mark.parametrize(
    "kind,fallback", [("error", "#d32f2f"), ("warn", "#f57c00"), ("success", "#388e3c"), ("info", "#0288d1")]
)
def test_status_html_uses_the_theme_colour_with_a_fallback(kind: str, fallback: str) -> None:
    assert status_html("ok", kind) == f'<span style="color: var(--jp-{kind}-color1, {fallback})">ok</span>'  # type: ignore[arg-type]


def test_status_html_keeps_markup_inert() -> None:
    shown = status_html("<img src=x onerror=alert(1)> & co", "error", bold=True)
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt; &amp; co" in shown
    assert shown.endswith("<b>&lt;img src=x onerror=alert(1)&gt; &amp; co</b></span>")


def test_every_widget_shows_errors_through_the_one_status(tmp_path: Path) -> None:
    """The chat's template error, a review card's refusal and the board's no-plan line."""
    session = make_session()
    chat = ChatWidget(session)
    chat.prompt.value = "describe {missing}"
    chat.send_button.click()
    with pytest.raises(CoassistError) as raised:
        session.fill_template("describe {missing}")
    assert chat.status.value == status_html(str(raised.value), "error")

    with open_store(seed_review_db(tmp_path / "review.db")) as store:
        card = ReviewQueueWidget(store).card_list[0]
        card.approve_button.click()
    assert card.outcome.value == status_html("Enter your name as reviewer first.", "error")

    board = AllocationBoard(
        [Subtask("a", "x", human_hours=5)], [Worker("ann", "human", ("x",), capacity_hours=2)]
    )
    assert board.status.value == status_html("No plan fits the team.", "error", bold=True)


# --- Throttle: the one rate limit behind %%assist's output and the chat transcript -----------------


def clock(*ticks: float) -> Callable[[], float]:
    return iter(ticks).__next__


def test_throttle_lets_the_first_update_through_then_one_per_interval() -> None:
    throttle = Throttle(1.0, clock=clock(5.0, 5.5, 5.999, 6.0, 6.2, 7.5))
    assert [throttle.ready() for _ in range(6)] == [True, False, False, True, False, True]


def test_throttle_measures_from_the_last_update_it_let_through() -> None:
    # 5.9 is 0.9 after the last update sent (5.0), not after the skipped one (5.5).
    throttle = Throttle(1.0, clock=clock(5.0, 5.5, 5.9, 6.1))
    assert [throttle.ready() for _ in range(4)] == [True, False, False, True]


def test_a_zero_interval_throttle_lets_everything_through() -> None:
    throttle = Throttle(0.0, clock=clock(1.0, 1.0, 1.0))
    assert [throttle.ready() for _ in range(3)] == [True, True, True]


def test_streaming_display_throttles_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(
        "coassist.notebook.streaming.display", lambda *a, **k: SimpleNamespace(display_id="d")
    )
    monkeypatch.setattr(
        "coassist.notebook.streaming.update_display", lambda data, **_k: shown.append(data["text/plain"])
    )
    stream = StreamingDisplay(min_interval=3600)
    assert stream.min_interval == 3600
    for piece in ["one", " two", " three"]:
        stream.append(piece)
    stream.finish({"text/plain": "one two three"}, {})
    assert shown == ["one ▌", "one two three"]  # the first piece, then only the final answer
    assert (stream.text, stream.updates) == ("one two three", 2)
