"""The main paths in a real JupyterLab + Chromium: a streamed %%assist answer, approving a draft
from the sidebar, and ghost text from the inline completer. Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from coassist.review import open_store, review_queue
from tests.browser.conftest import Lab

pytestmark = pytest.mark.browser

# Guard every step: a predicate that throws (the app not exposed yet on a slow start) fails
# wait_for_function at once instead of being retried.
KERNEL_IDLE = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell && app.shell.currentWidget;
  const context = panel && panel.sessionContext;
  return !!(context && context.isReady && context.session && context.session.kernel
            && context.kernelDisplayStatus === 'idle');
}"""

# Record every text the %%assist cell's output shows, to see it change while the answer streams.
RECORD_OUTPUTS = """() => {
  window.__outputs = [];
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  new MutationObserver(() => {
    const cell = notebook.querySelectorAll('.jp-Cell')[1];
    const text = cell ? cell.querySelector('.jp-OutputArea')?.innerText ?? '' : '';
    if (text && window.__outputs[window.__outputs.length - 1] !== text) window.__outputs.push(text);
  }).observe(notebook, {subtree: true, childList: true, characterData: true});
}"""


def write_notebook(lab: Lab) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            f'%load_ext coassist\n%config Assist.model = "{lab.model_dir}"\n%config Assist.max_new_tokens = 64'
        ),
        nbformat.v4.new_code_cell("%%assist\nWrite a function that adds two numbers."),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / "assist.ipynb")
    return "assist.ipynb"


@pytest.fixture(scope="module")
def page(lab: Lab, browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    page.goto(lab.page_url(f"lab/tree/{write_notebook(lab)}"))
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    yield page
    page.close()


def run_command(page: Any, command: str) -> None:
    # Fire and forget: awaiting commands.execute in evaluate can hang (no timeout there).
    page.evaluate(f"() => {{ window.jupyterapp.commands.execute('{command}'); }}")


def test_assist_cell_streams_its_answer(page: Any, shots_dir: Path) -> None:
    page.evaluate(RECORD_OUTPUTS)
    run_command(page, "notebook:run-all-cells")
    answer = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea .jp-RenderedMarkdown")
    answer.wait_for(timeout=60_000)
    page.wait_for_function(KERNEL_IDLE)
    outputs: list[str] = page.evaluate("() => window.__outputs")
    final = answer.inner_text().strip()
    assert final, "the %%assist cell showed an empty answer"
    # The output started as a placeholder or a partial answer with a cursor, then was replaced
    # in place by the final Markdown: one display, updated while streaming.
    assert any(text.strip() == "…" or "▌" in text for text in outputs[:-1]), outputs
    page.screenshot(path=shots_dir / "01-assist-streamed.png")
    # One answer display (transformers' first-load progress bar may sit beside it on stderr).
    assert page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-RenderedMarkdown").count() == 1


def test_sidebar_approves_a_draft(page: Any, lab: Lab, shots_dir: Path) -> None:
    run_command(page, "coassist:open-review-queue")
    sidebar = page.locator("#coassist-sidebar")
    cards = sidebar.locator(".jp-coassist-card")
    cards.first.wait_for()
    assert cards.count() == 2
    assert "sales / week 1" in sidebar.locator(".jp-coassist-plan-summary").inner_text()
    sidebar.locator(".jp-coassist-reviewer-input").fill("ana")
    card = cards.filter(has_text="a: Load sales")
    assert card.locator(".jp-coassist-draft").input_value() == "draft of Load sales"
    card.locator(".jp-coassist-approve").click()
    status = sidebar.locator(".jp-coassist-status")
    status.filter(has_text="approved by ana").wait_for()
    page.wait_for_function(
        "() => document.querySelectorAll('#coassist-sidebar .jp-coassist-card').length === 1"
    )
    page.screenshot(path=shots_dir / "02-sidebar-approved.png")
    with open_store(lab.db_url) as store:
        assert [item.subtask for item in review_queue(store)] == ["e"]
        with store.engine.connect() as connection:
            decided = connection.exec_driver_sql(
                "SELECT d.status, d.decided_by FROM drafts d JOIN subtasks s ON s.id = d.subtask_id WHERE s.key = 'a'"
            ).one()
    assert tuple(decided) == ("approved", "ana")


def test_palette_lists_the_assist_commands(page: Any, shots_dir: Path) -> None:
    run_command(page, "apputils:activate-command-palette")
    search = page.locator(".jp-ModalCommandPalette input")
    search.fill("Assist:")
    items = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-itemLabel")
    items.first.wait_for()
    labels = sorted(items.all_inner_texts())
    assert labels == ["Assist: ask about this cell", "Assist: explain the error", "Assist: open review queue"]
    page.screenshot(path=shots_dir / "03-palette.png")
    page.keyboard.press("Escape")


def test_inline_completion_shows_ghost_text(page: Any, shots_dir: Path) -> None:
    requests: list[str] = []
    page.on(
        "request",
        lambda r: requests.append(r.url) if r.url.split("?")[0].endswith("/coassist/complete") else None,
    )
    page.locator(".jp-Notebook .jp-Cell").last.click()
    run_command(page, "notebook:insert-cell-below")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex === 2"
        " && window.jupyterapp.shell.currentWidget.content.widgets.length === 3"
    )
    run_command(page, "notebook:enter-edit-mode")
    page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".cm-content").click()
    page.keyboard.type("def add(a, b", delay=50)  # 12 keystrokes
    ghost = page.locator(".jp-GhostText")
    ghost.first.wait_for(timeout=30_000)
    assert ghost.first.inner_text().strip()
    page.screenshot(path=shots_dir / "04-inline-ghost-text.png")
    # Debounced and cancelled: one request per pause in typing, not one per keystroke.
    assert 1 <= len(requests) <= 3, requests
