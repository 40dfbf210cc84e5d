"""The ipywidgets and a %%assist answer in a real JupyterLab + Chromium: the answer renders as
Markdown while it streams, with its code highlighted and unwrapped; the chat shows what was typed
in a %%assist cell as the person's words, renders Markdown and keeps the newest answer in view;
the allocation board fits the page with no broken image; the review queue's count follows a
click, and a queue whose store was closed says so and takes no decisions. Screenshots go to
$SHOTS_DIR."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import (
    KERNEL_IDLE,
    REPO,
    Lab,
    open_notebook,
    run_command,
    shown_text,
    write_notebook,
)

pytestmark = pytest.mark.browser

LONG_LINE = (
    '    return frame.describe(include="all") if columns is None else frame[columns].describe()'
    "  # a comment long enough that a notebook output would wrap it inside its identifiers"
)
NEWEST = f"The **newest** answer: call `df.describe()`.\n\n```python\ndef summarise(frame, columns=None):\n{LONG_LINE}\n```"
TYPED = "Which columns does {df} have?"
OLD_ANSWER = "\n\n".join(f"Paragraph {i} of an older answer." for i in range(6))

# A session with a scripted model (at a typing pace, so answers are seen while they stream) and
# older exchanges enough to overflow the transcript box.
SETUP = """\
import sys
import time
sys.path.insert(0, {repo!r})
%load_ext coassist
import pandas as pd
from coassist.notebook.session import get_session
from coassist.notebook.widgets import AllocationBoard, ChatWidget, ReviewQueueWidget
from coassist.plan import Subtask, Worker
from tests.scripted_model import ScriptedModel

class Typing(ScriptedModel):
    def generate(self, messages, settings, on_text=None, stop=None):
        def paced(piece):
            time.sleep(0.03)
            on_text(piece)
        return super().generate(messages, settings, paced if on_text else None, stop)

session = get_session(get_ipython())
session.model = lambda spec=None: Typing({newest!r})
for i in range(5):
    session.conversation.record(f"older question {{i}}", {old!r}, "scripted")
rows = 42
df = pd.DataFrame({{"city": ["Oslo", "Rome"], "temp_c": [3.5, 18.0]}})"""

# A review queue whose store the notebook then closes.
CLOSED_QUEUE = """\
import tempfile
from pathlib import Path
from coassist.review import open_store
from tests.test_server_handlers import seed_review_db
scratch = open_store(seed_review_db(Path(tempfile.mkdtemp()) / "review.db"))
ReviewQueueWidget(scratch, reviewer="ana")"""

# Every state the %%assist answer's output shows: its text, whether it is rendered HTML, whether
# it holds a code block.
RECORD_ANSWER = """() => {
  window.__answer = [];
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  new MutationObserver(() => {
    const output = notebook.querySelectorAll('.jp-Cell')[1]?.querySelector('.jp-OutputArea');
    const text = output ? output.innerText : '';
    const last = window.__answer[window.__answer.length - 1];
    if (text && (!last || last.text !== text))
      window.__answer.push({text, html: !!output.querySelector('.jp-RenderedHTML'),
                            code: !!output.querySelector('pre code')});
  }).observe(notebook, {subtree: true, childList: true, characterData: true});
}"""

# The code block as shown: its lines on screen (its height over its line height), and whether a
# keyword is drawn in another colour than the plain text beside it.
CODE_AS_SHOWN = """(code) => {
  const style = getComputedStyle(code);
  const inner = code.getBoundingClientRect().height - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  const keyword = [...code.querySelectorAll('span')].find((span) => span.textContent === 'def');
  return {lines: Math.round(inner / parseFloat(style.lineHeight)),
          highlighted: !!keyword && getComputedStyle(keyword).color !== style.color};
}"""

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
        f"%%assist\n{TYPED}",
        "ChatWidget(min_interval=0)",
        BOARDS,
        BIG_BOARD,
        'ReviewQueueWidget(reviewer="ana")',
        CLOSED_QUEUE,
        "scratch.close()",
    ]
    page = open_notebook(browser_context, lab, write_notebook(lab, "widgets.ipynb", cells))
    page.evaluate(RECORD_ANSWER)
    run_command(page, "notebook:run-all-cells")
    page.locator(".coassist-review-queue").nth(1).wait_for(timeout=90_000)
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    yield page
    page.close()


def test_assist_answer_is_markdown_while_it_streams_and_its_code_is_highlighted_unwrapped(
    page: Any, shots_dir: Path
) -> None:
    states = page.evaluate("() => window.__answer")
    streaming = [state for state in states if "▌" in state["text"]]
    assert len(streaming) >= 3, states  # seen several times while it streamed
    # Rendered all along, the code as code while it is written: never a raw ``` fence that then
    # flips into a code block when the answer ends.
    assert all(state["html"] and "```" not in state["text"] for state in streaming), streaming
    assert any(state["code"] and "def summarise" in state["text"] for state in streaming), streaming
    answer = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea .jp-RenderedHTML")
    code = answer.locator("pre code")
    assert shown_text(page, code).splitlines() == ["def summarise(frame, columns=None):", LONG_LINE]
    assert code.evaluate(CODE_AS_SHOWN) == {"lines": 2, "highlighted": True}
    answer.screenshot(path=shots_dir / "widgets-00-assist-code-highlighted.png")


def test_chat_renders_markdown_and_keeps_the_newest_answer_in_view(page: Any, shots_dir: Path) -> None:
    chat = page.locator(".coassist-chat")
    # The %%assist cell's exchange, in the shared conversation, shows what was typed there.
    questions = chat.locator(".coassist-question")
    assert shown_text(page, questions.nth(5)) == f"You: {TYPED}"
    assert questions.count() == 6
    chat.locator("textarea").fill("Summarise my {rows} rows")
    chat.get_by_role("button", name="Send").click()
    page.wait_for_function(
        """() => { const chat = document.querySelector('.coassist-chat');
                   return chat.querySelectorAll('.coassist-answer').length === 7 && !chat.innerText.includes('▌'); }""",
        timeout=30_000,
    )
    newest = chat.locator(".coassist-answer").last
    assert newest.locator("strong").inner_text() == "newest"
    assert newest.locator("p code").inner_text() == "df.describe()"
    # "You:" is what was typed; the expanded prompt waits behind a summary.
    assert questions.last.inner_text() == "You: Summarise my {rows} rows"
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
    queue = page.locator(".coassist-review-queue").first
    queue.scroll_into_view_if_needed()
    assert "2 draft(s) awaiting review" in queue.inner_text()
    queue.get_by_role("button", name="Approve").first.click()
    queue.get_by_text("1 draft(s) awaiting review").wait_for(timeout=15_000)
    assert "approved by ana" in queue.inner_text()
    queue.screenshot(path=shots_dir / "widgets-05-review-queue-count.png")


def test_a_queue_whose_store_was_closed_says_so_and_takes_no_decisions(page: Any, shots_dir: Path) -> None:
    queue = page.locator(".coassist-review-queue").nth(1)
    text = shown_text(page, queue)
    assert re.search(r"The review database was closed at [\d:]{8} \(store.close\(\)\): this queue takes no more decisions\.", text), text
    buttons = queue.get_by_role("button")
    assert buttons.count() == 7  # Refresh, and three on each of the two cards
    assert all(buttons.nth(i).is_disabled() for i in range(buttons.count()))
    queue.screenshot(path=shots_dir / "widgets-06-review-queue-store-closed.png")
