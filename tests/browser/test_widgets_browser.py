"""The ipywidgets in a real JupyterLab + Chromium: the chat renders Markdown and keeps the newest
answer in view, the allocation board fits the page with no broken image, and the review queue's
count follows a click. Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import KERNEL_IDLE, REPO, Lab, open_notebook, run_command, write_notebook

pytestmark = pytest.mark.browser

NEWEST = "The **newest** answer: call `df.describe()`."
OLD_ANSWER = "\n\n".join(f"Paragraph {i} of an older answer." for i in range(6))

# A session with a scripted model and older exchanges enough to overflow the transcript box.
SETUP = """\
import sys
sys.path.insert(0, {repo!r})
%load_ext coassist
from coassist.notebook.session import get_session
from coassist.notebook.widgets import AllocationBoard, ChatWidget, ReviewQueueWidget
from coassist.plan import Subtask, Worker
from tests.scripted_model import ScriptedModel
session = get_session(get_ipython())
session.model = lambda spec=None: ScriptedModel({newest!r})
for i in range(5):
    session.conversation.record(f"older question {{i}}", {old!r}, "scripted")
rows = 42"""

BOARDS = """\
tasks = [Subtask("etl", "sql", human_hours=4, ai_hours=1, review_hours=1, p_pass=0.5),
         Subtask("report", "writing", human_hours=3, depends_on=("etl",))]
AllocationBoard(tasks, [Worker("ann", "human", ("sql", "writing"), capacity_hours=2, cost_per_hour=50)])"""

BIG_BOARD = """\
big = [Subtask(f"task-{i:02d}", ("sql", "writing", "python")[i % 3], human_hours=2 + i % 3, ai_hours=1,
               review_hours=0.5, p_pass=0.8) for i in range(55)]
AllocationBoard(big, [Worker("ann", "human", ("sql", "writing", "python"), 90, 50),
                      Worker("bo", "human", ("sql", "python"), 90, 40),
                      Worker("gpu-a100-long-worker-name", "ai", ("*",), 90, 2)])"""

# Does the newest answer lie inside the transcript's visible box, the box being full?
NEWEST_IN_VIEW = """() => {
  const box = document.querySelector('.coassist-chat .coassist-transcript');
  const answers = box.querySelectorAll('.coassist-answer');
  const last = answers[answers.length - 1].getBoundingClientRect();
  const view = box.getBoundingClientRect();
  return {overflows: box.scrollHeight > box.clientHeight + 10,
          inView: last.top >= view.top - 1 && last.bottom <= view.bottom + 1};
}"""

BROKEN_IMAGES = """(board) => [...board.querySelectorAll('img')]
  .filter((img) => !img.getAttribute('src') || (img.complete && img.naturalWidth === 0)).length"""

CUT_LABELS = """(board) => [...board.querySelectorAll('.widget-label')]
  .filter((label) => label.scrollWidth > label.clientWidth + 1).map((label) => label.textContent)"""

SHORT_TRACKS = """(board) => [...board.querySelectorAll('.widget-hslider .slider-container')]
  .filter((track) => track.getBoundingClientRect().width < 150).length"""


@pytest.fixture(scope="module")
def page(lab: Lab, browser_context: Any) -> Iterator[Any]:
    cells = [
        SETUP.format(repo=str(REPO), newest=NEWEST, old=OLD_ANSWER),
        "ChatWidget(min_interval=0)",
        BOARDS,
        BIG_BOARD,
        'ReviewQueueWidget(reviewer="ana")',
    ]
    page = open_notebook(browser_context, lab, write_notebook(lab, "widgets.ipynb", cells))
    run_command(page, "notebook:run-all-cells")
    page.locator(".coassist-review-queue").wait_for(timeout=90_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    yield page
    page.close()


def test_chat_renders_markdown_and_keeps_the_newest_answer_in_view(page: Any, shots_dir: Path) -> None:
    chat = page.locator(".coassist-chat")
    chat.locator("textarea").fill("Summarise my {rows} rows")
    chat.get_by_role("button", name="Send").click()
    newest = chat.locator(".coassist-answer").filter(has_text="newest answer")
    newest.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('.coassist-chat').innerText.includes('▌')", timeout=30_000
    )
    assert newest.locator("strong").inner_text() == "newest"
    assert newest.locator("code").inner_text() == "df.describe()"
    # "You:" is what was typed; the expanded prompt waits behind a summary.
    question = chat.locator(".coassist-question").last
    assert question.inner_text() == "You: Summarise my {rows} rows"
    assert chat.locator("details").last.locator("summary").inner_text() == "expanded prompt"
    chat.scroll_into_view_if_needed()
    assert page.evaluate(NEWEST_IN_VIEW) == {"overflows": True, "inView": True}
    chat.screenshot(path=shots_dir / "widgets-01-chat-newest-answer.png")


def test_infeasible_board_fits_and_shows_no_broken_image(page: Any, shots_dir: Path) -> None:
    board = page.locator(".coassist-allocation-board").first
    board.scroll_into_view_if_needed()
    assert "No plan fits the team" in board.inner_text()
    assert board.locator(".lm-TabBar-tab.lm-mod-current").inner_text() == "Why not"
    assert board.evaluate(BROKEN_IMAGES) == 0
    box, viewport = board.bounding_box(), page.viewport_size
    assert box["x"] + box["width"] <= viewport["width"]
    board.screenshot(path=shots_dir / "widgets-02-board-infeasible.png")


def test_big_board_is_compact_with_whole_labels(page: Any, shots_dir: Path) -> None:
    board = page.locator(".coassist-allocation-board").nth(1)
    board.scroll_into_view_if_needed()
    box, viewport = board.bounding_box(), page.viewport_size
    assert box["x"] + box["width"] <= viewport["width"]
    assert box["height"] < 900, box  # a 110-row table scrolls inside the board
    table = board.locator("table").first
    assert table.locator("tr").count() > 100
    assert board.evaluate(CUT_LABELS) == [] and board.evaluate(SHORT_TRACKS) == 0
    assert board.locator(".widget-label", has_text="gpu-a100-long-worker-name GPU-h").count() == 1
    board.screenshot(path=shots_dir / "widgets-03-board-plan.png")
    board.locator(".lm-TabBar-tab", has_text="Gantt").click()
    gantt = board.locator("img")
    gantt.wait_for()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=gantt.element_handle())
    assert board.evaluate(BROKEN_IMAGES) == 0
    box = board.bounding_box()
    assert box["x"] + box["width"] <= viewport["width"]
    board.screenshot(path=shots_dir / "widgets-04-board-gantt.png")


def test_review_queue_count_follows_a_click(page: Any, shots_dir: Path) -> None:
    queue = page.locator(".coassist-review-queue")
    queue.scroll_into_view_if_needed()
    assert "2 draft(s) awaiting review" in queue.inner_text()
    queue.get_by_role("button", name="Approve").first.click()
    queue.get_by_text("1 draft(s) awaiting review").wait_for(timeout=15_000)
    assert "approved by ana" in queue.inner_text()
    queue.screenshot(path=shots_dir / "widgets-05-review-queue-count.png")
