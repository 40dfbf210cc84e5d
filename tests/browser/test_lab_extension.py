"""What a user sees of the labextension in a real JupyterLab + Chromium: ghost text after Enter,
the Assist palette commands in a kernel that never ran ``%load_ext coassist``, the sidebar's
plurals, Reject note, "assigned to" status and polling, and a Run All whose running cell shows
[*] and a "Busy" status bar while a progress bar is up, after a ``-f code`` cell and a cell
tagged ``raises-exception``. Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from coassist.review import DraftingConfig, audit_trail, draft_ai_subtasks, open_store, review_queue
from tests.browser.conftest import (
    KERNEL_IDLE,
    Lab,
    open_notebook,
    run_command,
    scripted_session_source,
    write_notebook,
)
from tests.test_review_support import ScriptedModel

pytestmark = pytest.mark.browser

ANSWER = "It divides by zero."
CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"


@pytest.fixture(scope="module")
def page(lab: Lab, browser_context: Any) -> Iterator[Any]:
    """A kernel whose assistant answers ANSWER (a scripted model set on its session in plain
    Python; the tiny model's 256 tokens hold no traceback). It never runs ``%load_ext coassist``,
    so the ``%assist`` magics exist only if the commands load them."""
    cells = [scripted_session_source(ANSWER, load_ext=False), "1 / 0"]
    page = open_notebook(browser_context, lab, write_notebook(lab, "extension.ipynb", cells))
    yield page
    page.close()


def activate_cell(page: Any, index: int) -> None:
    page.evaluate(f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {index}; }}")


def cell_sources(page: Any) -> list[str]:
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.sharedModel.getSource())"
    )


def wait_for_answer(page: Any, index: int) -> str:
    """The text of cell `index`'s output once its %assist answer is rendered and the kernel idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    output = page.locator(CELLS).nth(index).locator(".jp-OutputArea")
    try:
        output.locator(".jp-RenderedHTML").first.wait_for(timeout=60_000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"no answer in cell {index} {cell_sources(page)}: {output.inner_text()!r}"
        ) from None
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    return output.inner_text()


def test_palette_commands_work_without_load_ext(page: Any, shots_dir: Path) -> None:
    run_command(page, "notebook:run-all-cells")
    error = page.locator(CELLS).nth(1).locator(".jp-OutputArea", has_text="ZeroDivisionError")
    error.wait_for(timeout=60_000)
    page.wait_for_function(KERNEL_IDLE)

    # First command in a kernel that never loaded coassist: the command must load the magics.
    activate_cell(page, 1)
    run_command(page, "coassist:ask-about-cell")
    page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length === 3")
    assert cell_sources(page)[2].startswith("%%assist\nExplain this code:\n{In[")
    shown = wait_for_answer(page, 2)
    assert "not found" not in shown and "UsageError" not in shown, shown
    page.screenshot(path=shots_dir / "ext-01-ask-about-cell-without-load-ext.png")

    # The error raised again, after another command ran in between: the newest error is explained.
    activate_cell(page, 1)
    run_command(page, "notebook:run-cell")
    page.wait_for_function(KERNEL_IDLE)
    activate_cell(page, 1)
    run_command(page, "coassist:explain-error")
    page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length === 4")
    assert cell_sources(page)[2] == "%assist error"
    shown = wait_for_answer(page, 2)
    assert "not found" not in shown and "UsageError" not in shown, shown
    assert ANSWER in shown
    page.screenshot(path=shots_dir / "ext-02-explain-error-without-load-ext.png")
    # The magics were loaded quietly: no cell the user did not ask for, no load message shown.
    assert len(cell_sources(page)) == 4
    assert not any("load_ext" in source for source in cell_sources(page))


def test_ghost_text_after_enter(page: Any, shots_dir: Path) -> None:
    prefixes: list[str] = []

    def record(request: Any) -> None:
        if request.url.split("?")[0].endswith("/coassist/complete"):
            prefixes.append(json.loads(request.post_data)["prefix"])

    page.on("request", record)
    last = page.locator(CELLS).count() - 1
    activate_cell(page, last)
    run_command(page, "notebook:insert-cell-below")
    page.wait_for_function(f"() => document.querySelectorAll('{CELLS}').length === {last + 2}")
    cell = page.locator(CELLS).nth(last + 1)
    cell.locator(".cm-content").click()
    page.keyboard.type("def add(a, b):", delay=30)
    page.wait_for_timeout(800)  # the debounced request for the first line goes out
    before_enter = len(prefixes)
    with page.expect_response(
        lambda r: (
            r.url.split("?")[0].endswith("/coassist/complete")
            and json.loads(r.request.post_data)["prefix"].endswith("def add(a, b):\n    ")
        ),
        timeout=30_000,
    ):
        page.keyboard.press("Enter")
    # The ghost text sits on the new line, after the indentation Enter inserted.
    ghost = cell.locator(".cm-line").nth(1).locator(".jp-GhostText")
    ghost.first.wait_for(timeout=30_000)
    assert ghost.first.inner_text().strip()
    page.screenshot(path=shots_dir / "ext-03-ghost-text-after-enter.png")
    after_enter = prefixes[before_enter:]
    assert after_enter and all(p.endswith("\n    ") for p in after_enter), after_enter
    page.remove_listener("request", record)
    page.keyboard.press("Escape")


def test_sidebar_reject_with_a_note_on_someone_elses_draft(page: Any, lab: Lab, shots_dir: Path) -> None:
    run_command(page, "coassist:open-review-queue")
    sidebar = page.locator("#coassist-sidebar")
    sidebar.locator(".jp-coassist-card").first.wait_for()
    assert sidebar.locator("h3", has_text="Review queue").inner_text() == "Review queue (2 drafts)"
    assert "2 drafts awaiting review" in sidebar.locator(".jp-coassist-plan-summary").inner_text()
    card = sidebar.locator(".jp-coassist-card").filter(has_text="e: Count rows")
    assert "for bo" in card.locator(".jp-coassist-meta").inner_text()
    card.locator(".jp-coassist-note").fill("counts the wrong table")
    card.locator(".jp-coassist-reject").click()
    status = sidebar.locator(".jp-coassist-status")
    status.filter(has_text="rejected by ana (assigned to bo)").wait_for()
    sidebar.locator("h3", has_text="Review queue (1 draft)").wait_for()
    assert "1 draft awaiting review" in sidebar.locator(".jp-coassist-plan-summary").inner_text()
    page.screenshot(path=shots_dir / "ext-04-sidebar-rejected-with-note.png")
    with open_store(lab.db_url) as store:
        trail = audit_trail(store, entity="draft")
    assert [(e.actor, e.detail["note"]) for e in trail if e.action == "draft.rejected"] == [
        ("ana", "counts the wrong table")
    ]
    assert [e.detail.get("assigned_to") for e in trail if e.action == "draft.rejected"] == ["bo"]


def test_sidebar_shows_new_drafts_by_itself(page: Any, lab: Lab, shots_dir: Path) -> None:
    """Approving a unblocks b; a kernel drafts it; the shown sidebar lists it within a poll."""
    sidebar = page.locator("#coassist-sidebar")
    card = sidebar.locator(".jp-coassist-card").filter(has_text="a: Load sales")
    card.locator(".jp-coassist-approve").click()
    sidebar.locator("h3", has_text="Review queue (0 drafts)").wait_for()
    with open_store(lab.db_url) as store:
        draft_ai_subtasks(store, store_plan_id(store), ScriptedModel(), DraftingConfig(progress=False))
        drafted = [item.subtask for item in review_queue(store)]
    assert drafted, "nothing was ready to draft"
    # No click on Refresh: the sidebar polls every 10 s while shown.
    sidebar.locator("h3", has_text=f"Review queue ({len(drafted)} draft").wait_for(timeout=25_000)
    page.screenshot(path=shots_dir / "ext-05-sidebar-polled-new-draft.png")


def store_plan_id(store: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT max(id) FROM plans").scalar_one())


# Run All of a quickstart-like notebook: code from the answer goes into a new cell, a deliberate
# KeyError (tagged raises-exception, so Run All goes on), then a cell showing a tqdm bar (as
# drafting does) while it works.
RUN_ALL_CELLS = [
    ("%%assist -f code\nWrite mean.", []),
    ('sales = {"revenue": 1}\nsales["unit"]', ["raises-exception"]),
    ("from tqdm.auto import tqdm\nimport time\nfor _ in tqdm(range(50), desc='drafting'):\n    time.sleep(0.1)", []),
    ("done = True", []),
]
KERNEL_STATUS = "#jp-main-statusbar .jp-StatusBar-TextItem[title^='Change kernel']"


def test_run_all_shows_the_running_cell_and_a_busy_kernel(lab: Lab, browser_context: Any, shots_dir: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    code = "```python\ndef mean(values):\n    return sum(values) / len(values)\n```"
    notebook.cells = [nbformat.v4.new_code_cell(scripted_session_source(code))] + [
        nbformat.v4.new_code_cell(source, metadata={"tags": tags}) for source, tags in RUN_ALL_CELLS
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "run-all.ipynb")
    page = open_notebook(browser_context, lab, "run-all.ipynb")
    try:
        run_command(page, "notebook:run-all-cells")
        cells = page.locator(CELLS)
        # The -f code answer went into a new cell below its own (index 2), so the bar is in cell 4.
        cells.nth(4).locator(".widget-hprogress").wait_for(timeout=60_000)
        prompts = [cells.nth(i).locator(".jp-InputPrompt").inner_text().strip() for i in range(6)]
        status = page.locator(KERNEL_STATUS).inner_text()
        page.screenshot(path=shots_dir / "ext-06-run-all-busy.png")
        assert cell_sources(page)[2] == "def mean(values):\n    return sum(values) / len(values)"
        assert prompts[2:5] == ["[ ]:", "[3]:", "[*]:"], prompts  # inserted, never run; raised; running
        assert status == "Python 3 (ipykernel) | Busy", status
        cells.nth(5).locator(".jp-InputPrompt", has_text="[5]:").wait_for(timeout=60_000)
    finally:
        page.close()
