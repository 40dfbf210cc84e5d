"""The examples as a person runs them in a real JupyterLab + Chromium on a token-only server (no
reviewer name configured): team_agent.ipynb, run top to bottom, fills the sidebar (which follows
the current notebook's store) and leaves its TeamStatusWidget showing where the plan ended, with
no library noise in its outputs; team_allocation.ipynb's board lines its sliders and cost boxes
up row by row, and makes the sidebar return to the server's database; the first decision asks
for the reviewer's name. Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from coassist.review import audit_trail, open_store
from tests.browser.conftest import KERNEL_IDLE, REPO, Lab, open_notebook, run_command, shown_text

pytestmark = pytest.mark.browser

REVIEWER_NAME = ""
"""A token-only JupyterLab whose owner never set CoassistServer.reviewer_name (see conftest)."""

CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"

# The agent drafts with a scripted model: the model is not what this test is about, and SmolLM2
# would add its load and its drafting time. Run before the example's own first cell, which imports
# load_chat_model from coassist.llm.
SCRIPTED_MODEL = """\
import sys
sys.path.insert(0, {repo!r})
import coassist.llm
from tests.test_review_support import ScriptedModel
coassist.llm.load_chat_model = lambda spec, **options: ScriptedModel()"""

# Each row of the board's controls: the name's, the slider track's and the cost box's boxes.
BOARD_ROWS = """(board) => {
  const grid = board.querySelector('.widget-gridbox');
  const cells = [...grid.children].slice(3);  // after the three headings
  const box = (node) => { const r = node.getBoundingClientRect(); return {x: r.x, top: r.top, bottom: r.bottom}; };
  const rows = [];
  for (let i = 0; i < cells.length; i += 3) {
    rows.push({
      name: cells[i].textContent.trim(),
      label: box(cells[i]),
      track: box(cells[i + 1].querySelector('.slider-container')),
      cost: box(cells[i + 2].querySelector('input')),
    });
  }
  return rows;
}"""


def copy_example(lab: Lab, name: str, first_cell: str | None = None) -> str:
    """An example notebook in the lab's root as a person opens it (with its data folder), with
    `first_cell` run before its own cells when given."""
    notebook = nbformat.read(REPO / "examples" / name, as_version=4)
    if first_cell is not None:
        notebook.cells.insert(0, nbformat.v4.new_code_cell(first_cell))
    nbformat.write(notebook, lab.root / name)
    if not (lab.root / "data").exists():
        shutil.copytree(REPO / "examples" / "data", lab.root / "data")
    return name


def run_all(page: Any, timeout_ms: int) -> None:
    """Run every cell and wait until the last has its execution count and the kernel is idle."""
    run_command(page, "notebook:run-all-cells")
    page.wait_for_function(
        """() => {
          const cells = window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code');
          return cells.length > 0 && cells[cells.length - 1].model.executionCount !== null;
        }""",
        timeout=timeout_ms,
    )
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_ms)


@pytest.fixture(scope="module")
def replies() -> list[tuple[int, str]]:
    """Every /coassist/ reply the team_agent page got: (status, URL)."""
    return []


@pytest.fixture(scope="module")
def page(lab: Lab, browser_context: Any, replies: list[tuple[int, str]]) -> Iterator[Any]:
    notebook = copy_example(lab, "team_agent.ipynb", SCRIPTED_MODEL.format(repo=str(REPO)))
    page = open_notebook(browser_context, lab, notebook)
    page.on("response", lambda r: replies.append((r.status, r.url)) if "/coassist/" in r.url else None)
    run_command(page, "coassist:open-review-queue")
    yield page
    page.close()


def test_team_agent_fills_the_sidebar_and_its_widget_stays(
    page: Any, replies: list[tuple[int, str]], shots_dir: Path
) -> None:
    run_all(page, timeout_ms=240_000)
    sidebar = page.locator("#coassist-sidebar")
    database = sidebar.locator(".jp-coassist-database")
    database.filter(has_text="team.db, shown by team_agent.ipynb").wait_for(timeout=15_000)
    assert database.inner_text().startswith("Database: sqlite:////tmp/coassist-team-agent-")
    team = sidebar.locator(".jp-coassist-team")
    team.locator(".jp-coassist-team-plan", has_text="churn / churn report · version 3").wait_for(timeout=15_000)
    assert "churn / churn report: " in sidebar.locator(".jp-coassist-plan-summary").inner_text()
    assert "Re-plan to version 3" in team.locator(".jp-coassist-team-change-head").inner_text()
    page.screenshot(path=shots_dir / "follow-01-team-agent-sidebar.png")

    # The last cell closed the store: the widget keeps the status it last read, and says so.
    widget = page.locator(".coassist-team-status")
    shown = shown_text(page, widget)
    assert "churn / churn report" in shown and "version 3" in shown and "gpu: stopped" in shown
    assert re.search(r"The review database was closed at [\d:]{8} \(store.close\(\)\): this status, read at [\d:]{8}, is the last\.", shown), shown
    widget.screenshot(path=shots_dir / "follow-02-team-status-after-run-all.png")

    # Nothing a reader cannot act on: no stderr output, no solver banner.
    assert page.locator(f"{CELLS} [data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert not [text for text in page.locator(f"{CELLS} .jp-OutputArea").all_inner_texts() if "HiGHS" in text]
    # Every reply the sidebar got was a 200: empty states are not errors.
    assert replies and {status for status, _url in replies} == {200}, replies


def test_the_board_lines_up_and_the_sidebar_follows_to_the_servers_database(
    page: Any, lab: Lab, browser_context: Any, shots_dir: Path
) -> None:
    board_page = open_notebook(browser_context, lab, copy_example(lab, "team_allocation.ipynb"))
    try:
        run_command(board_page, "coassist:open-review-queue")
        run_all(board_page, timeout_ms=120_000)
        # Another notebook, which showed no store: the sidebar reads the server's database again.
        server = f"Database: {lab.db_url}, the server's (CoassistServer.db_url)"
        board_page.locator("#coassist-sidebar .jp-coassist-database", has_text=server).wait_for(timeout=15_000)

        board = board_page.locator(".coassist-allocation-board")
        board.scroll_into_view_if_needed()
        rows = board.evaluate(BOARD_ROWS)
        names = [row["name"] for row in rows]
        assert names[:8] == ["amara h", "ben h", "chen h", "dara h", "eli h", "fatima h", "gus h", "hana h"]
        assert len({round(row["track"]["x"]) for row in rows}) == 1, rows  # every slider starts at one x
        assert len({round(row["cost"]["x"]) for row in rows}) == 1, rows  # every cost box too
        for above, below in zip(rows, rows[1:], strict=False):
            # Rows do not overlap: neither the names ("fatima h" on "gus h") nor the cost boxes.
            assert above["label"]["bottom"] <= below["label"]["top"] + 0.5, (above, below)
            assert above["cost"]["bottom"] <= below["cost"]["top"] + 0.5, (above, below)
        board.screenshot(path=shots_dir / "follow-03-board-aligned.png")
    finally:
        board_page.close()


def test_the_first_decision_asks_for_the_reviewers_name(browser_context: Any, lab: Lab, shots_dir: Path) -> None:
    # A page with no notebook open: the sidebar reads the server's database, which holds drafts.
    blank = browser_context.new_page()
    try:
        blank.goto(lab.page_url("lab"))
        blank.wait_for_function(
            "() => !!(window.jupyterapp && window.jupyterapp.commands.hasCommand('coassist:open-review-queue'))",
            timeout=60_000,
        )
        run_command(blank, "coassist:open-review-queue")
        sidebar = blank.locator("#coassist-sidebar")
        identity = sidebar.locator(".jp-coassist-identity")
        identity.filter(has_text="You will be asked for your name before your first decision.").wait_for()
        card = sidebar.locator(".jp-coassist-card").filter(has_text="a: Load sales")
        card.locator(".jp-coassist-approve").click()
        dialog = blank.locator(".jp-Dialog")
        dialog.get_by_text("Your name as a reviewer").wait_for()
        blank.screenshot(path=shots_dir / "follow-04-reviewer-name-asked.png")
        dialog.locator("input").fill("ana")
        dialog.get_by_role("button", name="Save").click()
        status = sidebar.locator(".jp-coassist-status")
        status.filter(has_text="approved by ana").wait_for()
        identity.filter(has_text="Deciding as ana").wait_for()
        assert status.is_visible()
    finally:
        blank.close()
    with open_store(lab.db_url) as store:
        decided = [(e.actor, e.action) for e in audit_trail(store, entity="draft") if e.action == "draft.approved"]
    assert decided == [("ana", "draft.approved")]
